// `npm start`'s start-up path (cli/commands/serve.ts prepareServer) on an empty store: the demo
// contract is loaded, the projections catch up, and the printed demo login works on every portal route.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pino from 'pino';
import { prepareServer, type PreparedServer } from '../cli/commands/serve.ts';
import { DEMO_CONTRACT_CODE, DEMO_DIAL_IN_NUMBER, DEMO_FREECALL_NUMBERS, DEMO_LINES, demoCallRows, demoLateData, demoMonths, demoTelegramLines, representativeFrom } from '../cli/demo.ts';
import { callRecordedData, parseCallRow } from '../domain/call.ts';
import { Money } from '../domain/money.ts';
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

  it('shows the SPEC §8 contract with three dial-in numbers, フリーコール numbers and the representative number since the 16th of last month', async () => {
    const body = (await (await get('/api/v1/contract')).json()) as Record<string, any>;
    expect(body).toMatchObject({
      contractCode: DEMO_CONTRACT_CODE,
      startDate: '2010-11-15',
      channels: 3,
      numberCount: DEMO_LINES.length + 1,
      dialInNumberCount: DEMO_LINES.length,
      connectionType: 'ダイヤルイン接続',
      primaryDns: '192.0.2.1',
      secondaryDns: '192.0.2.2',
    });
    expect(DEMO_LINES.length).toBeGreaterThanOrEqual(3);
    expect(body.options.freecallNotification).toMatchObject({ subscribed: true, freecallNumbers: [...DEMO_FREECALL_NUMBERS] });
    expect(representativeFrom(NOW)).toBe('2017-11-16');
    expect(body.options.representativeNumber).toMatchObject({ subscribed: true, representativeNumber: DEMO_DIAL_IN_NUMBER, effectiveFrom: '2017-11-16' });
    const numbers = (await (await get(`/api/v1/contract/numbers?size=${DEMO_LINES.length}`)).json()) as Record<string, any>;
    expect(numbers.items).toEqual(DEMO_LINES.map((l) => ({ basicNumber: '0120222333', dialInNumber: l.dialInNumber, auMobileNumber: l.auMobileNumber, startDate: l.startDate })));
  });

  it('has calls in every month of the window; each month’s numbers hold exactly the demo calls billed in it', async () => {
    const charges = (await (await get('/api/v1/charges')).json()) as { months: { month: string; normal: { total: string }; billed: { total: string; au: string }; telegrams: string }[] };
    expect(charges.months.map((m) => m.month)).toEqual(['2017-12', '2017-11', '2017-10', '2017-09', '2017-08']);
    // The oracle: every demo row through the domain's own billing-month rule (SPEC §3.2).
    const billedIn = new Map<string, number>();
    for (const month of demoMonths(NOW)) {
      for (const row of demoCallRows(month, NOW)) {
        const parsed = parseCallRow(row);
        if (!parsed.ok) throw new Error(JSON.stringify(parsed.problems));
        const billing = callRecordedData(parsed.call, DEMO_CONTRACT_CODE).billingMonth;
        billedIn.set(billing, (billedIn.get(billing) ?? 0) + 1);
      }
    }
    // The previous month's late call, correction and void: rows of the current month (SPEC §4.1).
    const late = demoLateData(NOW);
    billedIn.set('2017-12', billedIn.get('2017-12')! + late.lateCalls.length + late.corrections.length + late.voids.length);
    for (const m of charges.months) {
      expect(m.normal.total, m.month).not.toBe('0.00');
      // Free calls (au 定額, 内線) are shown at their normal charge and billed 0.
      expect(m.billed.au, m.month).toBe('0.00');
      expect(Money.parse(m.billed.total).compare(Money.parse(m.normal.total)), m.month).toBe(-1);
      const numbers = (await (await get(`/api/v1/charges/${m.month}/numbers`)).json()) as { items: { number: string; total: string; calls: number }[] };
      expect(Money.sum(numbers.items.map((i) => Money.parse(i.total))).toString(), m.month).toBe(m.normal.total);
      expect(numbers.items.reduce((n, i) => n + i.calls, 0), m.month).toBe(billedIn.get(m.month));
    }
    // Before the representative number: every line under its own number; from the 16th of November, all under it.
    const october = (await (await get('/api/v1/charges/2017-10/numbers')).json()) as { items: { number: string }[] };
    expect(october.items.map((i) => i.number).sort()).toEqual(DEMO_LINES.map((l) => l.dialInNumber).sort());
    const december = (await (await get('/api/v1/charges/2017-12/numbers')).json()) as { items: { number: string }[] };
    expect(december.items.map((i) => i.number)).toEqual([DEMO_DIAL_IN_NUMBER]);
  });

  it('shows the manual’s kinds of call: several pages on the main number, 番号案内 in 件, 050 IP calls at 8.00, a call across the month end', async () => {
    const first = (await (await get(`/api/v1/charges/2017-11/numbers/${DEMO_DIAL_IN_NUMBER}/calls`)).json()) as { total: number; items: unknown[] };
    expect(first.items).toHaveLength(10);
    expect(first.total).toBeGreaterThan(30);
    type Call = { startedAt: string; destination: string; area: string; duration: string | null; count: number | null; callType: string; charge: string; extensionType: string };
    const all: Call[] = [];
    for (let page = 1; page <= Math.ceil(first.total / 10); page++) {
      all.push(...((await (await get(`/api/v1/charges/2017-11/numbers/${DEMO_DIAL_IN_NUMBER}/calls?page=${page}`)).json()) as { items: Call[] }).items);
    }
    expect(all).toHaveLength(first.total);
    expect(all.filter((c) => c.callType === '番号案内').map((c) => [c.duration, c.count])).toEqual([[null, 1]]);
    const ip = all.filter((c) => c.area === 'IP電話');
    expect(ip.length).toBeGreaterThan(0);
    expect(new Set(ip.map((c) => c.charge))).toEqual(new Set(['8.00']));
    expect(all.some((c) => c.extensionType === '内線')).toBe(true);
    // Started on 31 October, ended on 1 November: billed in November.
    expect(all.filter((c) => c.startedAt.startsWith('2017-10-31')).map((c) => c.startedAt)).toEqual(['2017-10-31T23:58:30.000+09:00']);
  });

  it('has telegrams in some months, with their totals in the month summary', async () => {
    const charges = (await (await get('/api/v1/charges')).json()) as { months: { month: string; telegrams: string }[] };
    // The late telegram of November (closed) is listed in December, the current month (SPEC §4.1).
    const late = demoLateData(NOW).lateTelegrams;
    expect(late.map((t) => t.date.slice(0, 7))).toEqual(['2017-11']);
    const lines = [...demoTelegramLines(NOW), ...late.map((t) => ({ ...t, date: `2017-12${t.date.slice(7)}` }))];
    for (const m of charges.months) {
      const want = Money.sum(lines.filter((t) => t.date.startsWith(m.month)).map((t) => Money.parse(t.charge)));
      expect(m.telegrams, m.month).toBe(want.toString());
      const details = (await (await get(`/api/v1/charges/${m.month}/telegrams`)).json()) as { items: { receiptNumber: string; adjustment: unknown }[] };
      expect(details.items).toHaveLength(lines.filter((t) => t.date.startsWith(m.month)).length);
      for (const item of details.items) {
        expect(item.adjustment, item.receiptNumber).toEqual(late.some((t) => t.receiptNumber === item.receiptNumber) ? { kind: 'late', month: '2017-11' } : null);
      }
    }
    expect(charges.months.filter((m) => m.telegrams !== '0.00').map((m) => m.month)).toEqual(['2017-12', '2017-11', '2017-09']);
  });

  it('closes the months before the current one; the current month lists the previous month’s late correction, void and call as 前月以前分の調整', async () => {
    const late = demoLateData(NOW);
    expect(late.closes.map((c) => c.month)).toEqual(['2017-08', '2017-09', '2017-10', '2017-11']);
    expect(late.closes.at(-1)!.closedAt).toBe('2017-12-05T10:00:00.000+09:00');
    const listing = (await (await get(`/api/v1/charges/2017-12/numbers/${DEMO_DIAL_IN_NUMBER}/calls`)).json()) as { items: { startedAt: string; charge: string; adjustment: { kind: string; month: string } | null }[] };
    const carried = listing.items.filter((c) => c.adjustment !== null);
    expect(carried.map((c) => c.adjustment!.kind).sort()).toEqual(['corrected', 'late', 'voided']);
    expect(carried.every((c) => c.adjustment!.month === '2017-11' && c.startedAt.startsWith('2017-11'))).toBe(true);
    expect(carried.find((c) => c.adjustment!.kind === 'corrected')!.charge).toBe('16.00');
    expect(carried.find((c) => c.adjustment!.kind === 'voided')!.charge).toBe('-8.00');
    // The closed month is as billed (its count is held above): the voided IP call is still listed in it.
    const voidedAt = `${late.voids[0]!.row.startDate.replaceAll('/', '-')}T`;
    const novemberAll = (await (await get(`/api/v1/charges/2017-11/numbers/${DEMO_DIAL_IN_NUMBER}/calls?category=domestic`)).json()) as { total: number };
    expect(novemberAll.total).toBeGreaterThan(0);
    expect(carried.find((c) => c.adjustment!.kind === 'voided')!.startedAt.startsWith(voidedAt)).toBe(true);
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
