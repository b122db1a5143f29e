// One database handle for the event store's tables and the projections' tables: PostgreSQL over
// `pg` when DATABASE_URL is set, else the embedded PGlite under LEDGER_DATA_DIR (./data).
import { execFile } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { existsSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Kysely, PostgresDialect, sql, type Migration } from 'kysely';
import pg from 'pg';
import type { PGlite } from '@electric-sql/pglite';
import { parsePostgresUrl, postgresClientClass } from './connection.ts';
import { PGliteDialect } from './pglite-dialect.ts';

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
  /** The raw pg pool (PostgreSQL only): for COPY. */
  readonly pool?: pg.Pool;
  /** The raw PGlite instance (embedded only). */
  readonly pglite?: PGlite;
  /** The schema everything lives in (tests use one schema per run). */
  readonly schema: string;
  /**
   * The same database for HTTP requests. On PostgreSQL a pool of its own, with bounded waits
   * (REQUEST_LIMITS), so that an import, a rebuild or a queue of writers waiting for the writers'
   * lock never takes the connections the portal's readers need; made on first use and closed with
   * this one. PGlite has one connection: itself.
   */
  forRequests(): Database;
  /**
   * The same database for reading stored files to clients (export downloads): on PostgreSQL a
   * small pool of its own (DOWNLOAD_LANE), so that however many downloads stream at once they
   * never take a connection the requests' pool has for the portal's queries; each read holds its
   * connection for one chunk only. Made on first use and closed with this one. PGlite: itself.
   */
  forDownloads(): Database;
  /** A connection of its own, outside the pools, on the writable server (PostgreSQL): for LISTEN. */
  newClient?(): pg.Client;
  /** 'lost' (error, pool name): a pooled connection died while idle (a restart, a failover, pg_terminate_backend). */
  readonly connectionEvents: EventEmitter;
  close(): Promise<void>;
}

/** The bounds of a request's connection (PostgreSQL). */
export interface RequestLimits {
  /** Waiting for a pooled connection (or for a new one to open), ms. */
  readonly connectMs: number;
  /** Server-side bound of one statement (statement_timeout), ms. */
  readonly statementMs: number;
  /** Server-side bound of one wait for a lock (lock_timeout): the writers' lock during an import, a row another request holds, ms. */
  readonly lockMs: number;
  /** Client-side bound of one query, for a server that stopped answering without closing the connection, ms. */
  readonly queryMs: number;
  /** Connections of the requests' pool. */
  readonly poolSize: number;
}

/**
 * A portal query takes milliseconds; 15 s is the most a request may hold a connection for one
 * statement. A customer's write gives up on the writers' lock after 2 s (an import holds it for its
 * whole file) and answers 503 rather than waiting for the import.
 */
export const REQUEST_LIMITS: RequestLimits = { connectMs: 5_000, statementMs: 15_000, lockMs: 2_000, queryMs: 20_000, poolSize: 10 };

/**
 * Connections of the downloads' lane (forDownloads). A chunk is read in a few milliseconds and a
 * download reads one at a time, paced: two connections serve the sixteen downloads a process may
 * stream at once (api/exports.ts DOWNLOAD_LIMITS), and a burst of them waits here, not in front
 * of the portal's queries.
 */
export const DOWNLOAD_LANE = { poolSize: 2 } as const;

export interface DatabaseConfig {
  /** `postgres://…`; when absent, PGlite. */
  readonly url?: string;
  /** PGlite data directory; `memory://` or undefined with `memory: true` for an in-memory store. */
  readonly dataDir?: string;
  readonly memory?: boolean;
  /** PostgreSQL schema (created when missing). Default `public`. */
  readonly schema?: string;
  readonly poolSize?: number;
  /** application_name of every connection, suffixed by the pool's role (`ledger/work`, `ledger/requests`, `ledger/downloads`, `ledger/listen`). */
  readonly applicationName?: string;
  /** Bounds of the requests' pool (forRequests), in place of REQUEST_LIMITS. */
  readonly requestLimits?: Partial<RequestLimits>;
  /** Waiting for a connection of the work pool (imports, projections, the CLI), ms. Default 10 s. */
  readonly workConnectMs?: number;
}

export async function openDatabase(config: DatabaseConfig): Promise<Database> {
  const schema = config.schema ?? 'public';
  if (!/^[a-z_][a-z0-9_]*$/.test(schema)) throw new Error(`schema name not allowed: ${schema}`);
  if (config.url) return openPostgres(config, config.url, schema);
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
  const database: Database = {
    engine: 'pglite',
    db,
    pglite,
    schema,
    forRequests: () => database,
    forDownloads: () => database,
    connectionEvents: new EventEmitter(),
    close: async () => {
      await db.destroy();
      if (!pglite.closed) await pglite.close();
    },
  };
  return database;
}

