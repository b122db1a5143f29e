// The time machine's engineer routes (INTERFACE): ?asOf=, /diff/, POST /months/:month/close — and the
// CLI's `totals --as-of`, `diff` and `close` with their exit statuses, on every store target.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { main } from '../cli/main.ts';
import { openLedger } from '../cli/context.ts';
import { streams } from '../domain/events.ts';
import { testTargets } from './support/stores.ts';
import { appendCalls, appendContract, contractOpened, numberAdded } from './support/ledger-events.ts';
import { A, B, json, openFixture, recordCalls, row, seedTwoContracts, type Fixture } from './api.support.ts';

const pause = (ms = 20) => new Promise((r) => setTimeout(r, ms));

describe.each(testTargets)('time machine routes on $name', (target) => {
  let f: Fixture;
  let beforeLate: string;
  const admin = (method: string, path: string, init: { json?: unknown; headers?: Record<string, string> } = {}) => f.request(method, path, { token: f.adminToken, ...init });

  beforeAll(async () => {
    f = await openFixture(target);
    await seedTwoContracts(f);
  });
  afterAll(async () => {
    await f?.close();
  });

  it('closes November for one contract (200), again changes nothing, December is refused with 422 MONTH_NOT_ENDED', async () => {
    const first = await admin('POST', '/api/v1/admin/months/2017-11/close', { json: { contracts: [B.code] } });
    expect(first.status).toBe(200);
    expect((await json(first)).results).toEqual([expect.objectContaining({ contractCode: B.code, month: '2017-11', closed: true })]);
    const again = await json(await admin('POST', '/api/v1/admin/months/2017-11/close', { json: { contracts: [B.code] } }));
    expect(again.results[0].closed).toBe(false);
    const december = await admin('POST', '/api/v1/admin/months/2017-12/close', { json: { all: true } });
    expect(december.status).toBe(422);
    expect((await json(december)).error.code).toBe('MONTH_NOT_ENDED');
    expect((await f.db.store.readStream(streams.billing(B.code))).length).toBe(1);
  });

  it('answers 400 to a body that is neither contracts nor all, 404 to an unknown contract, 401 without the token', async () => {
    for (const body of [{}, { all: false }, { contracts: [] }, { contracts: ['x1'] }, { all: true, contracts: [A.code] }]) {
      const res = await admin('POST', '/api/v1/admin/months/2017-11/close', { json: body });
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect((await json(res)).error.code).toBeTypeOf('string');
    }
    expect((await admin('POST', '/api/v1/admin/months/2017-11/close', { json: { contracts: ['d000000001'] } })).status).toBe(404);
    expect((await f.request('POST', '/api/v1/admin/months/2017-11/close', { json: { all: true } })).status).toBe(401);
  });

  it('carries a late call of the closed month into December, and asOf shows what stood before it', async () => {
    await pause();
    beforeLate = new Date().toISOString();
    await pause();
    await recordCalls(f, B.code, [row(B.dialIn, '2017/11/25', '100000.0', '国内呼', '24.00')]);
    await f.catchUp();
    const nov = await json(await admin('GET', `/api/v1/admin/contracts/${B.code}/charges/2017-11`));
    const dec = await json(await admin('GET', `/api/v1/admin/contracts/${B.code}/charges/2017-12`));
    expect(nov.normal.total).toBe('16.00');
    expect(dec.normal.domestic).toBe('24.00');
    const then = await json(await admin('GET', `/api/v1/admin/contracts/${B.code}/charges/2017-12?asOf=${encodeURIComponent(beforeLate)}`));
    expect(then.normal.domestic).toBe('0.00');
    expect(then.normal.international).toBe('120.00');
    expect(then.asOf).toMatch(/\+09:00$/);
  });

  it('diff names the late call; a bad instant is 400 naming the parameter', async () => {
    const res = await admin('GET', `/api/v1/admin/contracts/${B.code}/diff/2017-12?from=${encodeURIComponent(beforeLate)}`);
    expect(res.status).toBe(200);
    const body = await json(res);
    expect(body.changed).toEqual([expect.objectContaining({ number: B.dialIn, category: 'domestic', normal: { from: '0.00', to: '24.00' } })]);
    expect(body.events).toEqual([expect.objectContaining({ type: 'CallRecorded', note: expect.stringContaining('前月以前分の調整') })]);
    for (const bad of ['yesterday', '2017-12-01', '2017-13-01T00:00:00+09:00', '%00']) {
      const r = await admin('GET', `/api/v1/admin/contracts/${B.code}/diff/2017-12?from=${encodeURIComponent(bad)}`);
      expect(r.status, bad).toBe(400);
      expect((await json(r)).error.message).toMatch(/from/);
    }
    expect((await admin('GET', `/api/v1/admin/contracts/${B.code}/charges/2017-12?asOf=soon`)).status).toBe(400);
    expect((await admin('GET', `/api/v1/admin/contracts/${B.code}/diff/2017-12`)).status).toBe(400);
  });
});

