// The one CSV writer (SPEC §7) and reconciliation: exact layouts, CP932 without a silent `?`,
// and the round trip export → import into an empty store → identical totals.
import { Writable } from 'node:stream';
import iconv from 'iconv-lite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Money } from '../domain/money.ts';
import { importCalls } from '../importers/calls.ts';
import { CALLS_HEADER, NUMBERS_HEADER, UnencodableCharacterError, buildCsvFile, callRecord, cp932Text, encodeCp932, unsafeCell, writeCsv } from '../importers/csv-export.ts';
import { CALL_TYPE_MAX, markedCallType } from '../domain/adjustments.ts';
import { reconcile } from '../importers/reconcile.ts';
import { ImportRejected } from '../importers/problems.ts';
import { createProjectionRunner, projectionMigrations } from '../projections/index.ts';
import { createQueries } from '../projections/queries.ts';
import type { CallDetail, LedgerQueries } from '../projections/read-model.ts';
import { testTargets, type TestDatabase } from './support/stores.ts';
import { callCsv, fixtureContracts, generatedRow, openFixtureContracts } from './support/call-csv.ts';

function sink(): { out: Writable; bytes: () => Buffer } {
  const chunks: Buffer[] = [];
  return {
    out: new Writable({
      write(chunk: Buffer, _e, done) {
        chunks.push(chunk);
        done();
      },
    }),
    bytes: () => Buffer.concat(chunks),
  };
}

function detail(overrides: Partial<CallDetail> = {}): CallDetail {
  return {
    seq: 1, callId: 'c', attributedNumber: '0312345678', usingNumber: '0312345678', startDate: '2017-11-01', startTime: '201221.5',
    startedAt: '2017-11-01T20:12:21.500+09:00', destination: '03-1234-5678', area: '東京', duration: '000106.0', count: null,
    extensionType: '外線', callType: '国内呼', category: 'domestic', charge: Money.parseCharge('8'), billed: Money.parseCharge('8'), adjustment: null, ...overrides,
  };
}

describe('前月以前分の調整 in the call-detail records (SPEC §4.1)', () => {
  it('marks 呼種別 of a carried row with the month and what it adjusts; an ordinary call as it is', () => {
    expect(callRecord(detail())[7]).toBe('国内呼');
    const corrected = callRecord(detail({ charge: Money.parse('-6.00'), adjustment: { kind: 'corrected', month: '2017-11', callId: 'c0' } }));
    expect(corrected.slice(7)).toEqual(['国内呼(前月以前分の調整 2017/11 訂正)', '-6.00']);
    expect(callRecord(detail({ adjustment: { kind: 'voided', month: '2016-12', callId: 'c0' } }))[7]).toBe('国内呼(前月以前分の調整 2016/12 取消)');
    expect(callRecord(detail({ adjustment: { kind: 'late', month: '2017-11', callId: 'c' } }))[7]).toBe('国内呼(前月以前分の調整 2017/11 遅れて届いた通話)');
  });

  it('cuts a long call type, never the mark, to 80 characters (code points, as PostgreSQL counts them)', () => {
    const long = '携帯呼'.repeat(30);
    const marked = markedCallType(long, 'late', '2017-11');
    expect([...marked]).toHaveLength(CALL_TYPE_MAX);
    expect(marked.endsWith('(前月以前分の調整 2017/11 遅れて届いた通話)')).toBe(true);
    expect(long.startsWith(marked.slice(0, marked.indexOf('(')))).toBe(true);
    const astral = markedCallType('𠮷'.repeat(79), 'corrected', '2017-11');
    expect([...astral]).toHaveLength(CALL_TYPE_MAX);
    expect(markedCallType('国内呼', 'corrected', '2017-11')).toBe('国内呼(前月以前分の調整 2017/11 訂正)');
  });

  it('writes a negative charge: its leading - is the number’s own, not a formula; anywhere else - is refused', () => {
    expect(unsafeCell(8, '-272.50')).toBeUndefined();
    expect(unsafeCell(8, '8.00')).toBeUndefined();
    expect(unsafeCell(8, '-1+1')).toMatch(/formula/);
    expect(unsafeCell(8, '=1+1')).toMatch(/formula/);
    expect(unsafeCell(4, '-272.50')).toMatch(/formula/);
    expect(unsafeCell(7, '-国内呼')).toMatch(/formula/);
  });
});