/**
 * Two pools on the server named by `url` (several hosts allowed: see connection.ts): the work pool
 * (imports, projections, the export worker, the CLI) and, made on first use, the requests' pool.
 * Every pool has an 'error' listener: an idle connection that the server closes (a restart, a
 * failover, an idle reaper) is dropped and reported, and never takes the process down.
 */
async function openPostgres(config: DatabaseConfig, url: string, schema: string): Promise<Database> {
  const target = parsePostgresUrl(url);
  const limits: RequestLimits = { ...REQUEST_LIMITS, ...config.requestLimits };
  const Client = postgresClientClass(target, { hostTimeoutMs: Math.min(limits.connectMs, 3_000) });
  const appName = config.applicationName ?? 'ledger';
  const connectionEvents = new EventEmitter();
  const searchPath = schema === 'public' ? [] : [`-c search_path=${schema}`];
  const base = { connectionString: target.url, keepAlive: true, keepAliveInitialDelayMillis: 10_000 };
  const watched = (pool: pg.Pool, role: string) => {
    pool.on('error', (err) => {
      // An event with no listener would throw; a caller who wants it subscribes.
      if (connectionEvents.listenerCount('lost') > 0) connectionEvents.emit('lost', err, role);
    });
    return pool;
  };
  const pool = watched(
    new pg.Pool({
      ...base,
      Client,
      max: config.poolSize ?? 10,
      connectionTimeoutMillis: config.workConnectMs ?? 10_000,
      application_name: `${appName}/work`,
      options: searchPath.length > 0 ? searchPath.join(' ') : undefined,
    }),
    'work',
  );
  if (schema !== 'public') {
    const client = await pool.connect();
    try {
      await client.query(`create schema if not exists ${schema}`);
    } finally {
      client.release();
    }
  }
  const db = new Kysely<any>({ dialect: new PostgresDialect({ pool }) });
  let requests: Database | undefined;
  let downloads: Database | undefined;
  /** A pool serving clients (requests, downloads): bounded waits for a connection, a statement, a lock. */
  const boundedPool = (role: string, max: number, readTimeout = true) =>
    watched(
      new pg.Pool({
        ...base,
        Client,
        max,
        connectionTimeoutMillis: limits.connectMs,
        ...(readTimeout ? { query_timeout: limits.queryMs } : {}),
        application_name: `${appName}/${role}`,
        options: [
          ...searchPath,
          `-c statement_timeout=${limits.statementMs}`,
          `-c lock_timeout=${limits.lockMs}`,
          `-c idle_in_transaction_session_timeout=${limits.queryMs}`,
        ].join(' '),
      }),
      role,
    );
  const database: Database = {
    engine: 'postgres',
    db,
    pool,
    schema,
    connectionEvents,
    newClient: () =>
      new Client({ ...base, application_name: `${appName}/listen`, connectionTimeoutMillis: config.workConnectMs ?? 10_000, options: searchPath.length > 0 ? searchPath.join(' ') : undefined }),
    forRequests() {
      if (requests) return requests;
      const requestPool = boundedPool('requests', limits.poolSize);
      const requestDb = new Kysely<any>({ dialect: new PostgresDialect({ pool: requestPool }) });
      requests = { ...database, db: requestDb, pool: requestPool, forRequests: () => requests!, close: () => database.close() };
      return requests;
    },
    forDownloads() {
      if (downloads) return downloads;
      // No client-side query_timeout: `pg` arms it for a COPY too but never disarms it (a COPY has
      // no callback), so it fires on a finished download's stream 20 s later. A chunk's COPY has a
      // read bound of its own (api/exports.ts); statement_timeout bounds it on the server.
      const downloadPool = boundedPool('downloads', DOWNLOAD_LANE.poolSize, false);
      const downloadDb = new Kysely<any>({ dialect: new PostgresDialect({ pool: downloadPool }) });
      downloads = { ...database, db: downloadDb, pool: downloadPool, forDownloads: () => downloads!, close: () => database.close() };
      return downloads;
    },
    async close() {
      const closing = [db.destroy()];
      if (requests) closing.push(requests.db.destroy());
      if (downloads) closing.push(downloads.db.destroy());
      await Promise.all(closing);
    },
  };
  return database;
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