describe('the time machine in the CLI (PGlite)', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'ledger-time-machine-'));
  const code = 'd555000111';
  let out: string[] = [];
  let err: string[] = [];
  const run = async (...args: string[]) => {
    out = [];
    err = [];
    vi.spyOn(process.stdout, 'write').mockImplementation((c: string | Uint8Array) => (out.push(String(c)), true));
    vi.spyOn(process.stderr, 'write').mockImplementation((c: string | Uint8Array) => (err.push(String(c)), true));
    try {
      return await main(args);
    } finally {
      vi.restoreAllMocks();
    }
  };
  let before: string;
  const databaseUrl = process.env.DATABASE_URL;

  beforeAll(async () => {
    // The CLI reads its configuration from the environment: this data directory, not the suite's PostgreSQL.
    process.env.LEDGER_DATA_DIR = dataDir;
    process.env.DATABASE_URL = '';
    const ledger = await openLedger({ dataDir, port: 0 });
    await appendContract(ledger.store, code, contractOpened(code, '0120222333'), numberAdded(code, '0312345678'));
    await appendCalls(ledger.store, code, [{ usingNumber: '0312345678', startDate: '2017/11/01', startTime: '090000.0', charge: '8.00' }]);
    await pause();
    before = new Date().toISOString();
    await pause();
    await appendCalls(ledger.store, code, [{ usingNumber: '0312345678', startDate: '2017/11/02', startTime: '090000.0', charge: '5.50' }]);
    await ledger.close();
  });
  afterAll(() => {
    delete process.env.LEDGER_DATA_DIR;
    if (databaseUrl === undefined) delete process.env.DATABASE_URL;
    else process.env.DATABASE_URL = databaseUrl;
    rmSync(dataDir, { recursive: true, force: true });
  });
  afterEach(() => vi.restoreAllMocks());

  it('totals --as-of: the figures then (exit 0); a bad instant is a usage error naming --as-of (exit 2)', async () => {
    expect(await run('totals', code, '2017-11', '--as-of', before, '--json'), err.join('')).toBe(0);
    expect(JSON.parse(out.join('')).normal.total).toBe('8.00');
    expect(await run('totals', code, '2017-11', '--as-of', 'last tuesday')).toBe(2);
    expect(err.join('')).toMatch(/--as-of/);
    expect(await run('totals', code, '2017-11', '--as-of')).toBe(2);
  });

  it('diff: the change and the event (exit 0); without --from a usage error (exit 2)', async () => {
    expect(await run('diff', code, '2017-11', '--from', before)).toBe(0);
    expect(out.join('')).toMatch(/8\.00\s+13\.50/);
    expect(out.join('')).toMatch(/CallRecorded/);
    expect(await run('diff', code, '2017-11')).toBe(2);
  });

  it('close: exit 0, again exit 0 (already closed), a month not ended exit 1, neither --contract nor --all exit 2', async () => {
    expect(await run('close', '2017-11', '--contract', code)).toBe(0);
    expect(out.join('')).toMatch(/closed at/);
    expect(await run('close', '2017-11', '--all')).toBe(0);
    expect(out.join('')).toMatch(/already closed/);
    expect(await run('close', '2999-01', '--contract', code)).toBe(1);
    expect(err.join('')).toMatch(/MONTH_NOT_ENDED/);
    expect(await run('close', '2017-11')).toBe(2);
    expect(await run('close', '2017-11', '--contract', code, '--all')).toBe(2);
  });
});
