// The projections of the ledger, their migrations, and a runner over them.
import { sql } from 'kysely';
import type { Database, MigrationSet } from '../eventstore/database.ts';
import type { EventStore } from '../eventstore/port.ts';
import { chargesProjection } from './charges.ts';
import { contractsProjection } from './contracts.ts';
import { createCheckpointTable, createStallTable, ProjectionRunner, type Projection, type RunnerOptions } from './framework.ts';
import { telegramsProjection } from './telegrams.ts';

export const projections: readonly Projection[] = [contractsProjection, chargesProjection, telegramsProjection];

/** Migrations: the checkpoint table and each projection's live tables (a version bump rebuilds them). */
export const projectionMigrations: MigrationSet = {
  '0100-projections-checkpoints': {
    async up(db) {
      await createCheckpointTable(db);
    },
  },
  '0101-projections-tables-v1': {
    async up(db) {
      for (const p of projections) await p.createTables(db, '');
    },
  },
  // A set-based rebuild reads the few events that are not calls (contract changes, corrections,
  // telegrams) by type: through this index rather than a scan of a million calls for each
  // projection. Appending a call only tests the condition; no entry is made.
  '0102-projections-events-other-than-calls': {
    async up(db) {
      await sql`create index if not exists events_other_than_calls on events (type, position) where type <> 'CallRecorded'`.execute(db);
    },
  },
  // Where a projection that cannot apply an event stopped (framework.ts), for /health and `ledger status`.
  '0103-projections-stalls': {
    async up(db) {
      await createStallTable(db);
    },
  },
};

export function createProjectionRunner(database: Database, store: EventStore, options: RunnerOptions = {}): ProjectionRunner {
  return new ProjectionRunner(database, store, projections, options);
}

export { ProjectionEventFailed, ProjectionRunner, UnknownProjectionError } from './framework.ts';
export type { Projection, ProjectionStall, RebuildReport, RunnerOptions } from './framework.ts';
