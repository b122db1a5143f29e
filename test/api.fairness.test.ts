// One customer's burst waits its turn (api/fairness.ts): a few requests of a contract in work at
// once, the others queued, 429 beyond the queue; a few handlers in work in all, the freed place
// going to the contract with the least recent work; a download keeps its contract's place.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DOWNLOAD_LIMITS, DownloadGate, ExportWorker } from '../api/exports.ts';
import { ContractRequestGate, type GateRefusal, type LanePlace, type RequestLimits } from '../api/fairness.ts';
import { buildCsv } from '../api/wiring.ts';
import { testTargets } from './support/stores.ts';
import { A, B, json, openFixture, seedTwoContracts, type Fixture } from './api.support.ts';
import { listenOnLoopback } from './support/http.ts';

/** The place a request got; a refusal fails the test. */
async function placed(entering: Promise<LanePlace | GateRefusal>): Promise<LanePlace> {
  const place = await entering;
  if (typeof place === 'string') throw new Error(`refused: ${place}`);
  return place;
}

/** A gate on a clock the test moves (ms). */
function gateAt(limits: Partial<RequestLimits>) {
  const clock = { ms: 0 };
  return { gate: new ContractRequestGate(limits, () => clock.ms), clock };
}

/** Records the order in which waiting requests get their place. */
function queue(gate: ContractRequestGate, order: string[], contract: string, label = contract): Promise<LanePlace> {
  return placed(gate.enter(contract)).then((place) => (order.push(label), place));
}

const settled = () => new Promise((r) => setImmediate(r));