describe('Shift_JIS (CP932) output', () => {
  it('maps WAVE DASH, MINUS SIGN, EM DASH, DOUBLE VERTICAL LINE, ¢ £ ¬ ¦ to their CP932 codes', () => {
    expect(encodeCp932('\u301C').toString('hex')).toBe('8160');
    expect(encodeCp932('\u2212').toString('hex')).toBe('817c');
    expect(encodeCp932('\u2014').toString('hex')).toBe('815c');
    expect(encodeCp932('\u2016').toString('hex')).toBe('8161');
    expect(encodeCp932('\u00A2\u00A3\u00AC\u00A6').toString('hex')).toBe('8191819281cafa55');
    expect(encodeCp932('東京〜大阪')).toEqual(iconv.encode('東京～大阪', 'cp932'));
  });

  it('refuses, naming the character, what CP932 cannot encode — never a silent "?"', () => {
    expect(cp932Text('€100')).toEqual({ ok: false, character: '€' });
    expect(cp932Text('𠮷野家')).toEqual({ ok: false, character: '𠮷' });
    expect(() => encodeCp932('a€', '地域名', 3)).toThrow(UnencodableCharacterError);
    expect(() => encodeCp932('a€', '地域名', 3)).toThrow('record 3, 地域名: the character "€" (U+20AC) in "a€" has no Shift_JIS (CP932) form; export with --encoding utf-8 instead');
    expect(cp932Text('①㈱髙')).toEqual({ ok: true, text: '①㈱髙' });
  });

  it('a call-detail export stops with UnencodableCharacterError at the record that has one', async () => {
    const { out } = sink();
    const records = [callRecord(detail()), callRecord(detail({ area: 'Paris€' }))];
    await expect(writeCsv(CALLS_HEADER, records, 'sjis', out)).rejects.toThrow(/record 2, 地域名: the character "€"/);
    const utf8 = sink();
    await expect(writeCsv(CALLS_HEADER, records, 'utf-8', utf8.out)).resolves.toMatchObject({ records: 2 });
  });
});

describe('the CSV layouts (SPEC §7)', () => {
  it('writes §7.2 call details: header byte-for-byte, YYYY/MM/DD, hhmmss.s, N件, 2-decimal amounts, CRLF, CP932', async () => {
    const { out, bytes } = sink();
    await writeCsv(CALLS_HEADER, [callRecord(detail()), callRecord(detail({ duration: null, count: 1, callType: '番号案内', area: '番号案内', charge: Money.parseCharge('100') }))], 'sjis', out);
    expect(iconv.decode(bytes(), 'cp932')).toBe(
      'ご利用電話番号,通話開始日時,通話開始時刻,着信電話番号,地域名,通話時間,内線区分,呼種別,通話料\r\n' +
        '0312345678,2017/11/01,201221.5,03-1234-5678,東京,000106.0,外線,国内呼,8.00\r\n' +
        '0312345678,2017/11/01,201221.5,03-1234-5678,番号案内,1件,外線,番号案内,100.00\r\n',
    );
  });

  it('writes UTF-8 with a BOM on request', async () => {
    const { out, bytes } = sink();
    await writeCsv(NUMBERS_HEADER, [['0312345678', '1928.50', '56.00', '0.00', '0.00', '1872.50']], 'utf-8', out);
    expect(bytes().subarray(0, 3).toString('hex')).toBe('efbbbf');
    expect(bytes().subarray(3).toString('utf8')).toBe('ご利用電話番号,合計料金,国内通話,国際通話,au通話,その他移動体\r\n0312345678,1928.50,56.00,0.00,0.00,1872.50\r\n');
  });
});

