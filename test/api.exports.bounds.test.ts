// One customer's exports cannot fill the disk, the queue or the memory (issue 18, point 2): a ready
// file is handed out again while its figures are unchanged, a contract has a bound of jobs and of
// files, files are stored and sent in chunks with a bound of downloads at once, expired files are
// deleted through an index, and a build that never finishes ends `failed`.
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHUNK_BYTES, DownloadGate, EXPORT_LIMITS, ExportWorker, exportMigrations } from '../api/exports.ts';
import { apiMigrations } from '../api/migrations.ts';
import type { Writable } from 'node:stream';
import type { CsvFileBuilder, CsvFileInput } from '../api/ports.ts';
import { buildCsv } from '../api/wiring.ts';
import { migrate, REQUEST_LIMITS } from '../eventstore/database.ts';
import { projectionMigrations } from '../projections/index.ts';
import { testTargets } from './support/stores.ts';
import { A, B, json, openFixture, recordCalls, row, seedTwoContracts, type Fixture } from './api.support.ts';

const ORDINARY = new Date('2017-12-15T03:00:00Z');
const HOUR = 3_600_000;

describe.each(testTargets)('bounds of the CSV downloads on $name', (target) => {
  let f: Fixture;
  let worker: ExportWorker;
  let tokenA: string;
  let tokenB: string;
  let builds = 0;
  const gate = new DownloadGate({ total: 3, perContract: 2, waiting: 1, waitMs: 30_000 });

  beforeAll(async () => {
    const counting = (async (input: CsvFileInput, out?: Writable) => {
      builds++;
      return out ? buildCsv(input, out) : buildCsv(input);
    }) as CsvFileBuilder;
    f = await openFixture(target, { buildCsv: counting, downloads: gate });
    await seedTwoContracts(f);
    // Enough calls in October that their CSV spans several chunks.
    const many = Array.from({ length: 12_000 }, (_, i) => {
      const second = Math.floor(i / 28) * 7;
      const hhmmss = [Math.floor(second / 3600), Math.floor((second % 3600) / 60), second % 60].map((n) => String(n).padStart(2, '0')).join('');
      return row(A.dialIn, `2017/10/${String(1 + (i % 28)).padStart(2, '0')}`, `${hhmmss}.0`, '国内呼', '8.00');
    });
    await recordCalls(f, A.code, many);
    await f.catchUp();
    worker = new ExportWorker({ db: f.db.database.db, queries: f.queries, build: counting, clock: () => f.now });
    tokenA = await f.login(A.selfId, A.password);
    tokenB = await f.login(B.selfId, B.password);
  }, 300_000);
  afterAll(async () => {
    await f?.close();
  });

  const create = (token: string, body: unknown) => f.request('POST', '/api/v1/exports', { token, json: body });
  const db = () => f.db.database.db;
  const count = async (query: ReturnType<typeof sql<{ n: string }>>) => Number((await query.execute(db())).rows[0]!.n);
  const relogin = async () => {
    tokenA = await f.login(A.selfId, A.password);
    tokenB = await f.login(B.selfId, B.password);
  };
  const clear = async () => {
    await sql`delete from exports`.execute(db());
    f.now = ORDINARY;
    await relogin();
  };

  it('hands out a ready file again (same id, same 48 hours, 200) while the month’s figures are unchanged; a month that moved gets a new one', async () => {
    await clear();
    const first = await json(await create(tokenA, { month: '2017-12', kind: 'numbers', encoding: 'sjis' }));
    while (await worker.runOnce());
    const builtBefore = builds;
    f.now = new Date(ORDINARY.getTime() + HOUR);
    await relogin();
    for (let i = 0; i < 5; i++) {
      const again = await create(tokenA, { month: '2017-12', kind: 'numbers', encoding: 'sjis' });
      expect(again.status).toBe(200);
      const body = await json(again);
      expect(body).toMatchObject({ id: first.id, status: 'ready' });
      expect(new Date(body.expiresAt).getTime()).toBe(ORDINARY.getTime() + 48 * HOUR);
    }
    expect(await worker.runOnce()).toBe(false);
    expect(builds).toBe(builtBefore);
    expect(await count(sql<{ n: string }>`select count(*)::text as n from exports where contract_code = ${A.code}`)).toBe(1);

    // A call arrives in the open month: the file no longer says what the month says.
    await recordCalls(f, A.code, [row(A.dialIn, '2017/12/10', '100000.0', '国内呼', '8.00')]);
    await f.catchUp();
    const moved = await create(tokenA, { month: '2017-12', kind: 'numbers', encoding: 'sjis' });
    expect(moved.status).toBe(202);
    expect((await json(moved)).id).not.toBe(first.id);
  });

  it('refuses a third job at once and a ninth file for one contract with 429 and the error body; the portal says しばらくしてから; other contracts are not held back', async () => {
    await clear();
    const keys = ['2017-08', '2017-09', '2017-10', '2017-11', '2017-12'].flatMap((month) => (['numbers', 'calls'] as const).map((kind) => ({ month, kind, encoding: 'sjis' })));
    expect((await create(tokenA, keys[0])).status).toBe(202);
    expect((await create(tokenA, keys[1])).status).toBe(202);
    const third = await create(tokenA, keys[2]);
    expect(third.status).toBe(429);
    expect(third.headers.get('retry-after')).toBe('60');
    const body = await json(third);
    expect(body.error.code).toBe('TOO_MANY_EXPORTS');
    expect(body.error.message).toMatch(/2 files are being created/);
    expect((await create(tokenB, keys[2])).status).toBe(202);

    for (let i = 2; i < EXPORT_LIMITS.files; i += 2) {
      while (await worker.runOnce());
      expect((await create(tokenA, keys[i])).status).toBe(202);
      expect((await create(tokenA, keys[i + 1])).status).toBe(202);
    }
    while (await worker.runOnce());
    const ninth = await create(tokenA, keys[EXPORT_LIMITS.files]);
    expect(ninth.status).toBe(429);
    expect((await json(ninth)).error.message).toMatch(/keeps 8 files already/);
    // Asking again for a file it has is no new file.
    expect((await create(tokenA, keys[0])).status).toBe(200);

    // The portal's 作成 at the bound: a page that says to try again later.
    const login = await f.app.request('/login');
    const cookie = login.headers.getSetCookie().map((c) => c.split(';')[0]).join('; ');
    const csrf = /name="_csrf" value="([^"]+)"/.exec(await login.text())![1]!;
    const loggedIn = await f.app.request('/login', { method: 'POST', headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ selfId: A.selfId, password: A.password, _csrf: csrf }).toString() });
    const session = loggedIn.headers.getSetCookie().map((c) => c.split(';')[0]).join('; ');
    const confirm = await (await f.app.request(`/charges/${keys[8]!.month}/exports/new?kind=${keys[8]!.kind}`, { headers: { cookie: session } })).text();
    const formCsrf = /name="_csrf" value="([^"]+)"/.exec(confirm)![1]!;
    const page = await f.app.request(`/charges/${keys[8]!.month}/exports`, {
      method: 'POST',
      headers: { cookie: session, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ kind: keys[8]!.kind, encoding: 'sjis', _csrf: formCsrf }).toString(),
    });
    expect(page.status).toBe(429);
    expect(await page.text()).toContain('しばらくしてから');
  });

  it('stores a file in chunks and sends exactly its bytes, with its length', async () => {
    await clear();
    const job = await json(await create(tokenA, { month: '2017-10', kind: 'calls', encoding: 'utf-8' }));
    while (await worker.runOnce());
    const expected = await buildCsv({ queries: f.queries, contractCode: A.code, month: '2017-10', kind: 'calls', encoding: 'utf-8' });
    expect(expected.byteLength).toBeGreaterThan(2 * CHUNK_BYTES);
    const { rows: chunks } = await sql<{ seq: number; size: number }>`
      select seq, length(bytes) as size from export_chunks where export_id = ${job.id}::uuid order by seq`.execute(db());
    expect(chunks.map((c) => c.seq)).toEqual(chunks.map((_, i) => i));
    expect(chunks.every((c) => Number(c.size) <= CHUNK_BYTES)).toBe(true);
    const res = await f.request('GET', `/api/v1/exports/${job.id}/file`, { token: tokenA });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-length')).toBe(String(expected.byteLength));
    expect(Buffer.from(await res.arrayBuffer()).equals(Buffer.from(expected))).toBe(true);
    expect(gate.downloads).toBe(0);
  });

  // Issue 18, the noisy neighbour: a download read its chunks through the requests' pool, as text
  // (hex) decoded in JavaScript. It reads them through a lane of its own now, in binary.
  it.runIf(target.name === 'PostgreSQL')('streams a download through its own lane: with every connection of the requests’ pool taken, the file still arrives whole', async () => {
    await clear();
    const job = await json(await create(tokenA, { month: '2017-10', kind: 'calls', encoding: 'sjis' }));
    while (await worker.runOnce());
    const expected = await buildCsv({ queries: f.queries, contractCode: A.code, month: '2017-10', kind: 'calls', encoding: 'sjis' });
    const requests = f.db.database.forRequests();
    const app = f.appWith({ database: requests, downloads: new DownloadGate() });
    const res = await app.request(`/api/v1/exports/${job.id}/file`, { headers: { authorization: `Bearer ${tokenA}` } });
    expect(res.status).toBe(200);
    // The request has been answered; its body is read from here on, while the portal's queries
    // hold every connection of their pool.
    const held = await Promise.all(Array.from({ length: REQUEST_LIMITS.poolSize }, () => requests.pool!.connect()));
    try {
      expect(requests.pool!.totalCount).toBe(REQUEST_LIMITS.poolSize);
      expect(requests.pool!.idleCount).toBe(0);
      const body = Buffer.from(await res.arrayBuffer());
      expect(body.length).toBe(expected.byteLength);
      expect(body.equals(Buffer.from(expected))).toBe(true);
    } finally {
      for (const client of held) client.release();
    }
  });

  it('sends every byte value of a stored chunk as it is (binary, not text)', async () => {
    await clear();
    const id = '00000000-0000-4000-8000-0000000000ff';
    const bytes = Buffer.alloc(CHUNK_BYTES);
    for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 7 + (i >> 8)) & 0xff;
    const at = ORDINARY.toISOString();
    await sql`
      insert into exports (id, contract_code, month, kind, encoding, status, created_at, ready_at, expires_at, bytes)
      values (${id}::uuid, ${A.code}, '2017-10', 'calls', 'utf-8', 'ready', ${at}::timestamptz, ${at}::timestamptz, ${new Date(ORDINARY.getTime() + 48 * HOUR).toISOString()}::timestamptz, ${bytes.length * 2 + 3})`.execute(db());
    await sql`insert into export_chunks (export_id, seq, bytes) values (${id}::uuid, 0, ${bytes}), (${id}::uuid, 1, ${bytes}), (${id}::uuid, 2, ${Buffer.from([0, 0xff, 0x0a])})`.execute(db());
    const res = await f.request('GET', `/api/v1/exports/${id}/file`, { token: tokenA });
    expect(res.status).toBe(200);
    expect(Buffer.from(await res.arrayBuffer()).equals(Buffer.concat([bytes, bytes, Buffer.from([0, 0xff, 0x0a])]))).toBe(true);
  });

  // Issue 18: a build held the whole file in memory before storing it (15 MB for a month of
  // 200,000 calls, 75 MB at 1M). It stores each chunk as it is made now.
  it('builds a file into its chunks as it is made: never more than two chunks written and not yet stored, whatever the file’s size', async () => {
    await clear();
    const job = await json(await create(tokenA, { month: '2017-09', kind: 'calls', encoding: 'sjis' }));
    const piece = Buffer.alloc(48 * 1024, 0x41);
    const pieces = 40; // 1.9 MB: more than seven chunks
    let written = 0;
    let mostAhead = 0;
    const storedBytes = async () =>
      count(sql<{ n: string }>`select coalesce(sum(length(bytes)), 0)::text as n from export_chunks where export_id = ${job.id}::uuid`);
    // A builder that writes as fast as it is let (minding back-pressure), and measures how far its
    // writes run ahead of what is stored; one not given a place to write answers the whole file.
    const flooding = (async (_input: CsvFileInput, out?: Writable) => {
      if (!out) return Buffer.concat(Array.from({ length: pieces }, () => piece));
      for (let i = 0; i < pieces; i++) {
        if (!out.write(piece)) await new Promise((resolve) => out.once('drain', resolve));
        written += piece.length;
        mostAhead = Math.max(mostAhead, written - (await storedBytes()));
      }
    }) as CsvFileBuilder;
    // Where a builder answers the file, that is what it holds.
    const holding = (async () => Buffer.concat(Array.from({ length: pieces }, () => piece))) as CsvFileBuilder;
    await new ExportWorker({ db: db(), queries: f.queries, build: flooding, clock: () => f.now }).runOnce();
    expect(written).toBe(pieces * piece.length);
    expect(mostAhead).toBeLessThanOrEqual(2 * CHUNK_BYTES + piece.length);
    const res = await f.request('GET', `/api/v1/exports/${job.id}/file`, { token: tokenA });
    expect(res.status).toBe(200);
    expect(Buffer.from(await res.arrayBuffer()).equals(Buffer.concat(Array.from({ length: pieces }, () => piece)))).toBe(true);
    // The other way in stores the same file.
    await clear();
    const other = await json(await create(tokenA, { month: '2017-09', kind: 'calls', encoding: 'sjis' }));
    await new ExportWorker({ db: db(), queries: f.queries, build: holding, clock: () => f.now }).runOnce();
    const again = await f.request('GET', `/api/v1/exports/${other.id}/file`, { token: tokenA });
    expect(Buffer.from(await again.arrayBuffer()).equals(Buffer.concat(Array.from({ length: pieces }, () => piece)))).toBe(true);
  });

  it('leaves no chunks behind a build that failed half way, and none of another attempt in a file that turns ready', async () => {
    await clear();
    const job = await json(await create(tokenA, { month: '2017-09', kind: 'calls', encoding: 'sjis' }));
    const failing = (async (_input: CsvFileInput, out?: Writable) => {
      for (let i = 0; i < 3; i++) if (!out!.write(Buffer.alloc(CHUNK_BYTES, 0x42))) await new Promise((resolve) => out!.once('drain', resolve));
      throw new Error('the database went away half way');
    }) as CsvFileBuilder;
    await new ExportWorker({ db: db(), queries: f.queries, build: failing, clock: () => f.now }).runOnce();
    const chunksOf = () => count(sql<{ n: string }>`select count(*)::text as n from export_chunks where export_id = ${job.id}::uuid`);
    expect(await chunksOf()).toBe(0);
    expect((await json(await f.request('GET', `/api/v1/exports/${job.id}`, { token: tokenA }))).status).toBe('pending');
    // A stale chunk past the end of the real file (an attempt that died with more written) is gone once it is ready.
    await sql`insert into export_chunks (export_id, seq, bytes) values (${job.id}::uuid, 999, ${Buffer.from('stale')})`.execute(db());
    while (await worker.runOnce());
    const expected = await buildCsv({ queries: f.queries, contractCode: A.code, month: '2017-09', kind: 'calls', encoding: 'sjis' });
    const res = await f.request('GET', `/api/v1/exports/${job.id}/file`, { token: tokenA });
    expect(res.status).toBe(200);
    expect(Buffer.from(await res.arrayBuffer()).equals(Buffer.from(expected))).toBe(true);
    expect(await chunksOf()).toBe(Math.max(1, Math.ceil(expected.byteLength / CHUNK_BYTES)));
  });

  it('lets a contract download two files at once, a third wait for one of them to end (429 beyond it), the server three (503 beyond); a finished or dropped download frees its place', async () => {
    await clear();
    const a = await json(await create(tokenA, { month: '2017-10', kind: 'calls', encoding: 'sjis' }));
    const b = await json(await create(tokenB, { month: '2017-11', kind: 'numbers', encoding: 'sjis' }));
    while (await worker.runOnce());
    const download = (token: string, id: string, init: { signal?: AbortSignal } = {}) =>
      Promise.resolve(f.app.request(`/api/v1/exports/${id}/file`, { headers: { authorization: `Bearer ${token}` }, ...init }));
    const first = await download(tokenA, a.id);
    const second = await download(tokenA, a.id);
    expect([first.status, second.status]).toEqual([200, 200]);
    // The third waits for its turn rather than being refused (a refused client comes straight back).
    let thirdAnswered = false;
    const third = download(tokenA, a.id).finally(() => (thirdAnswered = true));
    await new Promise((r) => setTimeout(r, 50));
    expect(thirdAnswered).toBe(false);
    const fourth = await download(tokenA, a.id);
    expect(fourth.status).toBe(429);
    expect((await json(fourth)).error.code).toBe('TOO_MANY_DOWNLOADS');
    const ofB = await download(tokenB, b.id);
    expect(ofB.status).toBe(200);
    const busy = await download(tokenB, b.id);
    expect(busy.status).toBe(503);
    expect((await json(busy)).error.code).toBe('DOWNLOADS_BUSY');
    expect(busy.headers.get('retry-after')).toBe('5');

    // A dropped download hands its place to the waiting one.
    await first.body!.cancel();
    const thirdFile = await third;
    expect(thirdFile.status).toBe(200);
    expect(gate.downloads).toBe(3);
    await ofB.arrayBuffer();
    expect(gate.downloads).toBe(2);
    // A waiting download whose customer goes away leaves the queue: the next one may wait.
    const leaving = new AbortController();
    const gone = download(tokenA, a.id, { signal: leaving.signal });
    await new Promise((r) => setTimeout(r, 50));
    leaving.abort();
    await gone.catch(() => undefined);
    const waiting = download(tokenA, a.id);
    await new Promise((r) => setTimeout(r, 50));
    await thirdFile.arrayBuffer();
    const again = await waiting;
    expect(again.status).toBe(200);
    await again.arrayBuffer();
    await second.arrayBuffer();
    expect(gate.downloads).toBe(0);
  });

  it('deletes an expired file’s bytes by an indexed query (410 then), and the job a week later (404)', async () => {
    await clear();
    const job = await json(await create(tokenA, { month: '2017-10', kind: 'calls', encoding: 'sjis' }));
    while (await worker.runOnce());
    const chunksOf = () => count(sql<{ n: string }>`select count(*)::text as n from export_chunks where export_id = ${job.id}::uuid`);
    expect(await chunksOf()).toBeGreaterThan(1);
    f.now = new Date(ORDINARY.getTime() + 49 * HOUR);
    await relogin();
    const { purgeExpiredExports } = await import('../api/exports.ts');
    expect(await purgeExpiredExports(db(), f.now)).toBe(1);
    expect(await chunksOf()).toBe(0);
    expect((await f.request('GET', `/api/v1/exports/${job.id}`, { token: tokenA })).status).toBe(410);
    f.now = new Date(ORDINARY.getTime() + 49 * HOUR + 8 * 24 * HOUR);
    await relogin();
    await purgeExpiredExports(db(), f.now);
    expect(await count(sql<{ n: string }>`select count(*)::text as n from exports where id = ${job.id}::uuid`)).toBe(0);
    expect((await f.request('GET', `/api/v1/exports/${job.id}`, { token: tokenA })).status).toBe(404);

    // The purge finds what is due through the index on expires_at, whatever the table's size.
    await sql`set enable_seqscan = off`.execute(db());
    try {
      const { rows } = await sql<{ 'QUERY PLAN': string }>`
        explain select id from exports where expires_at <= now() and deleted_at is null order by expires_at limit 500`.execute(db());
      expect(rows.map((r) => r['QUERY PLAN']).join('\n')).toMatch(/Index Scan (Backward )?(using|on) exports_expiry/);
    } finally {
      await sql`reset enable_seqscan`.execute(db());
    }
  });

  it('marks failed, with its reason, a job whose build never finished three times (the process died with it), instead of trying it at every restart', async () => {
    await clear();
    const job = await json(await create(tokenA, { month: '2017-09', kind: 'calls', encoding: 'sjis' }));
    // Each "process" claims the job and dies while building: its build never ends.
    const dying = () => new ExportWorker({ db: db(), queries: f.queries, build: () => new Promise<Uint8Array>(() => {}), clock: () => f.now, claimTimeoutMs: 60_000 });
    for (let restart = 0; restart < 3; restart++) {
      f.now = new Date(ORDINARY.getTime() + restart * 2 * 60_000);
      void dying().runOnce();
      await new Promise((r) => setTimeout(r, 50));
      expect((await json(await f.request('GET', `/api/v1/exports/${job.id}`, { token: await f.login(A.selfId, A.password) }))).status).toBe('pending');
    }
    f.now = new Date(ORDINARY.getTime() + 10 * 60_000);
    expect(await worker.runOnce()).toBe(true);
    const status = await json(await f.request('GET', `/api/v1/exports/${job.id}`, { token: await f.login(A.selfId, A.password) }));
    expect(status.status).toBe('failed');
    expect(status.error).toMatch(/stopped 3 times before finishing/);
    expect(await worker.runOnce()).toBe(false);
  });
});

