// The composition root: one database (PostgreSQL or PGlite), one event store, all migrations.
import { migrate, openDatabase, type Database, type MigrationSet } from '../eventstore/database.ts';
import { createSqlEventStore, eventStoreMigrations } from '../eventstore/sql.ts';
import type { EventStore } from '../eventstore/port.ts';
import type { LedgerConfig } from './config.ts';
import { apiMigrations } from '../api/migrations.ts';
import { projectionMigrations } from '../projections/index.ts';

export interface Ledger {
  readonly config: LedgerConfig;
  readonly database: Database;
  readonly store: EventStore;
  close(): Promise<void>;
}

/** Migrations of the other parts register here (projections, API tables), so every entry point runs all of them. */
const extraMigrations: MigrationSet[] = [apiMigrations, projectionMigrations];
export function registerMigrations(set: MigrationSet): void {
  if (!extraMigrations.includes(set)) extraMigrations.push(set);
}

export async function openLedger(config: LedgerConfig, options: { migrations?: MigrationSet[] } = {}): Promise<Ledger> {
  const database = await openDatabase({ url: config.databaseUrl, dataDir: config.dataDir, schema: config.schema });
  try {
    await migrate(database, eventStoreMigrations, ...extraMigrations, ...(options.migrations ?? []));
    let store: EventStore;
    if (config.eventStoreConnectionString) {
      const { openEsdbEventStore } = await import('../eventstore/esdb.ts');
      store = await openEsdbEventStore(config.eventStoreConnectionString);
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
