// Cells a spreadsheet would run, and bytes that are not characters (issue "hostile data", points 3
// and 4): refused at import with FILE:LINE: FIELD, in both encodings and in JSON Lines; and, for a
// call stored before the rule, the export stops naming the call rather than write the cell.
import { Writable } from 'node:stream';
import iconv from 'iconv-lite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { callRecordedData, parseCallRow } from '../domain/call.ts';
import { streams } from '../domain/events.ts';
import { importCalls } from '../importers/calls.ts';
import { importContracts } from '../importers/contracts.ts';
import { importCorrections } from '../importers/corrections.ts';
import { UnsafeCellError, writeExport } from '../importers/csv-export.ts';
import { ImportRejected } from '../importers/problems.ts';
import { importTelegrams } from '../importers/telegrams.ts';
import { createProjectionRunner, projectionMigrations } from '../projections/index.ts';
import { createQueries } from '../projections/queries.ts';
import { HEADER } from './support/call-csv.ts';
import { testTargets, type TestDatabase } from './support/stores.ts';
import { A, json, openFixture, seedTwoContracts } from './api.support.ts';

const jsonl = (...lines: unknown[]) => Buffer.from(lines.map((l) => (typeof l === 'string' ? l : JSON.stringify(l))).join('\n') + '\n');
const row = (over: Partial<Record<'destination' | 'area' | 'callType', string>> = {}, time = '101200.0') =>
  ['0312345678', '2017/11/01', time, over.destination ?? '03-1234-5678', over.area ?? '東京', '000106.0', '外線', over.callType ?? '国内呼', '8.00'];
