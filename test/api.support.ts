// Fixtures of the API tests: a store (PGlite or PostgreSQL) with the projections and the API tables,
// the app over it with an injected clock, two contracts to test tenant isolation, and request helpers.
import { Writable } from 'node:stream';
import pino from 'pino';
import { createApp, type AppDeps } from '../api/app.ts';
import { apiMigrations } from '../api/migrations.ts';
import type { DownloadGate, ExportLimits } from '../api/exports.ts';
import { ContractRequestGate } from '../api/fairness.ts';
import { configurePasswordHashing, setInitialCredentials } from '../projections/credentials.ts';
import { createEngineerOperations } from '../api/wiring.ts';
import type { CsvFileBuilder, EngineerOperations } from '../api/ports.ts';
import type { SupportDesk } from '../api/portal/support.tsx';
import { handleContractCommand } from '../domain/contract-service.ts';
import type { ContractCommand } from '../domain/contract.ts';
import { callRecordedData, parseCallRow, type CallRow } from '../domain/call.ts';
import { streams, type TelegramRecorded } from '../domain/events.ts';
import { createProjectionRunner, projectionMigrations, type ProjectionRunner } from '../projections/index.ts';
import { createQueries } from '../projections/queries.ts';
import type { LedgerQueries } from '../projections/read-model.ts';
import type { TestTarget, TestDatabase } from './support/stores.ts';

// scrypt at production cost takes ~100 ms a hash; the tests hash a few hundred times.
configurePasswordHashing({ N: 1 << 10 });

export const A = { code: 'd123456789', selfId: 'd123456789', password: 'abc123', basic: '0120222333', dialIn: '0312345678', mobile: '09012345678' } as const;
export const B = { code: 'd987654321', selfId: 'd987654321', password: 'xyz789', basic: '0120999888', dialIn: '0698765432', mobile: '08011112222' } as const;

/** 2017-12-15 12:00 Japan: the window is 2017-12 (provisional), 2017-11 … 2017-08. */
export const MID_DECEMBER_2017 = new Date('2017-12-15T03:00:00Z');

export interface Fixture {
  readonly db: TestDatabase;
  readonly queries: LedgerQueries;
  readonly runner: ProjectionRunner;
  readonly app: ReturnType<typeof createApp>;
  readonly adminToken: string;
  /** Everything the app logged, one JSON object per line. */
  readonly logs: string[];
  now: Date;
  request(method: string, path: string, init?: { token?: string; json?: unknown; body?: string | Uint8Array; headers?: Record<string, string> }): Promise<Response>;
  login(selfId: string, password: string): Promise<string>;
  catchUp(): Promise<void>;
  /** Another app over the same database, with some dependencies changed (e.g. the support desk). */
  appWith(changes: Partial<AppDeps>): ReturnType<typeof createApp>;
  close(): Promise<void>;
}

export interface FixtureOptions {
  readonly engineer?: (base: EngineerOperations) => EngineerOperations;
  readonly buildCsv?: CsvFileBuilder;
  readonly bodyLimit?: number;
  readonly adminBodyLimit?: number;
  readonly portalOrigin?: string;
  readonly support?: SupportDesk;
  /** Anything else of the app's dependencies (readiness checks, the lag bound, …). */
  readonly app?: Partial<AppDeps>;
  readonly exportLimits?: ExportLimits;
  readonly downloads?: DownloadGate;
}

