// Every table the API owns (credentials, sessions, export jobs), for openLedger and the tests.
import type { MigrationSet } from '../eventstore/database.ts';
import { credentialMigrations } from '../projections/credentials.ts';
import { sessionMigrations } from './sessions.ts';
import { exportMigrations } from './exports.ts';

export const apiMigrations: MigrationSet = { ...credentialMigrations, ...sessionMigrations, ...exportMigrations };