/** A CSV line of fields, quoting a field that holds a comma, a quote, CR or LF (as a spreadsheet writes it). */
const csvLine = (fields: readonly string[]) => fields.map((f) => (/[",\r\n]/.test(f) ? `"${f.replaceAll('"', '""')}"` : f)).join(',');

async function rejected(run: Promise<unknown>): Promise<ImportRejected> {
  const e = await run.then(() => undefined, (x: unknown) => x);
  expect(e).toBeInstanceOf(ImportRejected);
  return e as ImportRejected;
}

function sink(): Writable {
  return new Writable({ write: (_c, _e, done) => done() });
}

for (const target of testTargets) {
  describe(`hostile cells and bytes (${target.name})`, () => {
    let t: TestDatabase;
    beforeAll(async () => {
      t = await target.open([projectionMigrations]);
      await importContracts(
        t.store,
        jsonl(
          { type: 'OpenContract', contractCode: 'd500000001', selfId: 'd500000001', startDate: '2010-11-15', channels: 1, connectionType: 'ダイヤルイン接続', primaryDns: '192.0.2.1', secondaryDns: '192.0.2.2', basicNumber: '0120500001' },
          { type: 'AddNumber', contractCode: 'd500000001', dialInNumber: '0312345678', auMobileNumber: '09012345678', startDate: '2010-11-15' },
        ),
        { name: 'c.jsonl' },
      );
    });
    afterAll(async () => {
      await t?.cleanup();
    });

    it.each(['cp932', 'utf-8'] as const)('a call-detail CSV (%s) with formula cells is refused, FILE:LINE: FIELD, nothing stored', async (encoding) => {
      const before = await t.store.headPosition();
      const lines = [
        csvLine(row({ destination: "=cmd|'/c calc'!A1" }, '101200.0')),
        csvLine(row({ area: '@SUM(1+1)' }, '101300.0')),
        csvLine(row({ callType: '=1+1国内' }, '101400.0')),
        csvLine(row({ area: '\t東京' }, '101500.0')),
        csvLine(row({ area: '-東京' }, '101600.0')),
        csvLine(row({ destination: '03 1234 5678' }, '101700.0')),
        csvLine(row({ area: '東\n京' }, '101800.0')),
      ];
      const bytes = iconv.encode([HEADER.join(','), ...lines].join('\r\n') + '\r\n', encoding === 'cp932' ? 'cp932' : 'utf8');
      const error = await rejected(importCalls(t.store, bytes, { name: 'calls.csv' }));
      expect(error.lines()).toEqual([
        `calls.csv:2: 着信電話番号: expected a telephone number (digits and hyphens, an optional leading +), got "=cmd|'/c calc'!A1"`,
        'calls.csv:3: 地域名: must not begin with "@": a spreadsheet would run "@SUM(1+1)" as a formula',
        'calls.csv:4: 呼種別: must not begin with "=": a spreadsheet would run "=1+1国内" as a formula',
        'calls.csv:5: 地域名: character U+0009 at position 1 is a control character, not text',
        'calls.csv:6: 地域名: must not begin with "-": a spreadsheet would run "-東京" as a formula',
        'calls.csv:7: 着信電話番号: expected a telephone number (digits and hyphens, an optional leading +), got "03 1234 5678"',
        'calls.csv:9: 地域名: character U+000A at position 2 is a control character, not text',
      ]);
      expect(await t.store.headPosition()).toBe(before);
    });

    it.each([
      ['CP932 byte 0x80 (a C1 control)', Buffer.from([0x80]), 'cp932', 'byte 0x80 at column 45: U+0080 is a C1 control character, not text'],
      ['CP932 user-defined 0xF040', Buffer.from([0xf0, 0x40]), 'cp932', 'bytes 0xF0 0x40 at column 45: U+E000 is a user-defined (private-use) character, not text'],
      ['CP932 user-defined 0xF9FC', Buffer.from([0xf9, 0xfc]), 'cp932', 'a byte that is not valid Shift_JIS (CP932) at column 45'],
      ['UTF-8 C1 (0xC2 0x85)', Buffer.from([0xc2, 0x85]), 'utf-8', 'bytes 0xC2 0x85 at column 45: U+0085 is a C1 control character, not text'],
      ['UTF-8 private use (0xEE 0x80 0x80)', Buffer.from([0xee, 0x80, 0x80]), 'utf-8', 'bytes 0xEE 0x80 0x80 at column 45: U+E000 is a private-use character, not text'],
      ['UTF-8 plane 15 (0xF3 0xB0 0x80 0x80)', Buffer.from([0xf3, 0xb0, 0x80, 0x80]), 'utf-8', 'bytes 0xF3 0xB0 0x80 0x80 at column 45: U+F0000 is a private-use character, not text'],
      ['a NUL byte', Buffer.from([0x00]), 'utf-8', 'binary data (a NUL byte): not a text CSV file'],
      ['DEL', Buffer.from([0x7f]), 'utf-8', 'byte 0x7F at column 45: U+007F is a control character, not text'],
    ] as const)('%s in a text field is refused with FILE:LINE: FIELD: byte … at column …', async (_name, bad, encoding, message) => {
      const enc = (text: string) => iconv.encode(text, encoding === 'cp932' ? 'cp932' : 'utf8');
      // The area field begins at column 45 of the data line.
      const [head, tail] = [csvLine(row()).split('東京')[0]!, csvLine(row()).split('東京')[1]!];
      expect(head.length + 1).toBe(45);
      const bytes = Buffer.concat([enc(`${HEADER.join(',')}\r\n${head}`), bad, enc(`東京${tail}\r\n`)]);
      const before = await t.store.headPosition();
      const error = await rejected(importCalls(t.store, bytes, { name: 'bytes.csv' }));
      expect(error.lines()).toEqual([`bytes.csv:2: 地域名: ${message}`]);
      expect(await t.store.headPosition()).toBe(before);
    });

    it('JSON Lines: control, C1 and private-use characters (raw or escaped) and formula text are refused, FILE:LINE: FIELD', async () => {
      const before = await t.store.headPosition();
      const telegram = { contractCode: 'd500000001', date: '2017-11-03', receiptNumber: 'R-1', destination: '東京都千代田区', kind: '祝電', charge: '1000.00' };
      const error = await rejected(
        importTelegrams(
          t.store,
          jsonl(
            { ...telegram, kind: '=1+1' },
            { ...telegram, receiptNumber: 'R-2', destination: '@東京' },
            '{"contractCode":"d500000001","date":"2017-11-03","receiptNumber":"R-3","destination":"東京","kind":"祝\\u0080電","charge":"1.00"}',
            { ...telegram, receiptNumber: 'R-4', kind: '祝\uE000電' },
            { ...telegram, receiptNumber: 'R-5', kind: '祝\t電' },
            '{"contractCode":"d500000001","date":"2017-11-03","receiptNumber":"R-6","destination":"東京","kind":"\\ud800","charge":"1.00"}',
          ),
          { name: 't.jsonl' },
        ),
      );
      expect(error.lines()).toEqual([
        't.jsonl:1: kind: must not begin with "=": a spreadsheet would run "=1+1" as a formula',
        't.jsonl:2: destination: must not begin with "@": a spreadsheet would run "@東京" as a formula',
        't.jsonl:3: kind: character U+0080 at position 2 is a C1 control character, not text',
        't.jsonl:4: kind: character U+E000 at position 2 is a private-use character, not text',
        't.jsonl:5: kind: character U+0009 at position 2 is a control character, not text',
        't.jsonl:6: kind: character U+D800 at position 1 is a lone surrogate, not text',
      ]);
      const contract = await rejected(
        importContracts(t.store, jsonl('{"type":"ChangeChannels","contractCode":"d500000001","channels":2,"effectiveFrom":"2017-01-01","commandId":"T\\u0085"}'), { name: 'c.jsonl' }),
      );
      expect(contract.lines()).toEqual(['c.jsonl:1: commandId: character U+0085 at position 2 is a C1 control character, not text']);
      const [call] = await t.store.readAll({ streamPrefixes: ['calls-'] });
      if (call) {
        const fix = await rejected(importCorrections(t.store, jsonl({ callId: call.id, charge: '1.00', reason: '+cmd' }), { name: 'f.jsonl' }));
        expect(fix.lines()).toEqual(['f.jsonl:1: reason: must not begin with "+": a spreadsheet would run "+cmd" as a formula']);
      }
      expect(await t.store.headPosition()).toBe(before);
    });

    it('an international destination keeps its own + (a number), imports and exports', async () => {
      const bytes = iconv.encode([HEADER.join(','), csvLine(row({ destination: '+81312345678' }, '111100.0')), csvLine(row({}, '111200.0'))].join('\r\n') + '\r\n', 'cp932');
      expect(await importCalls(t.store, bytes, { name: 'intl.csv' })).toMatchObject({ imported: 2 });
      await createProjectionRunner(t.database, t.store).catchUp();
      const queries = createQueries(t.database, t.store);
      for (const encoding of ['sjis', 'utf-8'] as const) {
        expect(await writeExport('calls', queries, 'd500000001', '2017-11', encoding, sink())).toMatchObject({ records: 2 });
      }
    });

    it.each([
      ['着信電話番号', { destination: "=cmd|'/c calc'!A1" }, `"=cmd|'/c calc'!A1" is not a telephone number`],
      ['着信電話番号', { destination: '' }, '"" is not a telephone number'],
      ['着信電話番号', { destination: 'abc 123' }, '"abc 123" is not a telephone number'],
      ['地域名', { area: '@SUM(1+1)' }, 'must not begin with "@": a spreadsheet would run "@SUM(1+1)" as a formula'],
      ['呼種別', { callType: '=1+1国内' }, 'must not begin with "=": a spreadsheet would run "=1+1国内" as a formula'],
      ['地域名', { area: 'a\tb' }, 'character U+0009 at position 2 is a control character, not text'],
      ['地域名', { area: '+1' }, 'must not begin with "+": a spreadsheet would run "+1" as a formula'],
    ] as const)('a call stored before the rule, with a bad %s, stops the export naming the call; the cell is never written', async (field, over, why) => {
      const code = `d5${String(Math.floor(Math.random() * 1e8)).padStart(8, '0')}`;
      const number = `03${code.slice(2, 10)}`;
      await importContracts(
        t.store,
        jsonl(
          { type: 'OpenContract', contractCode: code, selfId: code, startDate: '2010-11-15', channels: 1, connectionType: 'ダイヤルイン接続', primaryDns: '192.0.2.1', secondaryDns: '192.0.2.2', basicNumber: `0120${code.slice(4, 10)}` },
          { type: 'AddNumber', contractCode: code, dialInNumber: number, auMobileNumber: '09012345678', startDate: '2010-11-15' },
        ),
        { name: 'c.jsonl' },
      );
      // Stored as the earlier importer stored it: the rule did not exist.
      const good = parseCallRow({ usingNumber: number, startDate: '2017/11/01', startTime: '090000.0', destination: '03-1111-2222', area: '東京', duration: '000106.0', extensionType: '外線', callType: '国内呼', charge: '8.00' });
      if (!good.ok) throw new Error('bad fixture');
      const data = { ...callRecordedData(good.call, code) };
      const bad = { ...data, callId: crypto.randomUUID(), startTime: '100000.0', ...over };
      await t.store.append(streams.calls(code, '2017-11'), [
        { id: data.callId, type: 'CallRecorded', data },
        { id: bad.callId, type: 'CallRecorded', data: bad },
      ]);
      await createProjectionRunner(t.database, t.store).catchUp();
      const queries = createQueries(t.database, t.store);
      for (const encoding of ['sjis', 'utf-8'] as const) {
        const written: Buffer[] = [];
        const out = new Writable({
          write(c: Buffer, _e, done) {
            written.push(c);
            done();
          },
        });
        const e = await writeExport('calls', queries, code, '2017-11', encoding, out).then(() => undefined, (x: unknown) => x);
        expect(e).toBeInstanceOf(UnsafeCellError);
        expect((e as Error).message).toBe(`record 2 (the call of ${number} started 2017/11/01 100000.0), ${field}: ${why}; the export stops rather than write it into a spreadsheet`);
        const text = encoding === 'sjis' ? iconv.decode(Buffer.concat(written), 'cp932') : Buffer.concat(written).toString('utf8');
        // (An empty cell is in every text: its refusal above is what tells.)
        const cell = Object.values(over)[0]!;
        if (cell !== '') expect(text).not.toContain(cell);
      }
    });
  });

  describe(`POST /api/v1/admin/imports/calls with formula cells (${target.name})`, () => {
    it('answers 422 with the line, field and message of each, and imports nothing', async () => {
      const f = await openFixture(target);
      try {
        await seedTwoContracts(f);
        const head = await f.db.store.headPosition();
        const body = new TextEncoder().encode(
          [HEADER.join(','), `${A.dialIn},2017/11/21,120000.0,=HYPERLINK(1),東京,000200.0,外線,国内呼,8.00`, `${A.dialIn},2017/11/21,130000.0,03-5555-6666,@x,000200.0,外線,国内呼,8.00`].join('\r\n') + '\r\n',
        );
        const res = await f.request('POST', '/api/v1/admin/imports/calls', { token: f.adminToken, body, headers: { 'content-type': 'text/csv' } });
        expect(res.status).toBe(422);
        const error = (await json(res)).error;
        expect(error.details).toEqual([
          { line: 2, field: '着信電話番号', message: 'expected a telephone number (digits and hyphens, an optional leading +), got "=HYPERLINK(1)"' },
          { line: 3, field: '地域名', message: 'must not begin with "@": a spreadsheet would run "@x" as a formula' },
        ]);
        expect(await f.db.store.headPosition()).toBe(head);
      } finally {
        await f.close();
      }
    });
  });
}