describe('the turn of a contract’s requests (ContractRequestGate)', () => {
  it('lets the first N in, queues the next in order, refuses beyond the queue, and hands each turn over', async () => {
    const gate = new ContractRequestGate({ inFlight: 2, waiting: 2, total: 8 });
    const first = await placed(gate.enter('a'));
    const second = await placed(gate.enter('a'));
    const order: string[] = [];
    const third = queue(gate, order, 'a', 'third');
    const fourth = queue(gate, order, 'a', 'fourth');
    expect(await gate.enter('a')).toBe('queue-full');
    expect(await gate.enter('b')).toBeDefined();
    expect(gate.inFlight('a')).toBe(2);
    first.release();
    first.release(); // twice is once
    (await third).release();
    second.release();
    (await fourth).release();
    expect(order).toEqual(['third', 'fourth']);
    expect(gate.inFlight('a')).toBe(0);
  });

  it('keeps the server’s handlers in work to its total: another contract waits for a freed place though its own lane is empty', async () => {
    const { gate } = gateAt({ inFlight: 4, waiting: 4, total: 2 });
    const a1 = await placed(gate.enter('a'));
    await placed(gate.enter('a'));
    const order: string[] = [];
    const b = queue(gate, order, 'b');
    await settled();
    expect(order).toEqual([]);
    expect(gate.working).toBe(2);
    a1.release();
    (await b).release();
    expect(order).toEqual(['b']);
  });

  it('gives a freed place to the contract with the least recent work, not to the one that asked first', async () => {
    const { gate, clock } = gateAt({ inFlight: 4, waiting: 8, total: 1 });
    // The heavy contract has kept the server's one place for 300 ms; the light one has done nothing.
    const heavy = await placed(gate.enter('heavy'));
    clock.ms = 300;
    const order: string[] = [];
    const heavyNext = queue(gate, order, 'heavy', 'heavy again');
    const light = queue(gate, order, 'light');
    heavy.release();
    (await light).release();
    (await heavyNext).release();
    expect(order).toEqual(['light', 'heavy again']);
    expect(gate.recentWork('heavy')).toBeGreaterThan(gate.recentWork('light'));
  });

  it('serves contracts with equal recent work in the order they asked', async () => {
    const { gate } = gateAt({ inFlight: 4, waiting: 8, total: 1 });
    const holder = await placed(gate.enter('x'));
    const order: string[] = [];
    const b = queue(gate, order, 'b');
    const c = queue(gate, order, 'c');
    holder.release();
    (await b).release();
    (await c).release();
    expect(order).toEqual(['b', 'c']);
  });

  it('lets past work fade: a second after, half of it counts; long after, none', async () => {
    const { gate, clock } = gateAt({ inFlight: 4, waiting: 8, total: 8 });
    const place = await placed(gate.enter('a'));
    clock.ms = 400;
    place.release();
    expect(gate.recentWork('a')).toBe(400);
    clock.ms = 1_400;
    expect(gate.recentWork('a')).toBeCloseTo(200, 6);
    clock.ms = 60_000;
    expect(gate.recentWork('a')).toBeLessThan(1e-9);
  });

  it('a kept place (a download still being sent) frees its handler place for others but stays in its contract’s lane until the response ends', async () => {
    const { gate, clock } = gateAt({ inFlight: 1, waiting: 4, total: 1 });
    const download = await placed(gate.enter('a'));
    const order: string[] = [];
    const other = queue(gate, order, 'b');
    const mine = queue(gate, order, 'a', 'a again');
    const ended = download.keep();
    download.release(); // the handler returning does not end the download
    (await other).release();
    await settled();
    expect(order).toEqual(['b']);
    expect(gate.inFlight('a')).toBe(1);
    expect(gate.working).toBe(0);
    clock.ms = 2_000;
    ended();
    ended(); // twice is once
    (await mine).release();
    expect(order).toEqual(['b', 'a again']);
    expect(gate.inFlight('a')).toBe(0);
    // Its two seconds of sending count as the contract's work.
    expect(gate.recentWork('a')).toBeGreaterThan(1_000);
  });

  it('starts at most `burst` of a contract’s requests at once, then `perSecond`: the rest wait for their turn, not for a freed place', async () => {
    const clock = { ms: 0 };
    const wakes: { wake: () => void; ms: number; live: boolean }[] = [];
    const gate = new ContractRequestGate({ inFlight: 100, waiting: 100, total: 100, perSecond: 10, burst: 3 }, () => clock.ms, (wake, ms) => {
      const armed = { wake, ms, live: true };
      wakes.push(armed);
      return () => (armed.live = false);
    });
    for (let i = 0; i < 3; i++) (await placed(gate.enter('a'))).release();
    const order: string[] = [];
    const fourth = queue(gate, order, 'a', 'fourth');
    const fifth = queue(gate, order, 'a', 'fifth');
    await settled();
    expect(order).toEqual([]);
    // Another contract is not held back by a's rate.
    (await placed(gate.enter('b'))).release();
    // The wake-up is armed for a's next turn: 1 / 10 s.
    const armed = wakes.filter((w) => w.live);
    expect(armed.map((w) => w.ms)).toEqual([100]);
    clock.ms = 60;
    armed[0]!.live = false;
    armed[0]!.wake();
    await settled();
    expect(order).toEqual([]);
    clock.ms = 100;
    wakes.filter((w) => w.live).forEach((w) => ((w.live = false), w.wake()));
    (await fourth).release();
    expect(order).toEqual(['fourth']);
    clock.ms = 200;
    wakes.filter((w) => w.live).forEach((w) => ((w.live = false), w.wake()));
    (await fifth).release();
    expect(order).toEqual(['fourth', 'fifth']);
    // After a quiet spell the bucket is full again, and no fuller than `burst`.
    clock.ms = 60_000;
    for (let i = 0; i < 3; i++) (await placed(gate.enter('a'))).release();
    const sixth = queue(gate, order, 'a', 'sixth');
    await settled();
    expect(order).toEqual(['fourth', 'fifth']);
    clock.ms += 100;
    wakes.filter((w) => w.live).forEach((w) => ((w.live = false), w.wake()));
    (await sixth).release();
  });

  it('refuses a request with server-full once the requests waiting in all reach their bound, and with queue-full for its own queue', async () => {
    const { gate } = gateAt({ inFlight: 1, waiting: 2, total: 8, waitingTotal: 2 });
    const a = await placed(gate.enter('a'));
    const b = await placed(gate.enter('b'));
    const waitingA = gate.enter('a');
    const waitingB = gate.enter('b');
    expect(await gate.enter('c')).not.toBeTypeOf('string');
    expect(await gate.enter('a')).toBe('server-full');
    a.release();
    b.release();
    (await placed(waitingA)).release();
    (await placed(waitingB)).release();
    const { gate: small } = gateAt({ inFlight: 1, waiting: 1, total: 8 });
    await placed(small.enter('a'));
    void small.enter('a');
    expect(await small.enter('a')).toBe('queue-full');
  });

  it('lets a download beyond its contract’s wait for one of them to end, in order, and gives up after waitMs', async () => {
    const gate = new DownloadGate({ total: 4, perContract: 1, waiting: 2, waitMs: 40 });
    const first = await gate.take('a');
    expect(first).toBeTypeOf('function');
    const order: string[] = [];
    const second = gate.take('a').then((r) => (order.push('second'), r));
    const third = gate.take('a').then((r) => (order.push('third'), r));
    expect(await gate.take('a')).toBe('contract');
    expect(await gate.take('b')).toBeTypeOf('function');
    (first as () => void)();
    const got = await second;
    expect(got).toBeTypeOf('function');
    expect(gate.downloads).toBe(2);
    // The third's wait runs out while the second holds the place.
    expect(await third).toBe('contract');
    expect(order).toEqual(['second', 'third']);
    (got as () => void)();
    expect(gate.downloads).toBe(1);
  });

  it('takes a waiting request whose client went away out of the queue: no place, no turn, its room in the queue free again', async () => {
    const { gate, clock } = gateAt({ inFlight: 1, waiting: 2, total: 8, perSecond: 1, burst: 2 });
    const held = await placed(gate.enter('a'));
    const dropped = new AbortController();
    const order: string[] = [];
    const gone = gate.enter('a', dropped.signal).then((r) => (order.push(typeof r === 'string' ? r : 'placed'), r));
    const second = queue(gate, order, 'a', 'second');
    expect(await gate.enter('a')).toBe('queue-full');
    expect(gate.waiting).toBe(2);
    dropped.abort();
    expect(await gone).toBe('gone');
    expect(gate.waiting).toBe(1);
    // Its room in the queue is free again, and the place goes to the one still there.
    const third = queue(gate, order, 'a', 'third');
    held.release();
    (await second).release();
    clock.ms += 1_000; // the third waits for its turn of the rate: one a second after the burst of two
    await new Promise((r) => setImmediate(r));
    (gate as unknown as { dispatch(): void }).dispatch();
    (await third).release();
    expect(order).toEqual(['gone', 'second', 'third']);
    expect(gate.waiting).toBe(0);
  });

  it('sets a place aside while its request waits elsewhere: the lane and the handler are free, and it comes back as a kept place', async () => {
    const gate = new ContractRequestGate({ inFlight: 1, waiting: 2, total: 8 });
    const place = await placed(gate.enter('a'));
    const back = place.setAside();
    expect([gate.inFlight('a'), gate.working]).toEqual([0, 0]);
    const other = await placed(gate.enter('a'));
    const release = back();
    // Back as a download being sent: in its contract's lane, not among the handlers.
    expect([gate.inFlight('a'), gate.working]).toEqual([2, 1]);
    place.release(); // the set-aside place was released already
    other.release();
    expect(gate.inFlight('a')).toBe(1);
    release();
    release();
    expect([gate.inFlight('a'), gate.working]).toEqual([0, 0]);
  });

  it('gives no place to a request whose client is already gone', async () => {
    const gate = new ContractRequestGate({ inFlight: 1, waiting: 2, total: 8 });
    const dropped = new AbortController();
    dropped.abort();
    expect(await gate.enter('a', dropped.signal)).toBe('gone');
    expect(gate.inFlight('a')).toBe(0);
    expect(gate.working).toBe(0);
  });

  it('forgets idle contracts whose work has faded, so a gate seen by many contracts stays small', async () => {
    const { gate, clock } = gateAt({ inFlight: 1, waiting: 1, total: 8 });
    for (let i = 0; i < 600; i++) {
      clock.ms += 5;
      (await placed(gate.enter(`c${i}`))).release();
      clock.ms += 60_000;
    }
    // Each sweep (every 256th new contract) drops every idle lane with its work faded.
    expect((gate as unknown as { lanes: Map<string, unknown> }).lanes.size).toBeLessThan(256);
  });
});