describe('the pace of a contract’s downloads', () => {
  it('is shared by its downloads (a second one halves the first’s), and another contract’s downloads do not wait for it', () => {
    const gate = new DownloadGate({ total: 16, perContract: 2 }, 4 * 2 ** 20);
    const chunkMs = (CHUNK_BYTES / (4 * 2 ** 20)) * 1000;
    // Two downloads of A ask for a chunk each, four times, at the same instant.
    const waits = Array.from({ length: 8 }, () => gate.delayFor(A.code, CHUNK_BYTES, 1000));
    expect(waits).toEqual(waits.map((_, i) => i * chunkMs));
    expect(gate.delayFor(B.code, CHUNK_BYTES, 1000)).toBe(0);
    // Time that passed counts: a second later A's booked time is spent and it sends at once.
    expect(gate.delayFor(A.code, CHUNK_BYTES, 1000 + 8 * chunkMs)).toBe(0);
    // No credit is kept for later: after a pause, one chunk's worth at once, then the pace again.
    expect(gate.delayFor(A.code, CHUNK_BYTES, 60_000)).toBe(0);
    expect(gate.delayFor(A.code, CHUNK_BYTES, 60_000)).toBe(chunkMs);
  });
});

describe.each(testTargets)('export files of the version before, on $name', (target) => {
  it('are moved into chunks when unexpired (same bytes), and marked deleted when expired', async () => {
    const before = Object.fromEntries(Object.entries(apiMigrations).filter(([name]) => name !== '0203-api-export-chunks'));
    const t = await target.open([projectionMigrations, before]);
    try {
      const db = t.database.db;
      const big = Buffer.alloc(CHUNK_BYTES * 2 + 123, 0x41);
      const now = Date.now();
      await sql`
        insert into exports (id, contract_code, month, kind, encoding, status, created_at, ready_at, expires_at, content)
        values ('00000000-0000-4000-8000-000000000001', ${A.code}, '2017-11', 'calls', 'sjis', 'ready', ${new Date(now).toISOString()}::timestamptz,
                ${new Date(now).toISOString()}::timestamptz, ${new Date(now + 47 * HOUR).toISOString()}::timestamptz, ${big}),
               ('00000000-0000-4000-8000-000000000002', ${A.code}, '2017-10', 'calls', 'sjis', 'ready', ${new Date(now - 50 * HOUR).toISOString()}::timestamptz,
                ${new Date(now - 50 * HOUR).toISOString()}::timestamptz, ${new Date(now - 2 * HOUR).toISOString()}::timestamptz, ${Buffer.from('old')})`.execute(db);
      await migrate(t.database, exportMigrations);
      const { rows } = await sql<{ bytes: Uint8Array }>`
        select bytes from export_chunks where export_id = '00000000-0000-4000-8000-000000000001' order by seq`.execute(db);
      expect(rows).toHaveLength(3);
      expect(Buffer.concat(rows.map((r) => Buffer.from(r.bytes))).equals(big)).toBe(true);
      const { rows: jobs } = await sql<{ id: string; bytes: string | null; content: unknown; deleted: boolean }>`
        select id::text as id, bytes::text as bytes, content, deleted_at is not null as deleted from exports order by id`.execute(db);
      expect(jobs).toEqual([
        { id: '00000000-0000-4000-8000-000000000001', bytes: String(big.length), content: null, deleted: false },
        { id: '00000000-0000-4000-8000-000000000002', bytes: null, content: null, deleted: true },
      ]);
    } finally {
      await t.cleanup();
    }
  });
});
