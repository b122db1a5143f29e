// GET /ready and GET /metrics (issue 15 §4), through app.request(), on every store target: readiness
// says why not (a stalled projection, one too far behind, a store that does not answer, a server
// stopping), and the metrics carry route patterns, never the paths clients sent.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CALL_COLUMNS } from '../domain/call.ts';
import { ProjectionRunner, type Projection } from '../projections/framework.ts';
import { chargesProjection } from '../projections/charges.ts';
import { notStopping } from '../api/readiness.ts';
import { testTargets } from './support/stores.ts';
import { A, json, openFixture, recordCalls, row, seedTwoContracts, type Fixture } from './api.support.ts';

const HEADER = CALL_COLUMNS.map((c) => c.header).join(',');
const csv = (...lines: string[]) => new TextEncoder().encode([HEADER, ...lines].join('\r\n') + '\r\n');

/** `name{labels} value` lines of a Prometheus text answer, as [series, value]. */
function samples(text: string, name: string): [string, number][] {
  return text
    .split('\n')
    .filter((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `))
    .map((l) => {
      const at = l.lastIndexOf(' ');
      return [l.slice(0, at), Number(l.slice(at + 1))];
    });
}

describe.each(testTargets)('operations routes on $name', (target) => {
  let f: Fixture;
  let stopping = false;
  let storeDown = false;

  beforeAll(async () => {
    f = await openFixture(target, {
      app: { readinessChecks: [notStopping(() => stopping)], readyMaxLag: 0 },
    });
    // A store that stops answering, as a lost connection would make it.
    const headPosition = f.db.store.headPosition.bind(f.db.store);
    Object.defineProperty(f.db.store, 'headPosition', {
      configurable: true,
      value: () => (storeDown ? Promise.reject(new Error('connection terminated')) : headPosition()),
    });
    await seedTwoContracts(f);
  });
  afterAll(async () => {
    await f?.close();
  });

  describe('GET /ready', () => {
    it('is ready when the store answers and every projection has applied everything', async () => {
      await f.catchUp();
      const res = await f.request('GET', '/ready');
      expect(res.status).toBe(200);
      const body = await json(res);
      expect(body.status).toBe('ready');
      expect(body.checks).toEqual({ eventStore: { ready: true }, projections: { ready: true }, server: { ready: true } });
    });

    it('is not ready while a projection is further behind than the bound', async () => {
      await recordCalls(f, A.code, [row(A.dialIn, '2017/11/21', '100000.0', '国内呼', '8.00')]);
      const res = await f.request('GET', '/ready');
      expect(res.status).toBe(503);
      const body = await json(res);
      expect(body.error.code).toBe('PROJECTION_BEHIND');
      expect(body.checks.projections).toMatchObject({ ready: false, code: 'PROJECTION_BEHIND' });
      await f.catchUp();
      expect((await f.request('GET', '/ready')).status).toBe(200);
    });

    it('is not ready while a projection is stalled before an event it cannot apply, and names it', async () => {
      await recordCalls(f, A.code, [row(A.dialIn, '2017/11/22', '100000.0', '国内呼', '8.00')]);
      const failing: Projection = {
        ...chargesProjection,
        async apply() {
          throw new Error('cannot apply this one');
        },
      };
      await new ProjectionRunner(f.db.database, f.db.store, [failing]).catchUp();
      const res = await f.request('GET', '/ready');
      expect(res.status).toBe(503);
      const body = await json(res);
      expect(body.error.code).toBe('PROJECTION_STALLED');
      expect(body.error.message).toContain(chargesProjection.name);
      expect(body.error.message).toContain('cannot apply this one');
      await f.catchUp(); // the real projection applies it: the stall is over
      expect((await f.request('GET', '/ready')).status).toBe(200);
    });

    it('is not ready when the event store does not answer, with a 503 and no stack trace', async () => {
      storeDown = true;
      try {
        const res = await f.request('GET', '/ready');
        expect(res.status).toBe(503);
        const body = await json(res);
        expect(body.error.code).toBe('EVENT_STORE_UNAVAILABLE');
        expect(JSON.stringify(body)).not.toMatch(/\n\s+at /);
      } finally {
        storeDown = false;
      }
    });

    it('is not ready once the server is stopping', async () => {
      stopping = true;
      try {
        const res = await f.request('GET', '/ready');
        expect(res.status).toBe(503);
        expect((await json(res)).error.code).toBe('SHUTTING_DOWN');
      } finally {
        stopping = false;
      }
    });
  });

  describe('GET /metrics', () => {
    it('gives each projection’s position, lag and stall as the read side reports them', async () => {
      await recordCalls(f, A.code, [row(A.dialIn, '2017/11/23', '100000.0', '国内呼', '8.00')]); // one event not applied yet
      const status = await f.queries.status();
      const text = await (await f.request('GET', '/metrics')).text();
      for (const [name, s] of Object.entries(status)) {
        expect(samples(text, 'ledger_projection_position')).toContainEqual([`ledger_projection_position{projection="${name}"}`, Number(s.position)]);
        expect(samples(text, 'ledger_projection_lag_events')).toContainEqual([`ledger_projection_lag_events{projection="${name}"}`, s.lag]);
        expect(samples(text, 'ledger_projection_stalled')).toContainEqual([`ledger_projection_stalled{projection="${name}"}`, 0]);
      }
      expect(Object.values(status).some((s) => s.lag > 0)).toBe(true);
      await f.catchUp();
    });

    it('times requests by route pattern, never by the path sent, and puts unknown paths under one label', async () => {
      const token = await f.login(A.selfId, A.password);
      await f.request('GET', '/api/v1/charges/2017-11/numbers', { token });
      await f.request('GET', '/api/v1/charges/2017-10/numbers', { token });
      await f.request('GET', '/no/such/page/12345');
      const text = await (await f.request('GET', '/metrics')).text();
      const counts = samples(text, 'ledger_http_request_duration_seconds_count');
      expect(counts).toContainEqual(['ledger_http_request_duration_seconds_count{method="GET",route="/api/v1/charges/:month/numbers",status="200"}', 2]);
      expect(counts.find(([series]) => series.includes('route="unmatched"') && series.includes('status="404"'))).toBeDefined();
      expect(text).not.toContain('2017-11');
      expect(text).not.toContain('12345');
    });

    it('counts engineer imports by outcome, and their records', async () => {
      const admin = (body: Uint8Array) => f.request('POST', '/api/v1/admin/imports/calls', { token: f.adminToken, body, headers: { 'content-type': 'text/csv' } });
      const good = csv(`${A.dialIn},2017/11/24,120000.0,03-5555-6666,東京,000200.0,外線,国内呼,8.00`, `${A.dialIn},2017/11/24,130000.0,03-5555-6666,東京,000200.0,外線,国内呼,8.00`);
      expect((await admin(good)).status).toBe(200);
      expect((await admin(good)).status).toBe(200); // again: already present
      expect((await admin(csv(`${A.dialIn},2017/11/24,140000.0,03-5555-6666,東京,000200.0,外線,国内呼,-1`))).status).toBe(422);
      const text = await (await f.request('GET', '/metrics')).text();
      expect(samples(text, 'ledger_imports_total')).toEqual(
        expect.arrayContaining([
          ['ledger_imports_total{kind="calls",outcome="imported"}', 2],
          ['ledger_imports_total{kind="calls",outcome="rejected"}', 1],
        ]),
      );
      expect(samples(text, 'ledger_import_records_total')).toEqual(
        expect.arrayContaining([
          ['ledger_import_records_total{kind="calls",outcome="imported"}', 2],
          ['ledger_import_records_total{kind="calls",outcome="already_present"}', 2],
        ]),
      );
    });

    it('carries the process metrics and answers in Prometheus’ text format', async () => {
      const res = await f.request('GET', '/metrics');
      expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
      const text = await res.text();
      for (const name of ['process_cpu_user_seconds_total', 'process_resident_memory_bytes', 'nodejs_eventloop_lag_seconds', 'nodejs_heap_size_used_bytes']) {
        expect(samples(text, name).length).toBeGreaterThan(0);
      }
    });
  });
});