describe.each(testTargets)('a contract’s burst on $name', (target) => {
  let f: Fixture;
  const gate = new ContractRequestGate({ inFlight: 1, waiting: 1, total: 8 });
  const downloads = new DownloadGate();
  beforeAll(async () => {
    f = await openFixture(target, { app: { requestGate: gate }, buildCsv, downloads });
    await seedTwoContracts(f);
  });
  afterAll(async () => {
    await f?.close();
  });

  it('answers 429 with the error body to a request beyond its queue, on the API and the portal, while another contract is served', async () => {
    const tokenA = await f.login(A.selfId, A.password);
    const tokenB = await f.login(B.selfId, B.password);
    const held = await placed(gate.enter(A.code));
    const queued = gate.enter(A.code);
    const res = await f.request('GET', '/api/v1/charges', { token: tokenA });
    expect(res.status).toBe(429);
    expect(res.headers.get('retry-after')).toBe('1');
    expect((await json(res)).error.code).toBe('TOO_MANY_REQUESTS');
    const page = await f.app.request('/charges', { headers: { cookie: `ledger_session=${tokenA}` } });
    expect(page.status).toBe(429);
    expect(await page.text()).toContain('しばらくしてから');
    expect((await f.request('GET', '/api/v1/charges', { token: tokenB })).status).toBe(200);
    held.release();
    (await placed(queued)).release();
    expect((await f.request('GET', '/api/v1/charges', { token: tokenA })).status).toBe(200);
  });

  it('makes a contract past its rate wait for its turn (200, not 429) while another contract is answered at once', async () => {
    const paced = new ContractRequestGate({ perSecond: 2, burst: 1 });
    const app = f.appWith({ requestGate: paced });
    const tokenA = await f.login(A.selfId, A.password);
    const tokenB = await f.login(B.selfId, B.password);
    const get = (token: string) => app.request('/api/v1/charges', { headers: { authorization: `Bearer ${token}` } });
    const started = performance.now();
    let aDone = false;
    const fromA = Promise.all([get(tokenA), get(tokenA), get(tokenA), get(tokenA)]).finally(() => (aDone = true));
    // B is answered while A's last requests still wait for their turns.
    expect((await get(tokenB)).status).toBe(200);
    expect(aDone).toBe(false);
    expect((await fromA).map((r) => r.status)).toEqual([200, 200, 200, 200]);
    // One at once (the burst), then one every 500 ms.
    expect(performance.now() - started).toBeGreaterThanOrEqual(1_450);
  });

  it('answers 503 SERVER_BUSY when the requests waiting in all are at their bound', async () => {
    const crowded = new ContractRequestGate({ inFlight: 1, waiting: 4, total: 8, waitingTotal: 1 });
    const app = f.appWith({ requestGate: crowded });
    const tokenA = await f.login(A.selfId, A.password);
    const tokenB = await f.login(B.selfId, B.password);
    const heldA = await placed(crowded.enter(A.code));
    const heldB = await placed(crowded.enter(B.code));
    const queued = crowded.enter(A.code);
    const res = await app.request('/api/v1/charges', { headers: { authorization: `Bearer ${tokenB}` } });
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBe('1');
    expect((await json(res)).error.code).toBe('SERVER_BUSY');
    heldA.release();
    heldB.release();
    (await placed(queued)).release();
    expect((await app.request('/api/v1/charges', { headers: { authorization: `Bearer ${tokenB}` } })).status).toBe(200);
  });

  it('counts a download in its contract’s lane until its last byte is read, not while the handler runs only', async () => {
    const tokenA = await f.login(A.selfId, A.password);
    const tokenB = await f.login(B.selfId, B.password);
    const job = await json(await f.request('POST', '/api/v1/exports', { token: tokenA, json: { month: '2017-11', kind: 'calls', encoding: 'utf-8' } }));
    const worker = new ExportWorker({ db: f.db.database.db, queries: f.queries, build: buildCsv, clock: () => f.now });
    while (await worker.runOnce());
    const download = await f.request('GET', `/api/v1/exports/${job.id}/file`, { token: tokenA });
    expect(download.status).toBe(200);
    // The body is not read yet: A's one place is the download's, its queue of one takes the next
    // request and the one after is refused; B is served.
    expect(gate.inFlight(A.code)).toBe(1);
    const waiting = f.request('GET', '/api/v1/charges', { token: tokenA });
    await settled();
    expect((await f.request('GET', '/api/v1/charges', { token: tokenA })).status).toBe(429);
    expect((await f.request('GET', '/api/v1/charges', { token: tokenB })).status).toBe(200);
    const text = await download.text();
    expect(text.split('\r\n')[0]).toContain('ご利用電話番号');
    expect((await waiting).status).toBe(200);
    expect(gate.inFlight(A.code)).toBe(0);
    // A HEAD is answered without the file, and gives both places back (hono drops the body unread).
    for (const path of [`/api/v1/exports/${job.id}/file`, `/exports/${job.id}/file`]) {
      const head = await f.app.request(path, { method: 'HEAD', headers: { authorization: `Bearer ${tokenA}`, cookie: `ledger_session=${tokenA}` } });
      expect(head.status, path).toBe(200);
      expect(head.body, path).toBeNull();
      expect(gate.inFlight(A.code), path).toBe(0);
      expect(downloads.downloads, path).toBe(0);
    }
    // A download given up half way gives its place back too.
    const abandoned = await f.request('GET', `/api/v1/exports/${job.id}/file`, { token: tokenA });
    expect(gate.inFlight(A.code)).toBe(1);
    await abandoned.body!.cancel();
    expect(gate.inFlight(A.code)).toBe(0);
  });
});

