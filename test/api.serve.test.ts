// `npm start`'s start-up path (cli/commands/serve.ts prepareServer) on an empty store: the demo
// contract is loaded, the projections catch up, and the printed demo login works on every portal route.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pino from 'pino';
import { prepareServer, type PreparedServer } from '../cli/commands/serve.ts';
import { DEMO_CONTRACT_CODE, DEMO_DIAL_IN_NUMBER, demoCallRows } from '../cli/demo.ts';
import { apiMigrations } from '../api/migrations.ts';
import { projectionMigrations } from '../projections/index.ts';
import { testTargets, type TestDatabase } from './support/stores.ts';
import './api.support.ts'; // low scrypt cost

const NOW = new Date('2017-12-15T03:00:00Z');

describe.each(testTargets)('ledger serve start-up on $name', (target) => {
  let db: TestDatabase;
  let server: PreparedServer;
  let token: string;

  beforeAll(async () => {
    db = await target.open([projectionMigrations, apiMigrations]);
    server = await prepareServer(db, { clock: () => NOW, logger: pino({ level: 'silent' }), exportPollMs: 20 });
    await server.start();
  });
  afterAll(async () => {
    await server?.stop();
    await db?.cleanup();
  });

  const get = (path: string) => server.app.request(path, { headers: { authorization: `Bearer ${token}` } });

  it('loads the demo on an empty store, generates an admin token, and the printed login works', async () => {
    expect(server.demo).toMatchObject({ contractCode: 'd123456789', selfId: 'd123456789' });
    expect(server.demo!.months).toEqual(['2017-08', '2017-09', '2017-10', '2017-11', '2017-12']);
    expect(server.generatedToken).toBe(true);
    expect(server.adminToken.length).toBeGreaterThanOrEqual(32);
    const res = await server.app.request('/api/v1/session', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ selfId: server.demo!.selfId, password: server.demo!.password }),
    });
    expect(res.status).toBe(200);
    token = ((await res.json()) as { token: string }).token;
  });

  it('shows the SPEC §8 contract', async () => {
    const body = (await (await get('/api/v1/contract')).json()) as Record<string, any>;
    expect(body).toMatchObject({
      contractCode: DEMO_CONTRACT_CODE,
      startDate: '2010-11-15',
      channels: 1,
      numberCount: 2,
      dialInNumberCount: 1,
      connectionType: 'ダイヤルイン接続',
      primaryDns: '192.0.2.1',
      secondaryDns: '192.0.2.2',
    });
    expect(body.options.freecallNotification.subscribed).toBe(true);
    expect(Object.entries(body.options).filter(([, o]) => (o as { subscribed: boolean }).subscribed).map(([k]) => k)).toEqual(['freecallNotification']);
    const numbers = (await (await get('/api/v1/contract/numbers')).json()) as Record<string, any>;
    expect(numbers.items).toEqual([{ basicNumber: '0120222333', dialInNumber: '0312345678', auMobileNumber: '09012345678', startDate: '2010-11-15' }]);
  });

  it('has calls in every month of the window, and the drill-downs answer', async () => {
    const charges = (await (await get('/api/v1/charges')).json()) as { months: { month: string; normal: { total: string }; provisional: boolean }[] };
    expect(charges.months.map((m) => m.month)).toEqual(['2017-12', '2017-11', '2017-10', '2017-09', '2017-08']);
    for (const m of charges.months) expect(m.normal.total).not.toBe('0.00');
    const numbers = (await (await get('/api/v1/charges/2017-11/numbers')).json()) as { items: { number: string; total: string }[] };
    expect(numbers.items.map((i) => i.number)).toEqual([DEMO_DIAL_IN_NUMBER]);
    expect(numbers.items[0]!.total).toBe(charges.months[1]!.normal.total);
    const calls = (await (await get(`/api/v1/charges/2017-11/numbers/${DEMO_DIAL_IN_NUMBER}/calls`)).json()) as { total: number; items: unknown[] };
    expect(calls.total).toBe(demoCallRows('2017-11', NOW).length);
    expect(calls.items).toHaveLength(10);
    expect((await get('/api/v1/charges/2017-11/telegrams')).status).toBe(200);
  });

  it('has no calls after the clock’s today', () => {
    const december = demoCallRows('2017-12', NOW);
    expect(december.length).toBeGreaterThan(0);
    expect(december.every((r) => r.startDate < '2017/12/15')).toBe(true);
  });

  it('reports healthy projections with no lag', async () => {
    const health = (await (await server.app.request('/health')).json()) as { status: string; projections: Record<string, { lag: number }> };
    expect(health.status).toBe('ok');
    for (const p of Object.values(health.projections)) expect(p.lag).toBe(0);
  });

  it('loads no demo into a store that has events, or with --no-demo', async () => {
    const again = await prepareServer(db, { clock: () => NOW, logger: pino({ level: 'silent' }), adminToken: 'given-token-1234567890' });
    expect(again.demo).toBeUndefined();
    expect(again.generatedToken).toBe(false);
    const empty = await target.open([projectionMigrations, apiMigrations]);
    try {
      const none = await prepareServer(empty, { clock: () => NOW, demo: false, logger: pino({ level: 'silent' }) });
      expect(none.demo).toBeUndefined();
      expect(await empty.store.headPosition()).toBe(0n);
    } finally {
      await empty.cleanup();
    }
  });
});
