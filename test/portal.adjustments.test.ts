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
});
