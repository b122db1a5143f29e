// The stores every contract suite runs against: PGlite always, the real PostgreSQL whenever
// DATABASE_URL is set (CI sets it). Each opening gets its own schema (PostgreSQL) or its own
// in-memory instance (PGlite), so test files can run side by side.
import { randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import { migrate, openDatabase, type Database, type MigrationSet } from '../../eventstore/database.ts';
import { createSqlEventStore, eventStoreMigrations, type SqlEventStore } from '../../eventstore/sql.ts';

export interface TestDatabase {
  readonly database: Database;
  readonly store: SqlEventStore;
  cleanup(): Promise<void>;
}

export interface TestTarget {
  readonly name: 'PGlite' | 'PostgreSQL';
  open(extraMigrations?: MigrationSet[]): Promise<TestDatabase>;
}

export const databaseUrl = process.env.DATABASE_URL;

const pglite: TestTarget = {
  name: 'PGlite',
  async open(extra = []) {
    const database = await openDatabase({ memory: true });
    await migrate(database, eventStoreMigrations, ...extra);
    const store = createSqlEventStore(database, { pollMs: 50 });
    return { database, store, cleanup: () => database.close() };
  },
};

const postgres: TestTarget = {
  name: 'PostgreSQL',
  async open(extra = []) {
    const schema = `t_${randomBytes(6).toString('hex')}`;
    const database = await openDatabase({ url: databaseUrl, schema, poolSize: 12 });
    await migrate(database, eventStoreMigrations, ...extra);
    const store = createSqlEventStore(database, { pollMs: 50 });
    return {
      database,
      store,
      async cleanup() {
        await sql.raw(`drop schema if exists ${schema} cascade`).execute(database.db);
        await database.close();
      },
    };
  },
};

/** PGlite, and PostgreSQL when DATABASE_URL is set. */
export const testTargets: TestTarget[] = databaseUrl ? [pglite, postgres] : [pglite];

export const postgresTarget: TestTarget | undefined = databaseUrl ? postgres : undefined;