export async function openFixture(target: TestTarget, options: FixtureOptions = {}): Promise<Fixture> {
  const db = await target.open([projectionMigrations, apiMigrations]);
  const queries = createQueries(db.database, db.store);
  const runner = createProjectionRunner(db.database, db.store);
  const logs: string[] = [];
  const logger = pino(
    { level: 'debug' },
    new Writable({
      write(chunk, _enc, cb) {
        logs.push(String(chunk));
        cb();
      },
    }),
  );
  const adminToken = 'test-admin-token-0123456789';
  const base = createEngineerOperations({ database: db.database, store: db.store, queries, runner });
  const fixture: Fixture = {
    db,
    queries,
    runner,
    adminToken,
    logs,
    now: MID_DECEMBER_2017,
    app: undefined as never,
    async request(method, path, init = {}) {
      const headers: Record<string, string> = { ...(init.headers ?? {}) };
      if (init.token) headers.authorization = `Bearer ${init.token}`;
      let body: string | Uint8Array | undefined = init.body;
      if (init.json !== undefined) {
        body = JSON.stringify(init.json);
        headers['content-type'] ??= 'application/json';
      }
      return fixture.app.request(path, { method, headers, ...(body !== undefined ? { body } : {}) });
    },
    async login(selfId, password) {
      const res = await fixture.request('POST', '/api/v1/session', { json: { selfId, password } });
      if (res.status !== 200) throw new Error(`login ${selfId} → ${res.status} ${await res.text()}`);
      return ((await res.json()) as { token: string }).token;
    },
    async catchUp() {
      await runner.catchUp();
    },
    appWith: (changes) => createApp({ ...deps, ...changes }),
    close: () => db.cleanup(),
  };
  const deps: AppDeps = {
    database: db.database,
    store: db.store,
    queries,
    clock: () => fixture.now,
    adminToken,
    logger,
    engineer: options.engineer ? options.engineer(base) : base,
    ...(options.buildCsv ? { buildCsv: options.buildCsv } : {}),
    ...(options.bodyLimit ? { bodyLimit: options.bodyLimit } : {}),
    ...(options.adminBodyLimit ? { adminBodyLimit: options.adminBodyLimit } : {}),
    ...(options.portalOrigin ? { portalOrigin: options.portalOrigin } : {}),
    ...(options.exportLimits ? { exportLimits: options.exportLimits } : {}),
    ...(options.downloads ? { downloads: options.downloads } : {}),
    ...(options.support ? { support: options.support } : {}),
    // The tests send hundreds of requests a second for one contract: no bound on the rate unless a
    // test sets its own gate (test/api.fairness.test.ts tests the bound).
    requestGate: new ContractRequestGate({ perSecond: Number.POSITIVE_INFINITY }),
    // Likewise the tests log in hundreds of times, many at once for one self ID (the lockout's
    // tests): no bound on password checks unless a test sets its own (test/api.password-checks.test.ts).
    passwordChecks: unboundedPasswordChecks(),
    ...options.app,
  };
  (fixture as { app: ReturnType<typeof createApp> }).app = createApp(deps);
  return fixture;
}

/** A password-check gate that never makes a check wait (scrypt is cheap in the tests: see above). */
export function unboundedPasswordChecks(): ContractRequestGate {
  const many = 1_000_000;
  return new ContractRequestGate({ inFlight: many, waiting: many, total: many, waitingTotal: many, perSecond: Number.POSITIVE_INFINITY });
}

export async function openContract(f: Fixture, c: typeof A | typeof B): Promise<void> {
  const commands: ContractCommand[] = [
    { type: 'OpenContract', contractCode: c.code, selfId: c.selfId, startDate: '2010-11-15', channels: 1, connectionType: 'ダイヤルイン接続', primaryDns: '192.0.2.1', secondaryDns: '192.0.2.2', basicNumber: c.basic },
    { type: 'AddNumber', contractCode: c.code, dialInNumber: c.dialIn, auMobileNumber: c.mobile, startDate: '2010-11-15' },
    { type: 'SubscribeOption', contractCode: c.code, option: 'freecallNotification', effectiveFrom: '2010-11-15', freecallNumbers: [c.basic] },
  ];
  for (const command of commands) await handleContractCommand(f.db.store, command);
  await setInitialCredentials(f.db.database.db, { contractCode: c.code, selfId: c.selfId, password: c.password });
}

/** A bare contract (no dial-in number) with its self ID equal to its code and an initial password: a customer of its own for one test. */
export async function openBareContract(f: Fixture, code: string, basicNumber: string, password = 'abc123'): Promise<{ code: string; selfId: string; password: string }> {
  await handleContractCommand(f.db.store, {
    type: 'OpenContract',
    contractCode: code,
    selfId: code,
    startDate: '2010-11-15',
    channels: 1,
    connectionType: 'ダイヤルイン接続',
    primaryDns: '192.0.2.1',
    secondaryDns: '192.0.2.2',
    basicNumber,
  });
  await setInitialCredentials(f.db.database.db, { contractCode: code, selfId: code, password });
  return { code, selfId: code, password };
}

