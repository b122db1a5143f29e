// 前月以前分の調整 as the customer sees it (SPEC §4.1): after November is closed, a late call, a
// late correction, a late void and a late telegram of November are listed in December — in the
// API's listings (the `adjustment` field), on the portal's pages (marked, with a note) and in
// December's call-detail CSV (呼種別 marked) — and November's listings stay as billed. On every store.
import { PassThrough } from 'node:stream';
import iconv from 'iconv-lite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeExport, type ExportEncoding } from '../importers/csv-export.ts';
import { createQueries } from '../projections/queries.ts';
import type { LedgerQueries } from '../projections/read-model.ts';
import { oracleWriteCallsCsv } from './support/csv-oracle.ts';
import { closeMonth } from '../domain/billing-service.ts';
import { callRecordedData, parseCallRow } from '../domain/call.ts';
import { streams } from '../domain/events.ts';
import { testTargets } from './support/stores.ts';
import { A, json, novemberCallsOfA, openFixture, recordCalls, row, seedTwoContracts, telegram, type Fixture } from './api.support.ts';

/** November's calls of A as seedTwoContracts records them: [0] 11/01 8.00 domestic … [9] 11/12 272.50 other mobile. */
const NOVEMBER = novemberCallsOfA();
const callIdOf = (r: (typeof NOVEMBER)[number]) => {
  const parsed = parseCallRow(r);
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.problems));
  return callRecordedData(parsed.call, A.code).callId;
};
const CORRECTED = callIdOf(NOVEMBER[0]!); // 8.00 → 10.00
const VOIDED = callIdOf(NOVEMBER[9]!); // 272.50, voided
const LATE = row(A.dialIn, '2017/11/20', '100000.0', '国内呼', '30.00');
const LATE_ID = callIdOf(LATE);
const LATE_TELEGRAM = '5f9c0a3e-8f2b-4c1d-9e7a-1b2c3d4e5f99';

/** Logs in through the self-page's form; answers a GET with the page's HTML. */
async function portalSession(f: Fixture): Promise<(path: string) => Promise<string>> {
  const cookies = new Map<string, string>();
  const request = async (method: string, path: string, form?: Record<string, string>) => {
    const headers: Record<string, string> = {};
    if (cookies.size > 0) headers.cookie = [...cookies].map(([k, v]) => `${k}=${v}`).join('; ');
    if (form) headers['content-type'] = 'application/x-www-form-urlencoded';
    const res = await f.app.request(path, { method, headers, ...(form ? { body: new URLSearchParams(form).toString() } : {}) });
    for (const c of res.headers.getSetCookie()) {
      const pair = c.split(';')[0]!;
      cookies.set(pair.slice(0, pair.indexOf('=')), pair.slice(pair.indexOf('=') + 1));
    }
    return res;
  };
  const login = await (await request('GET', '/login')).text();
  const csrf = /name="_csrf" value="([^"]+)"/.exec(login)![1]!;
  expect((await request('POST', '/login', { _csrf: csrf, selfId: A.selfId, password: A.password })).status).toBe(303);
  return async (path) => {
    const res = await request('GET', path);
    expect(res.status, path).toBe(200);
    return res.text();
  };
}

/** The visible text of an element's HTML (tags out). */
const textOf = (html: string) => html.replace(/<[^>]+>/g, ' ').replace(/\s+/g, ' ');

async function callsCsv(queries: LedgerQueries, month: string, encoding: ExportEncoding = 'sjis'): Promise<Buffer> {
  const out = new PassThrough();
  const parts: Buffer[] = [];
  out.on('data', (b: Buffer) => parts.push(b));
  await writeExport('calls', queries, A.code, month, encoding, out);
  out.end();
  return Buffer.concat(parts);
}

/** A's November closed on 12/05; then the late call, correction, void and telegram of November. */
export async function seedLateNovember(f: Fixture): Promise<void> {
  await seedTwoContracts(f);
  await closeMonth(f.db.store, { type: 'CloseMonth', contractCode: A.code, month: '2017-11', now: '2017-12-05T10:00:00+09:00' });
  await f.catchUp();
  await recordCalls(f, A.code, [LATE]);
  const november = streams.calls(A.code, '2017-11');
  await f.db.store.append(november, [{ id: crypto.randomUUID(), type: 'CallCorrected', data: { callId: CORRECTED, charge: '10.00', reason: 'carrier re-rated' } }]);
  await f.db.store.append(november, [{ id: crypto.randomUUID(), type: 'CallVoided', data: { callId: VOIDED, reason: 'duplicate from the carrier' } }]);
  await telegram(f, A.code, LATE_TELEGRAM, '2017-11-28', '500.00');
  await f.catchUp();
}

