// SPEC §5 CSV downloads: the job lifecycle with an injected clock, the worker, tenant isolation.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import { ExportWorker } from '../api/exports.ts';
import type { Writable } from 'node:stream';
import type { CsvFileBuilder, CsvFileInput } from '../api/ports.ts';
import { buildCsv } from '../api/wiring.ts';
import { testTargets } from './support/stores.ts';
import { A, B, json, openFixture, seedTwoContracts, type Fixture } from './api.support.ts';

// Japan dates: 12-15 is an ordinary day; 12-01 and 12-31 are blackout days (SPEC §5).
const ORDINARY = new Date('2017-12-15T03:00:00Z');
const FIRST = new Date('2017-12-01T00:30:00Z'); // 09:30 on the 1st
const LAST = new Date('2017-12-31T14:59:00Z'); // 23:59 on the 31st
const JUST_AFTER_LAST = new Date('2017-12-31T15:00:00Z'); // 00:00 on 2018-01-01: the 1st again
const SECOND = new Date('2017-12-02T00:00:00Z');

describe.each(testTargets)('CSV downloads on $name', (target) => {
  let f: Fixture;
  let worker: ExportWorker;
  let tokenA: string;
  let tokenB: string;
  const built: string[] = [];

  beforeAll(async () => {
    // The worker builds with the real CSV writer (api/wiring.ts → importers/csv-export.ts).
    // It writes the file to the worker's chunk store as it goes, as in the server.
    const recording = (async (input: CsvFileInput, out?: Writable) => {
      built.push(`${input.contractCode} ${input.month} ${input.kind} ${input.encoding}`);
      return out ? buildCsv(input, out) : buildCsv(input);
    }) as CsvFileBuilder;
    // Room for this story's jobs at once (the bounds per contract have tests of their own).
    f = await openFixture(target, { buildCsv: recording, exportLimits: { pendingJobs: 4, files: 8 } });
    await seedTwoContracts(f);
    worker = new ExportWorker({ db: f.db.database.db, queries: f.queries, build: recording, clock: () => f.now });
    tokenA = await f.login(A.selfId, A.password);
    tokenB = await f.login(B.selfId, B.password);
  });
  afterAll(async () => {
    await f?.close();
  });

  const create = (token: string, body: unknown) => f.request('POST', '/api/v1/exports', { token, json: body });
  const relogin = async () => {
    tokenA = await f.login(A.selfId, A.password);
    tokenB = await f.login(B.selfId, B.password);
  };

  it('creates a pending job (202); asking again for the same month, kind and encoding gives the same job', async () => {
    f.now = ORDINARY;
    const first = await create(tokenA, { month: '2017-11', kind: 'numbers', encoding: 'utf-8' });
    expect(first.status).toBe(202);
    const job = await json(first);
    expect(job).toMatchObject({ status: 'pending', month: '2017-11', kind: 'numbers', encoding: 'utf-8' });
    expect(job.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(job.createdAt).toMatch(/\+09:00$/);
    const again = await json(await create(tokenA, { month: '2017-11', kind: 'numbers', encoding: 'utf-8' }));
    expect(again.id).toBe(job.id);
    const otherEncoding = await json(await create(tokenA, { month: '2017-11', kind: 'numbers', encoding: 'sjis' }));
    expect(otherEncoding.id).not.toBe(job.id);
    const otherTenant = await json(await create(tokenB, { month: '2017-11', kind: 'numbers', encoding: 'utf-8' }));
    expect(otherTenant.id).not.toBe(job.id);
  });

  it('answers 409 to a download while the file is pending', async () => {
    const job = await json(await create(tokenA, { month: '2017-10', kind: 'calls', encoding: 'sjis' }));
    const res = await f.request('GET', `/api/v1/exports/${job.id}/file`, { token: tokenA });
    expect(res.status).toBe(409);
    expect((await json(res)).error.code).toBe('EXPORT_NOT_READY');
  });

  it('the worker builds pending jobs, also ones left by an earlier process, and the status turns ready', async () => {
    // A second worker instance stands for the server after a restart: the jobs are in the table.
    const afterRestart = new ExportWorker({ db: f.db.database.db, queries: f.queries, build: buildCsv, clock: () => f.now });
    let n = 0;
    while (await afterRestart.runOnce()) n++;
    expect(n).toBe(4);
    const list = await f.db.database.db.executeQuery<{ status: string }>(sql`select status from exports`.compile(f.db.database.db));
    expect(list.rows.every((r) => r.status === 'ready')).toBe(true);
  });

  it('downloads a ready file: the SPEC §7.1 CSV, UTF-8 with BOM, as an attachment', async () => {
    const job = await json(await create(tokenA, { month: '2017-11', kind: 'numbers', encoding: 'utf-8' }));
    while (await worker.runOnce());
    const status = await json(await f.request('GET', `/api/v1/exports/${job.id}`, { token: tokenA }));
    expect(status).toMatchObject({ id: job.id, status: 'ready', month: '2017-11', kind: 'numbers' });
    expect(new Date(status.expiresAt).getTime()).toBe(ORDINARY.getTime() + 48 * 3_600_000);
    const res = await f.request('GET', `/api/v1/exports/${job.id}/file`, { token: tokenA });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/csv; charset=utf-8');
    expect(res.headers.get('content-disposition')).toMatch(/^attachment; filename="d123456789_2017-11_numbers\.csv"; filename\*=UTF-8''/);
    const bytes = new Uint8Array(await res.arrayBuffer());
    expect([...bytes.slice(0, 3)]).toEqual([0xef, 0xbb, 0xbf]);
    const text = new TextDecoder().decode(bytes.slice(3));
    expect(text.split('\r\n')[0]).toBe('ご利用電話番号,合計料金,国内通話,国際通話,au通話,その他移動体');
    expect(text).toContain(`${A.dialIn},1928.50,56.00,0.00,1000.00,872.50`);
    expect(text).not.toContain(B.dialIn);
  });

  it('downloads the call details in Shift_JIS with CRLF', async () => {
    const job = await json(await create(tokenA, { month: '2017-11', kind: 'calls', encoding: 'sjis' }));
    while (await worker.runOnce());
    const res = await f.request('GET', `/api/v1/exports/${job.id}/file`, { token: tokenA });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/csv; charset=Shift_JIS');
    const text = new TextDecoder('shift_jis').decode(new Uint8Array(await res.arrayBuffer()));
    const lines = text.split('\r\n').filter((l) => l !== '');
    expect(lines[0]).toBe('ご利用電話番号,通話開始日時,通話開始時刻,着信電話番号,地域名,通話時間,内線区分,呼種別,通話料');
    expect(lines).toHaveLength(1 + 12);
    expect(lines[1]).toBe(`${A.dialIn},2017/11/01,101200.5,03-1111-2222,東京,000106.0,外線,国内呼,8.00`);
  });

  it('answers 404 to another contract’s export id, on the status and on the file (tenant isolation)', async () => {
    const job = await json(await create(tokenA, { month: '2017-11', kind: 'numbers', encoding: 'utf-8' }));
    for (const path of [`/api/v1/exports/${job.id}`, `/api/v1/exports/${job.id}/file`]) {
      const res = await f.request('GET', path, { token: tokenB });
      expect(res.status).toBe(404);
      expect((await json(res)).error.code).toBe('EXPORT_NOT_FOUND');
    }
    expect((await f.request('GET', '/api/v1/exports/not-a-uuid', { token: tokenA })).status).toBe(404);
    expect((await f.request('GET', '/api/v1/exports/00000000-0000-4000-8000-000000000000/file', { token: tokenA })).status).toBe(404);
  });

  it('answers 400 to a bad month, kind or encoding, 404 to a month outside the window, 415 to a form', async () => {
    for (const body of [{ month: '2017-13', kind: 'numbers' }, { month: '2017-11', kind: 'everything' }, { month: '2017-11', kind: 'calls', encoding: 'latin1' }, {}]) {
      const res = await create(tokenA, body);
      expect(res.status).toBe(400);
    }
    expect((await create(tokenA, { month: '2016-01', kind: 'calls' })).status).toBe(404);
    expect((await f.request('POST', '/api/v1/exports', { token: tokenA, body: 'month=2017-11', headers: { 'content-type': 'application/x-www-form-urlencoded' } })).status).toBe(415);
  });

  it('keeps a file 48 hours, then answers 410 and deletes it', async () => {
    f.now = ORDINARY;
    const job = await json(await create(tokenA, { month: '2017-09', kind: 'numbers', encoding: 'sjis' }));
    while (await worker.runOnce());
    f.now = new Date(ORDINARY.getTime() + 48 * 3_600_000 - 1000);
    await relogin();
    expect((await f.request('GET', `/api/v1/exports/${job.id}/file`, { token: tokenA })).status).toBe(200);
    f.now = new Date(ORDINARY.getTime() + 48 * 3_600_000);
    const gone = await f.request('GET', `/api/v1/exports/${job.id}/file`, { token: tokenA });
    expect(gone.status).toBe(410);
    expect((await json(gone)).error.code).toBe('EXPORT_EXPIRED');
    expect((await f.request('GET', `/api/v1/exports/${job.id}`, { token: tokenA })).status).toBe(410);
    const { rows } = await f.db.database.db.executeQuery<{ content: unknown; deleted_at: unknown }>(
      sql`select content, deleted_at from exports where id = ${job.id}::uuid`.compile(f.db.database.db),
    );
    expect(rows[0]!.content).toBeNull();
    expect(rows[0]!.deleted_at).not.toBeNull();
    f.now = ORDINARY;
    await relogin();
  });

  it('reports a failed build with its message; a download of it answers 409', async () => {
    const failing = new ExportWorker({
      db: f.db.database.db,
      queries: f.queries,
      build: async () => {
        throw Object.assign(new Error('U+2603 SNOWMAN has no Shift_JIS form'), { code: 'UNMAPPABLE_CHARACTER' });
      },
      clock: () => f.now,
    });
    const job = await json(await create(tokenA, { month: '2017-08', kind: 'calls', encoding: 'sjis' }));
    while (await failing.runOnce());
    const status = await json(await f.request('GET', `/api/v1/exports/${job.id}`, { token: tokenA }));
    expect(status).toMatchObject({ status: 'failed', error: 'U+2603 SNOWMAN has no Shift_JIS form' });
    const res = await f.request('GET', `/api/v1/exports/${job.id}/file`, { token: tokenA });
    expect(res.status).toBe(409);
    expect((await json(res)).error.code).toBe('EXPORT_FAILED');
  });

  it('takes a job again when the worker that claimed it died', async () => {
    const job = await json(await create(tokenA, { month: '2017-08', kind: 'numbers', encoding: 'utf-8' }));
    await f.db.database.db.executeQuery(sql`update exports set claimed_at = ${f.now.toISOString()}::timestamptz where id = ${job.id}::uuid`.compile(f.db.database.db));
    expect(await worker.runOnce()).toBe(false); // claimed a moment ago: someone is on it
    f.now = new Date(ORDINARY.getTime() + 3 * 60_000);
    expect(await worker.runOnce()).toBe(true);
    await relogin();
    expect((await json(await f.request('GET', `/api/v1/exports/${job.id}`, { token: tokenA }))).status).toBe('ready');
    f.now = ORDINARY;
    await relogin();
  });

  describe('on the 1st and on the last day of the month (Japan time)', () => {
    it.each([
      ['the 1st', FIRST, new Date('2017-11-29T03:00:00Z')],
      ['the last day', LAST, new Date('2017-12-30T03:00:00Z')],
      ['00:00 on the 1st', JUST_AFTER_LAST, new Date('2017-12-30T03:00:00Z')],
    ])('on %s neither creation nor download is possible: 503 with a clear message', async (_label, when, before) => {
      // The file is made the day before (less than 48 hours earlier), so only the day stands in the way.
      f.now = before;
      await relogin();
      const job = await json(await create(tokenA, { month: '2017-11', kind: 'numbers', encoding: 'utf-8' }));
      while (await worker.runOnce());
      f.now = when;
      await relogin();
      const month = when === JUST_AFTER_LAST ? '2017-12' : '2017-11';
      const created = await create(tokenA, { month, kind: 'numbers', encoding: 'utf-8' });
      expect(created.status).toBe(503);
      const body = await json(created);
      expect(body.error.code).toBe('EXPORT_UNAVAILABLE_TODAY');
      expect(body.error.message).toMatch(/1st and on the last day/);
      if (when !== JUST_AFTER_LAST) {
        const download = await f.request('GET', `/api/v1/exports/${job.id}/file`, { token: tokenA });
        expect(download.status).toBe(503);
        // The status itself stays readable.
        expect((await f.request('GET', `/api/v1/exports/${job.id}`, { token: tokenA })).status).toBe(200);
      }
      f.now = ORDINARY;
      await relogin();
    });

    it('on the 2nd it works again', async () => {
      f.now = SECOND;
      await relogin();
      expect((await create(tokenA, { month: '2017-11', kind: 'calls', encoding: 'utf-8' })).status).toBe(202);
      f.now = ORDINARY;
      await relogin();
    });
  });

  it('built every file from the requesting contract only', () => {
    expect(built.length).toBeGreaterThan(0);
    expect(built.every((b) => b.startsWith(A.code) || b.startsWith(B.code))).toBe(true);
  });
});