export function row(usingNumber: string, date: string, time: string, callType: string, charge: string, extra: Partial<CallRow> = {}): CallRow {
  return { usingNumber, startDate: date, startTime: time, destination: '03-1111-2222', area: '東京', duration: '000106.0', extensionType: '外線', callType, charge, ...extra };
}

export async function recordCalls(f: Fixture, contractCode: string, rows: readonly CallRow[]): Promise<void> {
  const byStream = new Map<string, { id: string; type: string; data: unknown }[]>();
  for (const r of rows) {
    const parsed = parseCallRow(r);
    if (!parsed.ok) throw new Error(JSON.stringify(parsed.problems));
    const data = callRecordedData(parsed.call, contractCode);
    const s = streams.calls(contractCode, data.billingMonth);
    byStream.set(s, [...(byStream.get(s) ?? []), { id: data.callId, type: 'CallRecorded', data }]);
  }
  await f.db.store.appendMany([...byStream].map(([streamId, events]) => ({ streamId, events })));
}

/**
 * SPEC §8, November 2017 for contract A: 7 domestic calls of 8.00 (56.00), mobile 1,872.50 of which
 * au 1,000.00 (flat-rate, billed 0) and other mobile 872.50: total 1,928.50 → 1,928円.
 */
export function novemberCallsOfA(): CallRow[] {
  const rows: CallRow[] = [];
  for (let i = 0; i < 7; i++) rows.push(row(A.dialIn, `2017/11/0${i + 1}`, `10120${i}.5`, '国内呼', '8.00'));
  rows.push(row(A.dialIn, '2017/11/10', '090000.0', '携帯呼', '300.00', { destination: '080-1234-5678', area: '携帯' }));
  rows.push(row(A.dialIn, '2017/11/11', '090000.0', '携帯呼', '300.00', { destination: '080-1234-5678', area: '携帯' }));
  rows.push(row(A.dialIn, '2017/11/12', '090000.0', '携帯呼', '272.50', { destination: '080-1234-5678', area: '携帯' }));
  rows.push(row(A.dialIn, '2017/11/13', '090000.0', '携帯呼(au 定額)', '500.00', { destination: '090-1234-5678', area: '携帯' }));
  rows.push(row(A.dialIn, '2017/11/14', '090000.0', '携帯呼(au 定額)', '500.00', { destination: '090-1234-5678', area: '携帯' }));
  return rows;
}

export async function telegram(f: Fixture, contractCode: string, id: string, date: string, charge: string): Promise<void> {
  const data: TelegramRecorded['data'] = { telegramId: id, contractCode, date, month: date.slice(0, 7), receiptNumber: `R-${id.slice(-6)}`, destination: '東京都千代田区', kind: '慶弔', charge };
  await f.db.store.append(streams.telegrams(contractCode), [{ id, type: 'TelegramRecorded', data }]);
}

/** Both contracts, A with the manual's November and a telegram, B with calls of its own in November and December. */
export async function seedTwoContracts(f: Fixture): Promise<void> {
  await openContract(f, A);
  await openContract(f, B);
  await recordCalls(f, A.code, novemberCallsOfA());
  await recordCalls(f, A.code, [row(A.dialIn, '2017/12/04', '100000.0', '国内呼', '8.00')]);
  await recordCalls(f, B.code, [
    row(B.dialIn, '2017/11/20', '100000.0', '国内呼', '16.00'),
    row(B.dialIn, '2017/12/05', '100000.0', '国際呼', '120.00', { destination: '0011234567', area: 'アメリカ' }),
  ]);
  await telegram(f, A.code, '5f9c0a3e-8f2b-4c1d-9e7a-1b2c3d4e5f60', '2017-11-03', '1230.00');
  await telegram(f, B.code, '5f9c0a3e-8f2b-4c1d-9e7a-1b2c3d4e5f61', '2017-11-04', '990.00');
  await f.catchUp();
}

export async function json<T = any>(res: Response): Promise<T> {
  return (await res.json()) as T;
}