describe.each(testTargets)('a download over a real socket on $name', (target) => {
  let f: Fixture;
  const gate = new ContractRequestGate({ inFlight: 2, waiting: 2, total: 8 });
  beforeAll(async () => {
    // A pace that holds the file's first bytes back: the answer has begun, the file is still being sent.
    const holdingBack = new (class extends DownloadGate {
      override delayFor(): number {
        return 60_000;
      }
    })(DOWNLOAD_LIMITS);
    f = await openFixture(target, { app: { requestGate: gate }, buildCsv, downloads: holdingBack });
    await seedTwoContracts(f);
  });
  afterAll(async () => {
    await f?.close();
  });

  it('keeps no place of its contract for a download waiting for its turn: the customer’s pages are answered meanwhile', async () => {
    const token = await f.login(A.selfId, A.password);
    const job = await json(await f.request('POST', '/api/v1/exports', { token, json: { month: '2017-11', kind: 'calls', encoding: 'sjis' } }));
    const worker = new ExportWorker({ db: f.db.database.db, queries: f.queries, build: buildCsv, clock: () => f.now });
    while (await worker.runOnce());
    // One download at a time for the contract, and a lane of two: the first file holds one place.
    const oneAtATime = new (class extends DownloadGate {
      override delayFor(): number {
        return 60_000;
      }
    })({ total: 4, perContract: 1, waiting: 2, waitMs: 30_000 });
    const app = f.appWith({ requestGate: gate, downloads: oneAtATime });
    const get = (path: string, init: RequestInit = {}) => Promise.resolve(app.request(path, { headers: { authorization: `Bearer ${token}` }, ...init }));
    const first = await get(`/api/v1/exports/${job.id}/file`);
    expect(first.status).toBe(200);
    const leaving = new AbortController();
    const waiting = [get(`/api/v1/exports/${job.id}/file`, { signal: leaving.signal }), get(`/api/v1/exports/${job.id}/file`, { signal: leaving.signal })];
    await new Promise((r) => setTimeout(r, 50));
    // Two downloads wait; the streaming one holds the lane's only other place than this page's.
    expect(gate.inFlight(A.code)).toBe(1);
    const page = await get('/api/v1/charges');
    expect(page.status).toBe(200);
    leaving.abort();
    for (const w of waiting) expect((await w).status).toBe(429);
    await first.body!.cancel();
    expect(gate.inFlight(A.code)).toBe(0);
  });

  it('takes a request out of its contract’s queue when the customer goes away before its turn', async () => {
    const token = await f.login(A.selfId, A.password);
    const held = [await placed(gate.enter(A.code)), await placed(gate.enter(A.code))];
    const live = await listenOnLoopback(f.app.fetch);
    try {
      const gone = new AbortController();
      const asked = live.fetch('/api/v1/charges', { headers: { authorization: `Bearer ${token}` }, signal: gone.signal }).catch((e: Error) => e.name);
      for (let i = 0; i < 200 && gate.waiting === 0; i++) await new Promise((r) => setTimeout(r, 10));
      expect(gate.waiting).toBe(1);
      gone.abort();
      expect(await asked).toBe('AbortError');
      for (let i = 0; i < 200 && gate.waiting > 0; i++) await new Promise((r) => setTimeout(r, 10));
      expect(gate.waiting).toBe(0);
      expect(gate.inFlight(A.code)).toBe(2);
    } finally {
      for (const place of held) place.release();
      await live.close();
    }
    expect(gate.inFlight(A.code)).toBe(0);
  });

  it('gives its contract’s place back when the customer goes away half way', async () => {
    const token = await f.login(A.selfId, A.password);
    const job = await json(await f.request('POST', '/api/v1/exports', { token, json: { month: '2017-11', kind: 'calls', encoding: 'sjis' } }));
    const worker = new ExportWorker({ db: f.db.database.db, queries: f.queries, build: buildCsv, clock: () => f.now });
    while (await worker.runOnce());
    const live = await listenOnLoopback(f.app.fetch);
    try {
      const gone = new AbortController();
      const res = await live.fetch(`/api/v1/exports/${job.id}/file`, { headers: { authorization: `Bearer ${token}` }, signal: gone.signal });
      expect(res.status).toBe(200);
      expect(gate.inFlight(A.code)).toBe(1);
      gone.abort();
      for (let i = 0; i < 200 && gate.inFlight(A.code) > 0; i++) await new Promise((r) => setTimeout(r, 10));
      expect(gate.inFlight(A.code)).toBe(0);
    } finally {
      await live.close();
    }
  });
});