const contracts = fixtureContracts(2, 2);
const numbers = contracts.flatMap((c) => [c.basicNumber, ...c.dialInNumbers]);
const code = contracts[0]!.contractCode;

for (const target of testTargets) {
  describe(`exports read through the projections (${target.name})`, () => {
    let source: TestDatabase;
    let queries: LedgerQueries;
    beforeAll(async () => {
      source = await target.open([projectionMigrations]);
      await openFixtureContracts(source.store, contracts);
      const rows = Array.from({ length: 300 }, (_, i) => generatedRow(i, numbers));
      rows.push(['0310000000', '2017/11/30', '235000.0', '03-9999-0000', '東京〜大阪', '002000.0', '外線', '国内呼', '12.30']);
      await importCalls(source.store, callCsv(rows), { name: 'nov.csv' });
      await createProjectionRunner(source.database, source.store).catchUp();
      queries = createQueries(source.database, source.store);
    });
    afterAll(async () => {
      await source.cleanup();
    });

    it('round trip: export calls → import into an empty store → identical totals', async () => {
      for (const month of ['2017-11', '2017-12']) {
        for (const encoding of ['sjis', 'utf-8'] as const) {
          const file = await buildCsvFile({ queries, contractCode: code, month, kind: 'calls', encoding });
          const empty = await target.open([projectionMigrations]);
          try {
            await openFixtureContracts(empty.store, contracts);
            const result = await importCalls(empty.store, file, { name: `export-${month}.csv` });
            await createProjectionRunner(empty.database, empty.store).catchUp();
            const theirs = await createQueries(empty.database, empty.store).monthCharges(code, month);
            const ours = await queries.monthCharges(code, month);
            expect(result.imported).toBe(ours.numbers.reduce((s, n) => s + n.calls, 0));
            expect(JSON.stringify(theirs)).toBe(JSON.stringify(ours));
          } finally {
            await empty.cleanup();
          }
        }
      }
      // Four fresh stores: an embedded one takes 10–15 s to open on a loaded 2-core machine.
    }, 180_000);

    it('reconcile: our own per-number export agrees; a changed figure is listed with the difference', async () => {
      const file = await buildCsvFile({ queries, contractCode: code, month: '2017-11', kind: 'numbers', encoding: 'sjis' });
      expect(await reconcile(queries, code, '2017-11', file, { name: 'carrier.csv' })).toEqual({ ok: true, differences: [] });
      const text = iconv.decode(Buffer.from(file), 'cp932').split('\r\n');
      const cells = text[1]!.split(',');
      const ours = cells[3]!;
      cells[3] = Money.parse(ours).plus(Money.parseCharge('1.50')).toString();
      text[1] = cells.join(',');
      const changed = Buffer.from(text.join('\r\n'), 'utf8');
      const report = await reconcile(queries, code, '2017-11', changed, { name: 'carrier.csv' });
      expect(report.ok).toBe(false);
      expect(JSON.parse(JSON.stringify(report.differences))).toEqual([
        { number: cells[0], category: 'international', carrier: cells[3], ours, difference: '1.50' },
      ]);
    });

    it('reconcile refuses a file that is not §7.1, with FILE:LINE: FIELD: message', async () => {
      const bad = Buffer.from('ご利用電話番号,合計料金\r\n0312345678,1.00\r\n', 'utf8');
      const error = await reconcile(queries, code, '2017-11', bad, { name: 'x.csv' }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ImportRejected);
      expect((error as ImportRejected).lines()).toEqual([`x.csv:1: header: expected ${NUMBERS_HEADER.join(',')}, got "ご利用電話番号,合計料金"`]);
    });
  });
}
