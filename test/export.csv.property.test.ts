// The chunked CSV writer against the oracle (test/support/csv-oracle.ts: the writer as it was,
// csv-stringify + cp932Text per field + iconv-lite): byte-identical output, or the same refusal,
// for arbitrary text — commas, quotes, CR/LF, backslashes, WAVE DASH, characters CP932 lacks.
// The table-driven CP932 encoder is held to iconv-lite for every BMP character.
import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import iconv from 'iconv-lite';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CALLS_HEADER, cp932Text, csvRecordText, encodeCp932Chunk, writeCsv, writeExport, type ExportEncoding } from '../importers/csv-export.ts';
import { CHARGE_TABLES } from '../projections/charges.ts';
import { projectionMigrations } from '../projections/index.ts';
import { createQueries } from '../projections/queries.ts';
import type { LedgerQueries } from '../projections/read-model.ts';
import { stringify } from 'csv-stringify/sync';
import { oracleWriteCallsCsv, oracleWriteCsv, outcome } from './support/csv-oracle.ts';
import { testTargets, type TestDatabase } from './support/stores.ts';

/** Pieces that matter to CSV, to COPY text or to CP932 (mapped, refused, one-way in iconv-lite). */
const PIECES = [',', '"', '""', '\r', '\n', '\r\n', '\t', '\\', '\\N', 'N', '\b', '\f', '\v', ' ', '〜', '−', '—', '‖', '¢', '£', '¬', '¦', '東京', '①', '№', 'Ⅳ', '㈱', '髙', 'ｱ', '~', 'a', '0', '.', '-', '/'];
const REFUSED = ['€', '𠮷', '¥', '‾', '\u0080', 'é', '\u{1F600}'];

const encodableText = fc.string({ unit: fc.constantFrom(...PIECES), maxLength: 6 });
const anyText = fc.oneof(
  { weight: 10, arbitrary: encodableText },
  { weight: 2, arbitrary: fc.string({ unit: 'grapheme', maxLength: 6 }) },
  { weight: 1, arbitrary: fc.string({ unit: fc.constantFrom(...PIECES, ...REFUSED), maxLength: 4 }) },
);

/**
 * Lists of records: mostly CP932-encodable ones, half of those with one refused character put in
 * somewhere (so that both writing and refusing are exercised), and now and then any text at all.
 */
function arbRecords<T>(record: (text: fc.Arbitrary<string>) => fc.Arbitrary<T>, spoil: (r: T, field: number, ch: string) => T, maxLength: number): fc.Arbitrary<T[]> {
  const clean = fc
    .tuple(fc.array(record(encodableText), { minLength: 1, maxLength }), fc.option(fc.tuple(fc.nat(), fc.nat(), fc.constantFrom(...REFUSED)), { nil: undefined, freq: 2 }))
    .map(([records, bad]) => (bad ? records.map((r, i) => (i === bad[0] % records.length ? spoil(r, bad[1], bad[2]) : r)) : records));
  return fc.oneof({ weight: 4, arbitrary: clean }, { weight: 1, arbitrary: fc.array(record(anyText), { maxLength }) });
}

const spoilText = (text: string, ch: string) => text.slice(0, text.length >> 1) + ch + text.slice(text.length >> 1);

describe('the CP932 table (encodeCp932Chunk) against iconv-lite', () => {
  it('encodes every BMP character as iconv-lite does after cp932Text, and refuses exactly what cp932Text refuses', () => {
    const differences: string[] = [];
    for (let unit = 0; unit < 0x10000; unit++) {
      const ch = String.fromCharCode(unit);
      const r = cp932Text(ch);
      const expected = r.ok ? iconv.encode(r.text, 'cp932').toString('hex') : undefined;
      const actual = encodeCp932Chunk(ch)?.toString('hex');
      if (actual !== expected) differences.push(`U+${unit.toString(16)}: ${actual} ≠ ${expected}`);
    }
    expect(differences).toEqual([]);
  });

  it('encodes arbitrary texts as iconv-lite does (LF as CRLF on request)', () => {
    fc.assert(
      fc.property(fc.array(anyText, { maxLength: 12 }), fc.boolean(), (parts, crlf) => {
        const text = parts.join('');
        const r = cp932Text(crlf ? text.replaceAll('\n', '\r\n') : text);
        const expected = r.ok ? iconv.encode(r.text, 'cp932').toString('hex') : undefined;
        expect(encodeCp932Chunk(text, crlf)?.toString('hex')).toBe(expected);
      }),
      { numRuns: 2000 },
    );
  });
});

