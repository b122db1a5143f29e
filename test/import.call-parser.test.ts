// The import's cached row parser must answer exactly as the domain's parseCallRow, valid or not.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseCallRow, type CallRow } from '../domain/call.ts';
import { createCallRowParser } from '../importers/call-parser.ts';
import { fixtureContracts, generatedRow } from './support/call-csv.ts';

const numbers = fixtureContracts(3, 2).flatMap((c) => [c.basicNumber, ...c.dialInNumbers]);
const FIELDS = ['usingNumber', 'startDate', 'startTime', 'destination', 'area', 'duration', 'extensionType', 'callType', 'charge'] as const;
const hostile = [
  '', ' ', '0', '-1', '8.001', '1e3', '+8.00', '0312345678901234', '2017/02/29', '2016/02/29', '2017/12/31', '1951/06/01', '2017/13/01',
  '235959.9', '240000.0', '000000.0', '995959.9', '1件', '0件', '999999件', '内線', '外線', '携帯呼(au 定額)', '国際呼', 'PHS', '衛星呼', '番号案内',
  '〜', 'x'.repeat(81), '𠮷', '03-1234-5678', '12.5', '0.00',
  // what a spreadsheet would run, and what is not text (domain/text.ts)
  "=cmd|'/c calc'!A1", '@SUM(1+1)', '=1+1国内', '+81312345678', '-03', '\t東京', '\r東京', '東\n京', '\u0080', '\ue000', '\u{F0000}', '\ud800', '03 1234',
];

function rowOf(i: number): CallRow {
  const f = generatedRow(i, numbers);
  return Object.fromEntries(FIELDS.map((k, j) => [k, f[j]!])) as unknown as CallRow;
}

describe('the cached call-row parser', () => {
  it('gives the same result as parseCallRow on generated rows, including month-end and midnight crossings', () => {
    const parse = createCallRowParser();
    for (let i = 0; i < 3000; i++) {
      const row = { ...rowOf(i), ...(i % 7 === 0 ? { startDate: '2017/11/30', startTime: '235959.9' } : {}), ...(i % 11 === 0 ? { startDate: '2017/12/31', startTime: '233000.0', duration: '003000.0' } : {}) };
      expect(JSON.stringify(parse(row))).toBe(JSON.stringify(parseCallRow(row)));
    }
  });

  it('gives the same result as parseCallRow on hostile fields', () => {
    const parse = createCallRowParser();
    fc.assert(
      fc.property(fc.nat(10_000), fc.array(fc.tuple(fc.constantFrom(...FIELDS), fc.oneof(fc.constantFrom(...hostile), fc.string({ maxLength: 12 }))), { maxLength: 3 }), (i, changes) => {
        const row: Record<string, string> = { ...rowOf(i) };
        for (const [field, value] of changes) row[field] = value;
        expect(JSON.stringify(parse(row as unknown as CallRow))).toBe(JSON.stringify(parseCallRow(row as unknown as CallRow)));
      }),
      { numRuns: 2000 },
    );
  });
});
