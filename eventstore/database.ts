// One database handle for the event store's tables and the projections' tables: PostgreSQL over
// `pg` when DATABASE_URL is set, else the embedded PGlite under LEDGER_DATA_DIR (./data).
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Kysely, PostgresDialect, PGliteDialect, sql } from 'kysely';
import type { Migration } from 'kysely/migration';
import pg from 'pg';
import type { PGlite } from '@electric-sql/pglite';

// `pg` already returns numeric (1700) and int8 (20) as strings; we state it so that no later change
// of a default can turn an amount into a float (SPEC §3.5). PGlite returns numeric as a string too
// (checked in test/money-roundtrip.test.ts); int8 comes back as a JS number there, so every query
// that reads a position casts it to text.
pg.types.setTypeParser(1700, (v) => v);
pg.types.setTypeParser(20, (v) => v);

export type Engine = 'postgres' | 'pglite';

export interface Database {
  readonly engine: Engine;
  readonly db: Kysely<any>;
  /** The raw pg pool (PostgreSQL only): for COPY and LISTEN. */
  readonly pool?: pg.Pool;
  /** The raw PGlite instance (embedded only). */
  readonly pglite?: PGlite;
  /** The schema everything lives in (tests use one schema per run). */
  readonly schema: string;
  close(): Promise<void>;
}

export interface DatabaseConfig {
  /** `postgres://…`; when absent, PGlite. */
  readonly url?: string;
  /** PGlite data directory; `memory://` or undefined with `memory: true` for an in-memory store. */
  readonly dataDir?: string;
  readonly memory?: boolean;
  /** PostgreSQL schema (created when missing). Default `public`. */
  readonly schema?: string;
  readonly poolSize?: number;
}

export async function openDatabase(config: DatabaseConfig): Promise<Database> {
  const schema = config.schema ?? 'public';
  if (!/^[a-z_][a-z0-9_]*$/.test(schema)) throw new Error(`schema name not allowed: ${schema}`);
  if (config.url) {
    const pool = new pg.Pool({
      connectionString: config.url,
      max: config.poolSize ?? 10,
      options: schema === 'public' ? undefined : `-c search_path=${schema}`,
    });
    if (schema !== 'public') {
      const client = await pool.connect();
      try {
        await client.query(`create schema if not exists ${schema}`);
      } finally {
        client.release();
      }
    }
    const db = new Kysely<any>({ dialect: new PostgresDialect({ pool }) });
    return {
      engine: 'postgres',
      db,
      pool,
      schema,
      close: () => db.destroy(),
    };
  }
  let dataDir: string | undefined;
  if (!config.memory) {
    dataDir = config.dataDir ?? './data';
    mkdirSync(dataDir, { recursive: true });
    if (!existsSync(join(dataDir, 'PG_VERSION'))) await initializeInChildProcess(dataDir);
  }
  // Loaded only here: a PostgreSQL process does not need it (about 40 MB resident once loaded through tsx).
  const { PGlite } = await import('@electric-sql/pglite');
  const pglite = await PGlite.create(dataDir, { postgresqlconf: PGLITE_CONF });
  const db = new Kysely<any>({ dialect: new PGliteDialect({ pglite }) });
  if (schema !== 'public') {
    await sql.raw(`create schema if not exists ${schema}`).execute(db);
    await sql.raw(`set search_path to ${schema}`).execute(db);
  }
  return {
    engine: 'pglite',
    db,
    pglite,
    schema,
    close: async () => {
      await db.destroy();
      if (!pglite.closed) await pglite.close();
    },
  };
}

/**
 * PGlite's default shared_buffers (160 MB) live in the WebAssembly memory, which only grows: an
 * opened store held 304 MB resident, 190 MB with 32 MB of buffers. The embedded store is the small
 * deployment; the operating system's page cache still holds its files.
 */
export const PGLITE_CONF = 'shared_buffers = 32MB\n';

/**
 * PGlite's initdb grows the WebAssembly memory to about 0.8 GB, which a process never gives back
 * (measured: 813 MB resident after creating a data directory, 296 MB after opening an existing
 * one). So a new data directory is created by a short-lived child process, and the server opens
 * the finished directory.
 */
async function initializeInChildProcess(dataDir: string): Promise<void> {
  // The template (eventstore/pglite-template.mjs, made by `npm install`) is copied in; when it is
  // missing, a child process makes it first.
  const templateModule = new URL('./pglite-template.mjs', import.meta.url);
  const { templateDir, copyTemplate } = (await import(templateModule.href)) as {
    templateDir: () => string;
    copyTemplate: (template: string, dataDir: string) => void;
  };
  const template = templateDir();
  if (!existsSync(join(template, 'PG_VERSION'))) {
    await promisify(execFile)(process.execPath, [fileURLToPath(templateModule)]);
  }
  copyTemplate(template, resolve(dataDir));
}

/** Named migrations from every part (event store, projections, API tables), run in name order. */
export type MigrationSet = Record<string, Migration>;

/**
 * Runs the migrations not yet recorded in `ledger_migrations`, in name order, in one transaction
 * under a lock per schema, so that two processes starting at once apply each migration once.
 *
 * Not kysely's Migrator: it asks whether its own table exists by introspecting every table of
 * every schema, calling pg_get_serial_sequence on each, and so fails with "relation … does not
 * exist" when another process renames a table meanwhile (a projection rebuild swapping tables in,
 * seen in CI with test schemas side by side).
 */
export async function migrate(database: Database, ...sets: MigrationSet[]): Promise<void> {
  const all: Record<string, Migration> = {};
  for (const set of sets) Object.assign(all, set);
  const names = Object.keys(all).sort();
  await database.db.transaction().execute(async (trx) => {
    await sql`select pg_advisory_xact_lock(${0x4d494752}::int, hashtext(current_schema()))`.execute(trx);
    const { rows: present } = await sql<{ t: string | null }>`select to_regclass('ledger_migrations')::text as t`.execute(trx);
    if (!present[0]?.t) {
      await sql`create table ledger_migrations (name text primary key, executed_at timestamptz not null default now())`.execute(trx);
      // Stores made before this runner kept their record in kysely's table: carry it over.
      const { rows: kysely } = await sql<{ t: string | null }>`select to_regclass('kysely_migration')::text as t`.execute(trx);
      if (kysely[0]?.t) await sql`insert into ledger_migrations (name, executed_at) select name, timestamp::timestamptz from kysely_migration`.execute(trx);
    }
    const { rows } = await sql<{ name: string }>`select name from ledger_migrations`.execute(trx);
    const done = new Set(rows.map((r) => r.name));
    for (const name of names) {
      if (done.has(name)) continue;
      try {
        await all[name]!.up(trx);
      } catch (e) {
        throw new Error(`migration ${name} failed: ${(e as Error).message ?? String(e)}`);
      }
      await sql`insert into ledger_migrations (name) values (${name})`.execute(trx);
    }
  });
}
