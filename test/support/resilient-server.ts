// A server as `ledger serve` builds it (prepareServer), on the real PostgreSQL, in a schema of its
// own, with connections named after the test (application_name) so that a test terminates its own
// backends and never another test file's.
import { Writable } from 'node:stream';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import pino from 'pino';
import { sql } from 'kysely';
import { migrate, openDatabase, type Database, type RequestLimits } from '../../eventstore/database.ts';
import { createSqlEventStore, eventStoreMigrations, type SqlEventStore } from '../../eventstore/sql.ts';
import { apiMigrations } from '../../api/migrations.ts';
import { projectionMigrations } from '../../projections/index.ts';
import { setInitialCredentials } from '../../projections/credentials.ts';
import { prepareServer, type PreparedServer } from '../../cli/commands/serve.ts';
import type { RunnerOptions } from '../../projections/framework.ts';
import { Money } from '../../domain/money.ts';
import { fixtureContracts, openFixtureContracts, type FixtureContract } from './call-csv.ts';
import '../api.support.ts'; // low scrypt cost

export const CLOCK = new Date('2017-12-15T03:00:00Z');
export const ADMIN_TOKEN = 'resilience-admin-token-0123456789';
export const PASSWORD = 'abc123';

export interface ResilientServer {
  readonly schema: string;
  /** Every connection of this server has an application_name starting with it. */
  readonly appName: string;
  readonly database: Database;
  /** A store of the test's own on the server's database (as another process would append). */
  readonly store: SqlEventStore;
  readonly server: PreparedServer;
  readonly contracts: readonly FixtureContract[];
  readonly numbers: readonly string[];
  readonly logs: string[];
  request(method: string, path: string, init?: { token?: string; body?: string | Uint8Array; json?: unknown; headers?: Record<string, string> }): Promise<Response>;
  login(selfId: string): Promise<string>;
  /** CallRecorded events stored: how many, and their charges summed exactly. */
  storedCalls(): Promise<{ calls: number; total: string }>;
  /** The sum of the projected monthly totals (normal) of every contract for a month, from the admin route. */
  projectedTotal(month: string): Promise<string>;
  /** verify of every contract for a month (recomputed from the events): all ok. */
  verified(month: string): Promise<boolean>;
  close(): Promise<void>;
}

/** A plain connection for the test's own looks at pg_stat_activity and its pg_terminate_backend. */
export function adminPool(url: string): pg.Pool {
  const pool = new pg.Pool({ connectionString: url, max: 3, application_name: 'resilience-test-admin' });
  pool.on('error', () => {});
  return pool;
}

/** Terminates the backends whose application_name starts with `prefix` (and matches `where`); how many. */
export async function terminate(admin: pg.Pool, prefix: string, where = 'true'): Promise<number> {
  const { rows } = await admin.query<{ n: string }>(
    `select count(*) filter (where pg_terminate_backend(pid))::text as n from pg_stat_activity
     where datname = current_database() and application_name like $1 || '%' and pid <> pg_backend_pid() and (${where})`,
    [prefix],
  );
  return Number(rows[0]!.n);
}

/** Polls `check` every `everyMs` until it returns something truthy, or fails after `ms`. */
export async function until<T>(what: string, check: () => Promise<T | undefined | false>, ms = 20_000, everyMs = 10): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await check().catch(() => undefined);
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

export async function openResilientServer(options: {
  url: string;
  requestLimits?: Partial<RequestLimits>;
  catchUpByRebuild?: RunnerOptions['catchUpByRebuild'];
  contracts?: number;
  schema?: string;
}): Promise<ResilientServer> {
  const id = randomBytes(5).toString('hex');
  const schema = options.schema ?? `res_${id}`;
  const appName = `ledger-test-${id}`;
  const database = await openDatabase({ url: options.url, schema, applicationName: appName, ...(options.requestLimits ? { requestLimits: options.requestLimits } : {}), workConnectMs: 3_000 });
  await migrate(database, eventStoreMigrations, apiMigrations, projectionMigrations);
  const store = createSqlEventStore(database, { pollMs: 50 });
  const contracts = fixtureContracts(options.contracts ?? 3, 2);
  await openFixtureContracts(store, contracts);
  for (const c of contracts) await setInitialCredentials(database.db, { contractCode: c.contractCode, selfId: c.contractCode, password: PASSWORD });
  const logs: string[] = [];
  const logger = pino(
    { level: 'info' },
    new Writable({
      write(chunk, _enc, cb) {
        logs.push(String(chunk));
        cb();
      },
    }),
  );
  const server = await prepareServer(
    { database, store },
    { clock: () => CLOCK, demo: false, logger, adminToken: ADMIN_TOKEN, exportPollMs: 200, ...(options.catchUpByRebuild !== undefined ? { catchUpByRebuild: options.catchUpByRebuild } : {}) },
  );
  await server.start();

  const request: ResilientServer['request'] = (method, path, init = {}) => {
    const headers: Record<string, string> = { ...(init.headers ?? {}) };
    if (init.token) headers.authorization = `Bearer ${init.token}`;
    let body = init.body;
    if (init.json !== undefined) {
      body = JSON.stringify(init.json);
      headers['content-type'] = 'application/json';
    }
    return Promise.resolve(server.app.request(path, { method, headers, ...(body !== undefined ? { body } : {}) }));
  };
  const admin = { authorization: `Bearer ${ADMIN_TOKEN}` };
  return {
    schema,
    appName,
    database,
    store,
    server,
    contracts,
    numbers: contracts.flatMap((c) => [c.basicNumber, ...c.dialInNumbers]),
    logs,
    request,
    async login(selfId) {
      const res = await request('POST', '/api/v1/session', { json: { selfId, password: PASSWORD } });
      if (res.status !== 200) throw new Error(`login ${selfId}: ${res.status} ${await res.text()}`);
      return ((await res.json()) as { token: string }).token;
    },
    async storedCalls() {
      const { rows } = await sql<{ n: string; total: string | null }>`
        select count(*)::text as n, sum((data->>'charge')::numeric)::text as total from events where type = 'CallRecorded'`.execute(database.db);
      return { calls: Number(rows[0]!.n), total: Money.fromDb(rows[0]!.total ?? '0').toString() };
    },
    async projectedTotal(month) {
      let total = Money.zero;
      for (const c of contracts) {
        const res = await request('GET', `/api/v1/admin/contracts/${c.contractCode}/charges/${month}`, { headers: admin });
        if (res.status === 404) continue;
        if (res.status !== 200) throw new Error(`charges ${c.contractCode}: ${res.status} ${await res.text()}`);
        total = total.plus(Money.fromDb(((await res.json()) as { normal: { total: string } }).normal.total));
      }
      return total.toString();
    },
    async verified(month) {
      for (const c of contracts) {
        const res = await request('GET', `/api/v1/admin/contracts/${c.contractCode}/verify/${month}`, { headers: admin });
        if (res.status !== 200 || !((await res.json()) as { ok: boolean }).ok) return false;
      }
      return true;
    },
    async close() {
      await server.stop();
      await store.close();
      await sql.raw(`drop schema if exists ${schema} cascade`).execute(database.db).catch(() => {});
      await database.close();
    },
  };
}
