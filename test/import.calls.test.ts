// The carrier call-detail CSV import (SPEC §7.2, issue "Files in and out"): every bad-input class by
// name, each asserting the exact `FILE:LINE: FIELD: message` lines AND that nothing was appended.
import { Readable } from 'node:stream';
import iconv from 'iconv-lite';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { importCalls } from '../importers/calls.ts';
import { ImportRejected } from '../importers/problems.ts';
import type { SqlEventStore } from '../eventstore/sql.ts';
import { testTargets, type TestDatabase } from './support/stores.ts';
import { HEADER, callCsv, fixtureContracts, generatedRow, openFixtureContracts, type Fields } from './support/call-csv.ts';

const contracts = fixtureContracts(2, 2);
const numbers = contracts.flatMap((c) => [c.basicNumber, ...c.dialInNumbers]);
const rows = (n: number): Fields[] => Array.from({ length: n }, (_, i) => generatedRow(i, numbers));
const CHARGE_MESSAGE = (got: string) => `expected a non-negative amount with at most 2 decimals, like 8.00, got ${JSON.stringify(got)}`;

async function callEvents(store: SqlEventStore): Promise<number> {
  return (await store.readAll({ streamPrefixes: ['calls-'], limit: 1_000_000 })).length;
}

async function rejected(run: Promise<unknown>): Promise<ImportRejected> {
  const error = await run.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ImportRejected);
  return error as ImportRejected;
}

function withField(base: Fields, index: number, value: string): Fields {
  const copy = [...base] as Fields;
  copy[index] = value;
  return copy;
}

