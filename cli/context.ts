// The composition root: one database (PostgreSQL or PGlite), one event store, all migrations.
import { migrate, openDatabase, type Database, type MigrationSet } from '../eventstore/database.ts';
import { createSqlEventStore, eventStoreMigrations } from '../eventstore/sql.ts';
import type { EventStore } from '../eventstore/port.ts';
import type { LedgerConfig } from './config.ts';
import { apiMigrations } from '../api/migrations.ts';
import { projectionMigrations } from '../projections/index.ts';
import { STREAM_PREFIXES } from '../domain/events.ts';

export interface Ledger {
  readonly config: LedgerConfig;
  readonly database: Database;
  readonly store: EventStore;
  close(): Promise<void>;
}

/** Every part's migrations (event store, API tables, projections): every entry point runs all of them. */
const migrations: MigrationSet[] = [eventStoreMigrations, apiMigrations, projectionMigrations];

export async function openLedger(config: LedgerConfig): Promise<Ledger> {
  const database = await openDatabase({ url: config.databaseUrl, dataDir: config.dataDir, schema: config.schema });
  try {
    await migrate(database, ...migrations);
    let store: EventStore;
    if (config.eventStoreConnectionString) {
      const { openEsdbEventStore } = await import('../eventstore/esdb.ts');
      // The store does not know the domain's vocabulary: the composition root names the streams it serves.
      store = await openEsdbEventStore(config.eventStoreConnectionString, { streamPrefixes: STREAM_PREFIXES });
    } else {
      store = createSqlEventStore(database, { pollMs: 250 });
    }
    return {
      config,
      database,
      store,
      async close() {
        await store.close();
        await database.close();
      },
    };
  } catch (e) {
    await database.close();
    throw e;
  }
}