describe('records (writeCsv) against the oracle', () => {
  it('a record is written as csv-stringify writes it', () => {
    fc.assert(
      fc.property(fc.array(anyText, { minLength: 1, maxLength: 9 }), (record) => {
        expect(csvRecordText(record)).toBe(stringify([record], { record_delimiter: '\r\n' }));
      }),
      { numRuns: 2000 },
    );
  });

  it('writes the same bytes, or refuses with the same message, in both encodings', async () => {
    await fc.assert(
      fc.asyncProperty(
        arbRecords((text) => fc.array(text, { minLength: 1, maxLength: 9 }), (r, field, ch) => r.map((v, i) => (i === field % r.length ? spoilText(v, ch) : v)), 30),
        fc.constantFrom<ExportEncoding>('sjis', 'utf-8'),
        async (records, encoding) => {
          const ours = await outcome((out) => writeCsv(CALLS_HEADER, records, encoding, out));
          const theirs = await outcome((out) => oracleWriteCsv(CALLS_HEADER, records, encoding, out));
          expect(ours).toEqual(theirs);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('numbers the record that has no CP932 form across chunks of records', async () => {
    const records = Array.from({ length: 2500 }, (_, i) => ['0312345678', '2017/11/01', '201221.5', '03-1234-5678', i === 2344 ? 'Paris€' : '東京〜大阪', '000106.0', '外線', '国内呼', '8.00']);
    const ours = await outcome((out) => writeCsv(CALLS_HEADER, records, 'sjis', out));
    expect(ours).toEqual({ error: expect.stringMatching(/^record 2345, 地域名: the character "€"/) });
    expect(ours).toEqual(await outcome((out) => oracleWriteCsv(CALLS_HEADER, records, 'sjis', out)));
  });
});

interface CallRowData {
  readonly fields: readonly string[];
  readonly duration: string | null;
  readonly count: number | null;
  readonly charge: string;
  readonly startedAt: bigint;
  readonly voided: boolean;
  /** 前月以前分の調整: carried from a closed month (呼種別 gets its mark), or an ordinary call. */
  readonly carry: { readonly from: string; readonly kind: 'late' | 'corrected' | 'voided' } | null;
}

const arbCents = fc.bigInt({ min: -(10n ** 14n) + 1n, max: 10n ** 14n - 1n });
/** What PostgreSQL can store: no NUL, no lone surrogate. */
const storable = (text: fc.Arbitrary<string>) => text.map((s) => s.replaceAll('\u0000', '').replace(/[\uD800-\uDFFF]/gu, ''));
const arbCall = (text: fc.Arbitrary<string>): fc.Arbitrary<CallRowData> => fc.record({
  fields: fc.array(storable(text), { minLength: 7, maxLength: 7 }),
  duration: fc.option(storable(text), { nil: null }),
  count: fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }),
  cents: arbCents,
  startedAt: fc.bigInt({ min: -(2n ** 40n), max: 2n ** 40n }),
  voided: fc.boolean(),
  carry: fc.option(fc.record({ from: fc.constantFrom('2017-10', '2016-01', '1999-12'), kind: fc.constantFrom('late' as const, 'corrected' as const, 'voided' as const) }), { nil: null, freq: 3 }),
  // Call types long enough, now and then, that the mark of a carried row cuts them (80 characters).
  stretch: fc.oneof({ weight: 3, arbitrary: fc.constant(1) }, { weight: 1, arbitrary: fc.integer({ min: 10, max: 40 }) }),
}).map(({ fields, duration, count, cents, startedAt, voided, carry, stretch }) => ({
  carry,
  fields: fields.map((f, i) => (i === 6 ? f.repeat(stretch) : f)),
  duration,
  count: duration === null ? count : null,
  charge: `${cents < 0n ? '-' : ''}${(cents < 0n ? -cents : cents) / 100n}.${String((cents < 0n ? -cents : cents) % 100n).padStart(2, '0')}`,
  startedAt,
  voided,
}));

const CODE = 'd123456789';
const MONTH = '2017-11';

async function insertCalls(t: TestDatabase, calls: readonly CallRowData[], options: { startedAt?: (i: number) => bigint } = {}): Promise<void> {
  const db = t.database.db;
  await sql`delete from ${sql.table(CHARGE_TABLES.calls)}`.execute(db);
  for (let from = 0; from < calls.length; from += 500) {
    const rows = calls.slice(from, from + 500).map((c, k) => {
      const [attributed, startDate, startTime, destination, area, extensionType, callType] = c.fields as [string, string, string, string, string, string, string];
      return {
        call_id: randomUUID(),
        position: from + k + 1,
        contract_code: CODE,
        billing_month: MONTH,
        using_number: attributed,
        attributed_number: attributed,
        started_at: String(options.startedAt ? options.startedAt(from + k) : c.startedAt),
        start_date: startDate,
        start_time: startTime,
        destination,
        area,
        duration: c.duration,
        count: c.count,
        extension_type: extensionType,
        call_type: callType,
        category: 'domestic',
        free: false,
        recorded_charge: c.charge,
        charge: c.charge,
        billed: c.charge,
        voided: c.voided,
        carried_from: c.carry?.from ?? null,
        carry: c.carry?.kind ?? null,
      };
    });
    if (rows.length > 0) await db.insertInto(CHARGE_TABLES.calls).values(rows).execute();
  }
}

for (const target of testTargets) {
  describe(`call-detail export against the oracle (${target.name}${target.name === 'PostgreSQL' ? ', COPY' : ', pages'})`, () => {
    let t: TestDatabase;
    let queries: LedgerQueries;
    beforeAll(async () => {
      t = await target.open([projectionMigrations]);
      queries = createQueries(t.database, t.store);
    });
    afterAll(async () => {
      await t?.cleanup();
    });

    const both = async (encoding: ExportEncoding) => ({
      ours: await outcome((out) => writeExport('calls', queries, CODE, MONTH, encoding, out)),
      theirs: await outcome((out) => oracleWriteCallsCsv(queries, CODE, MONTH, encoding, out)),
    });

    it('arbitrary call details: the same bytes, or the same refusal, in both encodings', async () => {
      await fc.assert(
        fc.asyncProperty(arbRecords(arbCall, (c, field, ch) => ({ ...c, fields: c.fields.map((v, i) => (i === field % 7 ? spoilText(v, ch) : v)) }), 25), async (calls) => {
          await insertCalls(t, calls);
          for (const encoding of ['sjis', 'utf-8'] as const) {
            const { ours, theirs } = await both(encoding);
            expect(ours).toEqual(theirs);
          }
        }),
        { numRuns: target.name === 'PostgreSQL' ? 60 : 25 },
      );
    });

    it('a large month: the same bytes; a character without a CP932 form early in it is named as the oracle names it', async () => {
      // Made by the database: a record to quote every 997 (a comma and quotes: a line break in a
      // field is refused since, see the property above), one refused character. On PostgreSQL
      // 60,000 calls (4.5 MB): far more than is in flight when the export stops at record 1,500.
      const n = target.name === 'PostgreSQL' ? 60000 : 12000;
      const fill = async (bad: number) => {
        await sql`delete from ${sql.table(CHARGE_TABLES.calls)}`.execute(t.database.db);
        await sql`
          insert into ${sql.table(CHARGE_TABLES.calls)} (call_id, position, contract_code, billing_month, using_number, attributed_number, started_at,
            start_date, start_time, destination, area, duration, count, extension_type, call_type, category, free, recorded_charge, charge, billed)
          select gen_random_uuid(), i, ${CODE}, ${MONTH}, '0310000000', '0310000000', i, '2017-11-03', '101010.0', '03-1234-5678',
            case when i % 997 = 5 then E'札幌,"北"〜' else '東京' end, '000130.0', null, '外線',
            case when i = ${bad} then '国内呼€' else '国内呼' end, 'domestic', false, 8, 8, 8
          from generate_series(1, ${n}::int) i`.execute(t.database.db);
      };
      await fill(0);
      for (const encoding of ['sjis', 'utf-8'] as const) {
        const { ours, theirs } = await both(encoding);
        expect(ours).toEqual(theirs);
        expect(ours).toMatchObject({ records: n });
      }
      await fill(1500);
      const { ours, theirs } = await both('sjis');
      expect(ours).toEqual({ error: expect.stringMatching(/^record 1500, 呼種別: the character "€"/) });
      expect(ours).toEqual(theirs);
      // The export stopped early, with most of the month still to come: every connection still answers.
      await Promise.all(Array.from({ length: 30 }, () => sql`select 1`.execute(t.database.db)));
      expect((await both('utf-8')).ours).toMatchObject({ records: n });
    });

    it('rows carried from a closed month (前月以前分の調整): 呼種別 marked and cut to 80 characters, negative charges — the same bytes', async () => {
      const kinds = ['late', 'corrected', 'voided'] as const;
      const callTypes = (unit: string) => [0, 1, 52, 53, 54, 55, 79, 80, 81, 120].map((n) => unit.repeat(n));
      const callsOf = (unit: string) =>
        callTypes(unit).flatMap((callType, i) =>
          kinds.map((kind, k): CallRowData => ({
            fields: ['0310000000', '2017/11/03', '101010.0', '03-1234-5678', '東京', '外線', callType],
            duration: '000130.0',
            count: null,
            charge: k === 2 ? `-${i + 1}.50` : `${i}.00`,
            startedAt: BigInt(i * 3 + k),
            voided: false,
            carry: { from: '2017-10', kind },
          })),
        );
      for (const [unit, encodings] of [['携', ['sjis', 'utf-8']], ['a,"', ['sjis', 'utf-8']], ['𠮷', ['utf-8']]] as const) {
        await insertCalls(t, callsOf(unit));
        for (const encoding of encodings) {
          const { ours, theirs } = await both(encoding);
          expect(ours).toMatchObject({ records: 30 });
          expect(ours).toEqual(theirs);
        }
      }
    });

    it('refuses a call with neither a duration nor a count (it has no 通話時間)', async () => {
      await insertCalls(t, [{ fields: ['0310000000', '2017/11/03', '101010.0', '03-1234-5678', '東京', '外線', '国内呼'], duration: null, count: null, charge: '8.00', startedAt: 0n, voided: false, carry: null }]);
      expect((await both('sjis')).ours).toEqual({ error: 'a call in the call details has neither a duration nor a count' });
    });
  });
}