for (const target of testTargets) {
  describe(`importing the carrier's call-detail CSV (${target.name})`, () => {
    let t: TestDatabase;

    describe('a good file', () => {
      beforeEach(async () => {
        t = await target.open();
        await openFixtureContracts(t.store, contracts);
      });
      afterEach(async () => {
        await t.cleanup();
      });

      it('imports Shift_JIS with CRLF, every row as CallRecorded in its contract-month stream', async () => {
        const result = await importCalls(t.store, callCsv(rows(40), { encoding: 'cp932' }), { name: 'nov.csv' });
        expect(result).toEqual({ file: 'nov.csv', encoding: 'cp932', read: 40, imported: 40, alreadyPresent: 0, duplicates: 0 });
        const stream = await t.store.readStream(`calls-${contracts[0]!.contractCode}-2017-11`);
        expect(stream.length).toBeGreaterThan(0);
        expect(stream[0]!.type).toBe('CallRecorded');
        expect(stream[0]!.metadata).toMatchObject({ source: 'nov.csv:2' });
        expect(await callEvents(t.store)).toBe(40);
      });

      it('imports UTF-8 with a BOM and LF line ends', async () => {
        const result = await importCalls(t.store, callCsv(rows(10), { encoding: 'utf-8-bom', eol: '\n' }), { name: 'u.csv' });
        expect(result).toMatchObject({ encoding: 'utf-8', read: 10, imported: 10 });
      });

      it('imports UTF-8 without a BOM, and the same calls from Shift_JIS are then already present', async () => {
        await importCalls(t.store, callCsv(rows(10), { encoding: 'utf-8' }), { name: 'u.csv' });
        const again = await importCalls(t.store, callCsv(rows(10), { encoding: 'cp932' }), { name: 's.csv' });
        expect(again).toMatchObject({ read: 10, imported: 0, alreadyPresent: 10, duplicates: 0 });
      });

      it('trims trailing half-width spaces (fixed-length fields), but not full-width ones', async () => {
        const padded = rows(3).map((r) => r.map((f, i) => (i === 4 ? `${f}\u3000` : `${f}   `)) as Fields);
        await importCalls(t.store, callCsv(padded, { encoding: 'cp932' }), { name: 'p.csv' });
        const [first] = await t.store.readAll({ streamPrefixes: ['calls-'] });
        const data = first!.data as { usingNumber: string; charge: string; area: string };
        expect(data.usingNumber).toBe(numbers[0]);
        expect(data.area.endsWith('\u3000')).toBe(true);
      });

      it('is idempotent: a re-delivered file counts its calls as already present', async () => {
        const file = callCsv(rows(25));
        await importCalls(t.store, file, { name: 'a.csv' });
        const again = await importCalls(t.store, file, { name: 'a.csv' });
        expect(again).toMatchObject({ read: 25, imported: 0, alreadyPresent: 25, duplicates: 0 });
        expect(await callEvents(t.store)).toBe(25);
      });

      it('counts exact duplicate rows inside one file once, as duplicates', async () => {
        const r = rows(5);
        const result = await importCalls(t.store, callCsv([...r, r[1]!, r[1]!, r[3]!]), { name: 'd.csv' });
        expect(result).toMatchObject({ read: 8, imported: 5, alreadyPresent: 0, duplicates: 3 });
      });

      it('reads a one-shot stream (the API posts a body)', async () => {
        const result = await importCalls(t.store, Readable.from([callCsv(rows(7))]), { name: 'body' });
        expect(result).toMatchObject({ read: 7, imported: 7 });
      });

      it('accepts a file with only the header', async () => {
        expect(await importCalls(t.store, callCsv([]), { name: 'h.csv' })).toMatchObject({ read: 0, imported: 0 });
      });

      it('splits a big file into chunks inside one transaction', async () => {
        const result = await importCalls(t.store, callCsv(rows(1200)), { name: 'big.csv', chunkSize: 250 });
        expect(result).toMatchObject({ read: 1200, imported: 1200 });
        expect(await callEvents(t.store)).toBe(1200);
        const [first] = await t.store.readAll({ streamPrefixes: ['calls-'], limit: 1 });
        expect(first!.metadata).toEqual({ source: 'big.csv:2' });
      });

      it('imports a file overlapping an earlier one: the new calls appended, the stored ones already present', async () => {
        const all = rows(1000);
        await importCalls(t.store, callCsv(all.slice(0, 600)), { name: 'first.csv', chunkSize: 100 });
        // The overlap starts in the fourth chunk: the first three went in before the unique index refused one.
        const result = await importCalls(t.store, callCsv([...all.slice(600), ...all.slice(300, 600)]), { name: 'second.csv', chunkSize: 100 });
        expect(result).toMatchObject({ read: 700, imported: 400, alreadyPresent: 300, duplicates: 0 });
        expect(await callEvents(t.store)).toBe(1000);
        const revisions = (await t.store.readAll({ streamPrefixes: ['calls-'], limit: 2000 })).map((e) => `${e.streamId}@${e.revision}`);
        expect(new Set(revisions).size).toBe(1000);
      });
    });

    describe('a bad file changes nothing', () => {
      // One store for the group: every case checks that the head of the log did not move.
      beforeAll(async () => {
        t = await target.open();
        await openFixtureContracts(t.store, contracts);
      });
      afterAll(async () => {
        await t.cleanup();
      });
      let before: bigint;
      beforeEach(async () => {
        before = await t.store.headPosition();
      });
      const nothingAppended = async () => expect(await t.store.headPosition()).toBe(before);
      const expectRefused = async (file: Buffer, name: string, lines: string[]) => {
        const error = await rejected(importCalls(t.store, file, { name }));
        expect(error.lines()).toEqual(lines);
        await nothingAppended();
      };

      it('a wrong header', async () => {
        const header = [...HEADER];
        header[1] = '通話開始日付';
        await expectRefused(callCsv(rows(3), { header }), 'h.csv', [
          `h.csv:1: header: expected ${HEADER.join(',')}, got ${JSON.stringify(header.join(','))}`,
        ]);
      });

      it('an empty file', async () => {
        await expectRefused(Buffer.alloc(0), 'e.csv', [`e.csv:1: header: the file is empty; expected the header ${HEADER.join(',')}`]);
      });

      it('binary garbage', async () => {
        const garbage = Buffer.from([0x00, 0x01, 0x02, 0xff, 0xfe, 0x0a, 0x89, 0x50, 0x4e, 0x47, 0x00, 0x0a]);
        const error = await rejected(importCalls(t.store, garbage, { name: 'g.bin' }));
        expect(error.lines()).toHaveLength(1);
        expect(error.lines()[0]).toMatch(/^g\.bin:1: header: expected ご利用電話番号,.*\(binary data \(a NUL byte\): not a text CSV file\)$/);
        await nothingAppended();
      });

      it('a file that is not CSV at all (a CSV syntax error before any header)', async () => {
        await expectRefused(Buffer.from('{"type":"OpenContract"}\n'), 'c.jsonl', [
          'c.jsonl:1: header: not a call-detail CSV: Invalid Opening Quote: a quote is found on field 0 at line 1, value is "{"',
        ]);
      });

      it('an undecodable byte in a UTF-8 file', async () => {
        const text = Buffer.from(`${HEADER.join(',')}\r\n${rows(3).map((r) => r.join(',')).join('\r\n')}\r\n`, 'utf8');
        const at = text.indexOf(Buffer.from('\r\n', 'latin1'), text.indexOf(Buffer.from('\r\n', 'latin1')) + 2) + 2 + 11; // line 3, inside the date
        text[at] = 0xff;
        await expectRefused(text, 'u.csv', ['u.csv:3: 通話開始日時: a byte that is not valid UTF-8 at column 12']);
      });

      it('an undecodable byte in a Shift_JIS file', async () => {
        const r = rows(2);
        const file = Buffer.concat([iconv.encode(`${HEADER.join(',')}\r\n${r[0]!.join(',')}\r\n${r[1]!.slice(0, 4).join(',')},`, 'cp932'), Buffer.from([0x81, 0x20]), iconv.encode(`,${r[1]!.slice(5).join(',')}\r\n`, 'cp932')]);
        const error = await rejected(importCalls(t.store, file, { name: 's.csv' }));
        expect(error.lines()[0]).toMatch(/^s\.csv:3: 地域名: a byte that is not valid Shift_JIS \(CP932\) at column \d+$/);
        await nothingAppended();
      });

      it('a row with the wrong number of fields', async () => {
        const r = rows(3);
        await expectRefused(callCsv([r[0]!, r[1]!.slice(0, 7) as unknown as Fields, r[2]!]), 'f.csv', ['f.csv:3: record: expected 9 fields, got 7']);
      });

      const base = generatedRow(0, numbers);
      const fieldCases: ReadonlyArray<[string, number, string, string]> = [
        ['using number not digits', 0, '03-1234-5678', 'ご利用電話番号: expected digits only, like 0312345678, got "03-1234-5678"'],
        ['using number too long', 0, '03123456789012', 'ご利用電話番号: at most 13 characters expected, got 14'],
        ['start date in another format', 1, '2017-11-01', '通話開始日時: expected a date YYYY/MM/DD, got "2017-11-01"'],
        ['start date that does not exist', 1, '2017/02/30', '通話開始日時: no such date: 2017/02/30'],
        ['start time out of range', 2, '246000.0', '通話開始時刻: expected a time hhmmss.s between 000000.0 and 235959.9, got "246000.0"'],
        ['start time without tenths', 2, '120000', '通話開始時刻: expected a time hhmmss.s between 000000.0 and 235959.9, got "120000"'],
        ['destination empty', 3, '', '着信電話番号: expected a destination number, got an empty field'],
        ['destination longer than 21', 3, '0'.repeat(22), '着信電話番号: at most 21 characters expected, got 22'],
        ['duration malformed', 5, '1:06', '通話時間: expected a duration hhmmss.s or a count like 1件, got "1:06"'],
        ['duration count of zero', 5, '0件', '通話時間: expected a duration hhmmss.s or a count like 1件, got "0件"'],
        ['extension type unknown', 6, '社内', '内線区分: expected 外線 or 内線, got "社内"'],
        ['call type the table cannot place', 7, '衛星呼', '呼種別: the category table places no call type "衛星呼"'],
        ['call type empty', 7, '', '呼種別: expected a call type, got an empty field'],
        ['charge with 3 decimals', 8, '8.001', `通話料: ${CHARGE_MESSAGE('8.001')}`],
        ['charge negative', 8, '-8.00', `通話料: ${CHARGE_MESSAGE('-8.00')}`],
        ['charge with an exponent', 8, '8e2', `通話料: ${CHARGE_MESSAGE('8e2')}`],
        ['charge with a plus sign', 8, '+8.00', `通話料: ${CHARGE_MESSAGE('+8.00')}`],
        ['charge with a thousands separator', 8, '"1,928.50"', `通話料: at most 6 characters expected, got 8`],
      ];
      for (const [name, index, value, message] of fieldCases) {
        it(`a ${name}`, async () => {
          const file = callCsv([generatedRow(1, numbers), withField(base, index, value)]);
          const error = await rejected(importCalls(t.store, file, { name: 'x.csv' }));
          expect(error.lines()).toContain(`x.csv:3: ${message}`);
          await nothingAppended();
        });
      }

      it('a using number no contract held on the call date', async () => {
        await expectRefused(callCsv([generatedRow(1, numbers), withField(base, 0, '0399999999')]), 'n.csv', [
          'n.csv:3: ご利用電話番号: no contract held 0399999999 on 2017/11/01',
        ]);
      });

      it('a call before its number was assigned', async () => {
        await expectRefused(callCsv([withField(base, 1, '2009/01/05')]), 'n.csv', [`n.csv:2: ご利用電話番号: no contract held ${base[0]} on 2009/01/05`]);
      });

      it('a conflicting re-delivery: the same call with another charge', async () => {
        const r = rows(4);
        await importCalls(t.store, callCsv(r), { name: 'first.csv' });
        before = await t.store.headPosition();
        const changed = [r[0]!, withField(r[1]!, 8, '999.99'), r[2]!, withField(r[3]!, 8, '0.01')];
        const error = await rejected(importCalls(t.store, callCsv(changed), { name: 'second.csv' }));
        expect(error.lines()).toEqual([
          `second.csv:3: 通話料: this call is already recorded with charge ${JSON.stringify(r[1]![8])}, this file says "999.99"; a correction goes through \`ledger import corrections\``,
          `second.csv:5: 通話料: this call is already recorded with charge ${JSON.stringify(r[3]![8])}, this file says "0.01"; a correction goes through \`ledger import corrections\``,
        ]);
        await nothingAppended();
      });

      it('the same call twice in one file with different charges', async () => {
        const r = rows(3);
        await expectRefused(callCsv([...r, withField(r[0]!, 8, '1.00')]), 'c.csv', [
          'c.csv:5: call: the same call as line 2 (number, start, destination, duration, call type) with different content; a correction goes through `ledger import corrections`',
        ]);
      });

      it('a bad row after chunks were already written: refused, and none of them stays', async () => {
        const many = rows(1000);
        many[899] = withField(many[899]!, 8, 'x');
        const error = await rejected(importCalls(t.store, callCsv(many), { name: 'late.csv', chunkSize: 100 }));
        expect(error.lines()).toEqual([`late.csv:901: 通話料: ${CHARGE_MESSAGE('x')}`]);
        await nothingAppended();
      });

      it('reports every problem, capped with "and N more"', async () => {
        const bad = rows(30).map((r) => withField(r, 8, 'x'));
        const error = await rejected(importCalls(t.store, callCsv(bad), { name: 'm.csv', maxProblems: 10 }));
        expect(error.lines()).toHaveLength(11);
        expect(error.lines()[0]).toBe(`m.csv:2: 通話料: ${CHARGE_MESSAGE('x')}`);
        expect(error.lines()[10]).toBe('and 20 more problems');
        await nothingAppended();
      });
    });
  });
}