describe.each(testTargets)('前月以前分の調整 on $name', (target) => {
  let f: Fixture;
  let token: string;

  beforeAll(async () => {
    f = await openFixture(target);
    await seedLateNovember(f);
    token = await f.login(A.selfId, A.password);
  });
  afterAll(async () => {
    await f?.close();
  });

  describe('API', () => {
    it('lists December’s adjustments of November with what they adjust, in start order, counted in the sum', async () => {
      const res = await f.request('GET', `/api/v1/charges/2017-12/numbers/${A.dialIn}/calls`, { token });
      expect(res.status).toBe(200);
      const body = await json(res);
      expect(body.items.map((c: any) => [c.startedAt.slice(0, 10), c.charge, c.adjustment])).toEqual([
        ['2017-11-01', '2.00', { kind: 'corrected', month: '2017-11', callId: CORRECTED }],
        ['2017-11-12', '-272.50', { kind: 'voided', month: '2017-11', callId: VOIDED }],
        ['2017-11-20', '30.00', { kind: 'late', month: '2017-11', callId: LATE_ID }],
        ['2017-12-04', '8.00', null],
      ]);
      // The late call is listed as itself; a difference row has an id of its own.
      expect(body.items[2].callId).toBe(LATE_ID);
      expect(body.items[0].callId).not.toBe(CORRECTED);
      expect(body.total).toBe(4);
      expect(body.sum).toBe('-232.50'); // 2.00 − 272.50 + 30.00 + 8.00
    });

    it('a month carried below zero: each whole-yen figure is its exact figure cut toward zero (1円未満切り捨て), never "-0"', async () => {
      const body = await json(await f.request('GET', '/api/v1/charges', { token }));
      const december = body.months.find((m: any) => m.month === '2017-12');
      // domestic 2.00 + 30.00 + 8.00; other mobile −272.50 (the void).
      expect(december.normal).toMatchObject({ total: '-232.50', domestic: '40.00', mobile: '-272.50', otherMobile: '-272.50' });
      expect(december.yen).toEqual({ total: '-232', domestic: '40', international: '0', mobile: '-272' });
    });

    it('leaves November’s listing as billed: no adjustment, the corrected and voided calls as they were', async () => {
      const body = await json(await f.request('GET', `/api/v1/charges/2017-11/numbers/${A.dialIn}/calls?page=1`, { token }));
      expect(body.total).toBe(12);
      expect(body.sum).toBe('1928.50');
      expect(body.items.every((c: any) => c.adjustment === null)).toBe(true);
      expect(body.items[0]).toMatchObject({ callId: CORRECTED, charge: '8.00' });
      expect(body.items[9]).toMatchObject({ callId: VOIDED, charge: '272.50' });
      const page2 = await json(await f.request('GET', `/api/v1/charges/2017-11/numbers/${A.dialIn}/calls?page=2`, { token }));
      expect(page2.items.map((c: any) => c.adjustment)).toEqual([null, null]);
    });

    it('lists the late telegram in December, marked; November’s telegrams unchanged', async () => {
      const dec = await json(await f.request('GET', '/api/v1/charges/2017-12/telegrams', { token }));
      expect(dec.items.map((t: any) => [t.telegramId, t.date, t.charge, t.adjustment])).toEqual([[LATE_TELEGRAM, '2017-11-28', '500.00', { kind: 'late', month: '2017-11' }]]);
      expect(dec.total).toBe('500.00');
      const nov = await json(await f.request('GET', '/api/v1/charges/2017-11/telegrams', { token }));
      expect(nov.items.map((t: any) => [t.charge, t.adjustment])).toEqual([['1230.00', null]]);
    });

    it('an ordinary month of another contract has adjustment null on every call', async () => {
      const b = await f.login('d987654321', 'xyz789');
      const body = await json(await f.request('GET', '/api/v1/charges/2017-12/numbers/0698765432/calls', { token: b }));
      expect(body.items).toHaveLength(1);
      expect(body.items[0].adjustment).toBeNull();
    });
  });

  describe('call-detail CSV (SPEC §7.2)', () => {
    it('marks December’s carried rows in 呼種別, writes a negative difference as a number, November’s file without a mark', async () => {
      const dec = iconv.decode(await callsCsv(f.queries, '2017-12'), 'cp932').split('\r\n');
      expect(dec.slice(1, 5)).toEqual([
        `${A.dialIn},2017/11/01,101200.5,03-1111-2222,東京,000106.0,外線,国内呼(前月以前分の調整 2017/11 訂正),2.00`,
        `${A.dialIn},2017/11/12,090000.0,080-1234-5678,携帯,000106.0,外線,携帯呼(前月以前分の調整 2017/11 取消),-272.50`,
        `${A.dialIn},2017/11/20,100000.0,03-1111-2222,東京,000106.0,外線,国内呼(前月以前分の調整 2017/11 遅れて届いた通話),30.00`,
        `${A.dialIn},2017/12/04,100000.0,03-1111-2222,東京,000106.0,外線,国内呼,8.00`,
      ]);
      const nov = iconv.decode(await callsCsv(f.queries, '2017-11'), 'cp932');
      expect(nov).not.toContain('前月以前分の調整');
      expect(nov).toContain(`${A.dialIn},2017/11/12,090000.0,080-1234-5678,携帯,000106.0,外線,携帯呼,272.50`);
    });

    it('the database’s records (COPY on PostgreSQL, pages on PGlite), the page path and the TypeScript writer give the same bytes', async () => {
      const pages = createQueries({ ...f.db.database, pool: undefined }, f.db.store);
      for (const encoding of ['sjis', 'utf-8'] as const) {
        const ours = await callsCsv(f.queries, '2017-12', encoding);
        expect(await callsCsv(pages, '2017-12', encoding)).toEqual(ours);
        const out = new PassThrough();
        const parts: Buffer[] = [];
        out.on('data', (b: Buffer) => parts.push(b));
        await oracleWriteCallsCsv(f.queries, A.code, '2017-12', encoding, out);
        out.end();
        expect(Buffer.concat(parts)).toEqual(ours);
      }
    });
  });

  describe('portal pages', () => {
    let page: (path: string) => Promise<string>;
    beforeAll(async () => {
      page = await portalSession(f);
    });
    /** The rows of the listing's table body. */
    const rowsOf = (html: string) => [...(/<table class="stacked">[\s\S]*?<tbody>([\s\S]*?)<\/tbody>/.exec(html)?.[1] ?? '').matchAll(/<tr\b([^>]*)>([\s\S]*?)<\/tr>/g)].map((m) => ({ marked: /class="adjustment"/.test(m[1]!), text: textOf(m[2]!) }));

    it('marks each carried call of December with 前月以前分の調整, its month and what it adjusts, under a note', async () => {
      const html = await page(`/charges/2017-12/numbers/${A.dialIn}/calls`);
      const rows = rowsOf(html);
      expect(rows.map((r) => r.marked)).toEqual([true, true, true, false]);
      expect(rows[0]!.text).toContain('前月以前分の調整 2017年11月分・訂正 11/01(水)');
      expect(rows[0]!.text).toContain('2.00円');
      expect(rows[1]!.text).toContain('前月以前分の調整 2017年11月分・取消 11/12(日)');
      expect(rows[1]!.text).toContain('-272.50円');
      expect(rows[2]!.text).toContain('前月以前分の調整 2017年11月分・遅れて届いた通話 11/20(月)');
      expect(rows[3]!.text).not.toContain('前月以前分の調整');
      const note = /<p class="adjustment-note"[^>]*>([\s\S]*?)<\/p>/.exec(html)?.[1];
      expect(note).toContain('すでにご請求済みの月のご利用分です');
      // The note stands before the table.
      expect(html.indexOf('adjustment-note')).toBeLessThan(html.indexOf('<table class="stacked"'));
    });

    it('shows a month carried below zero with its minus sign, cut toward zero', async () => {
      const text = textOf(await page('/charges'));
      expect(text).toContain('-232円');
      expect(text).toContain('-272円');
      expect(text).not.toContain('-0円');
    });

    it('shows November as billed: no mark, no note', async () => {
      const html = await page(`/charges/2017-11/numbers/${A.dialIn}/calls`);
      expect(html).not.toContain('前月以前分の調整');
      expect(html).not.toContain('adjustment');
    });

    it('marks the late telegram in December’s 電報明細, with its note; November’s without', async () => {
      const dec = await page('/charges/2017-12/telegrams');
      expect(rowsOf(dec).map((r) => [r.marked, r.text.includes('前月以前分の調整 2017年11月分・遅れて届いた電報 2017年11月28日')])).toEqual([[true, true]]);
      expect(dec).toContain('すでにご請求済みの月のご利用分です');
      const nov = await page('/charges/2017-11/telegrams');
      expect(nov).not.toContain('前月以前分の調整');
    });
  });
});
