// The one CSV writer (SPEC §5, §7): `ledger export` and the API's background exports both use it.
// Streamed with csv-stringify; Shift_JIS (CP932) with CRLF by default, UTF-8 with a BOM on request.
//
// iconv-lite writes `?` for a character CP932 has no code for — including characters Japanese
// text is full of once it has been through Unicode: WAVE DASH U+301C, MINUS SIGN U+2212, EM DASH
// U+2014 … (their JIS X 0208 mapping, not Microsoft's). Those are mapped to the code points CP932
// does have for the same glyphs; any other character without a CP932 code refuses the export
// with UnencodableCharacterError, naming the record, the field and the character. Never a silent `?`.
import { once } from 'node:events';
import { Readable, Transform, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { stringify } from 'csv-stringify';
import iconv from 'iconv-lite';
import { CALL_COLUMNS } from '../domain/call.ts';
import type { Month } from '../domain/time.ts';
import type { CallDetail, CategoryFigures, LedgerQueries, MonthCharges } from '../projections/read-model.ts';

export type ExportEncoding = 'sjis' | 'utf-8';
export type ExportKind = 'numbers' | 'calls';

/** SPEC §7.1, byte-for-byte. */
export const NUMBERS_HEADER: readonly string[] = ['ご利用電話番号', '合計料金', '国内通話', '国際通話', 'au通話', 'その他移動体'];
/** SPEC §7.2, byte-for-byte. */
export const CALLS_HEADER: readonly string[] = CALL_COLUMNS.map((c) => c.header);

/** The Unicode characters whose glyph CP932 encodes under another code point (JIS X 0208 vs Microsoft). */
export const CP932_FORMS: Readonly<Record<string, string>> = {
  '\u301C': '\uFF5E', // WAVE DASH → FULLWIDTH TILDE (0x8160)
  '\u2016': '\u2225', // DOUBLE VERTICAL LINE → PARALLEL TO (0x8161)
  '\u2212': '\uFF0D', // MINUS SIGN → FULLWIDTH HYPHEN-MINUS (0x817C)
  '\u2014': '\u2015', // EM DASH → HORIZONTAL BAR (0x815C)
  '\u00A2': '\uFFE0', // CENT SIGN → FULLWIDTH CENT SIGN (0x8191)
  '\u00A3': '\uFFE1', // POUND SIGN → FULLWIDTH POUND SIGN (0x8192)
  '\u00AC': '\uFFE2', // NOT SIGN → FULLWIDTH NOT SIGN (0x81CA)
  '\u00A6': '\uFFE4', // BROKEN BAR → FULLWIDTH BROKEN BAR (0xFA55)
};
const CP932_FORM_PATTERN = new RegExp(`[${Object.keys(CP932_FORMS).join('')}]`, 'g');

export class UnencodableCharacterError extends Error {
  readonly code = 'UNENCODABLE_CHARACTER';
  constructor(
    readonly character: string,
    readonly field: string,
    readonly value: string,
    /** 1-based data record (the header is record 0). */
    readonly record: number,
  ) {
    const cp = `U+${character.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}`;
    super(`record ${record}, ${field}: the character ${JSON.stringify(character)} (${cp}) in ${JSON.stringify(value)} has no Shift_JIS (CP932) form; export with --encoding utf-8 instead`);
  }
}

const encodable = new Map<number, boolean>();

function isCp932Encodable(codePoint: number): boolean {
  let ok = encodable.get(codePoint);
  if (ok === undefined) {
    const ch = String.fromCodePoint(codePoint);
    ok = iconv.decode(iconv.encode(ch, 'cp932'), 'cp932') === ch;
    encodable.set(codePoint, ok);
  }
  return ok;
}

const ASCII = /^[\x00-\x7F]*$/;

/**
 * The text CP932 will encode exactly: the mapped characters replaced, anything else without a
 * CP932 code refused. `undefined` with the offending character when it cannot be done.
 */
export function cp932Text(value: string): { ok: true; text: string } | { ok: false; character: string } {
  if (ASCII.test(value)) return { ok: true, text: value };
  const text = value.replace(CP932_FORM_PATTERN, (c) => CP932_FORMS[c]!);
  for (const ch of text) {
    const cp = ch.codePointAt(0)!;
    if (cp > 0x7f && !isCp932Encodable(cp)) return { ok: false, character: ch };
  }
  return { ok: true, text };
}

/** Encode a whole text as CP932, refusing (never `?`) what has no code. */
export function encodeCp932(value: string, field = 'text', record = 0): Buffer {
  const r = cp932Text(value);
  if (!r.ok) throw new UnencodableCharacterError(r.character, field, value, record);
  return iconv.encode(r.text, 'cp932');
}

// ---- records ------------------------------------------------------------------------------------

/** SPEC §7.1 amounts: plain decimal, 2 places (`1928.50`). The self-page's files show normal charges. */
export function numberRecord(number: string, f: CategoryFigures): string[] {
  return [number, f.total.toString(), f.domestic.toString(), f.international.toString(), f.au.toString(), f.otherMobile.toString()];
}

export function numbersRecords(charges: MonthCharges): string[][] {
  return [...charges.numbers].sort((a, b) => (a.number < b.number ? -1 : a.number > b.number ? 1 : 0)).map((n) => numberRecord(n.number, n.normal));
}

/**
 * SPEC §7.2. The number column is the attributed number: with 拠点代表番号通知 in effect every call
 * is shown under the representative number (SPEC §3.3), as on the portal.
 */
export function callRecord(c: CallDetail): string[] {
  return [
    c.attributedNumber,
    c.startDate.replaceAll('-', '/'),
    c.startTime,
    c.destination,
    c.area,
    c.duration ?? `${c.count}件`,
    c.extensionType,
    c.callType,
    c.charge.toString(),
  ];
}

// ---- writing ------------------------------------------------------------------------------------

export interface CsvWriteResult {
  /** Data records written (the header not counted). */
  readonly records: number;
  readonly bytes: number;
}

/**
 * Write header + records as SPEC §7 CSV to `out` (left open: a caller's stdout stays usable).
 * On UnencodableCharacterError part of the file may already be written; callers writing a file
 * write to a temporary name and rename (the CLI) or keep the result only on success (the API).
 */
export async function writeCsv(
  header: readonly string[],
  records: AsyncIterable<readonly string[]> | Iterable<readonly string[]>,
  encoding: ExportEncoding,
  out: Writable,
): Promise<CsvWriteResult> {
  let count = 0;
  let bytes = 0;
  const fields = header;
  async function* checked(): AsyncGenerator<readonly string[]> {
    yield header;
    for await (const record of records) {
      count++;
      if (encoding === 'sjis') {
        const mapped = record.map((value, i) => {
          const r = cp932Text(value);
          if (!r.ok) throw new UnencodableCharacterError(r.character, fields[i] ?? `field ${i + 1}`, value, count);
          return r.text;
        });
        yield mapped;
      } else {
        yield record;
      }
    }
  }
  const encode = new Transform({
    writableObjectMode: false,
    decodeStrings: false,
    transform(chunk: string | Buffer, _enc, done) {
      const text = typeof chunk === 'string' ? chunk : chunk.toString('utf8');
      // Every field was checked above: this encoding cannot meet a character without a code.
      const buf = encoding === 'sjis' ? iconv.encode(text, 'cp932') : Buffer.from(text, 'utf8');
      bytes += buf.length;
      done(null, buf);
    },
  });
  if (encoding === 'utf-8') {
    const bom = Buffer.from([0xef, 0xbb, 0xbf]);
    bytes += bom.length;
    if (!out.write(bom)) await once(out, 'drain');
  }
  await pipeline(Readable.from(checked()), stringify({ record_delimiter: '\r\n' }), encode, out, { end: false });
  return { records: count, bytes };
}

/** SPEC §7.1 per-number charges of a month. */
export async function writeNumbersCsv(queries: LedgerQueries, contractCode: string, month: Month, encoding: ExportEncoding, out: Writable): Promise<CsvWriteResult> {
  const charges = await queries.monthCharges(contractCode, month);
  return writeCsv(NUMBERS_HEADER, numbersRecords(charges), encoding, out);
}

/** SPEC §7.2 call details of a month, in start order, streamed from the read model. */
export async function writeCallsCsv(queries: LedgerQueries, contractCode: string, month: Month, encoding: ExportEncoding, out: Writable): Promise<CsvWriteResult> {
  async function* records(): AsyncGenerator<string[]> {
    for await (const call of queries.allCalls(contractCode, month)) yield callRecord(call);
  }
  return writeCsv(CALLS_HEADER, records(), encoding, out);
}

export function writeExport(kind: ExportKind, queries: LedgerQueries, contractCode: string, month: Month, encoding: ExportEncoding, out: Writable): Promise<CsvWriteResult> {
  return kind === 'numbers' ? writeNumbersCsv(queries, contractCode, month, encoding, out) : writeCallsCsv(queries, contractCode, month, encoding, out);
}

/** The whole file in memory (the API's background exports keep it for 48 hours). Shape of api/ports.ts CsvFileBuilder. */
export async function buildCsvFile(input: {
  readonly queries: LedgerQueries;
  readonly contractCode: string;
  readonly month: Month;
  readonly kind: ExportKind;
  readonly encoding: ExportEncoding;
}): Promise<Uint8Array> {
  const chunks: Buffer[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      chunks.push(chunk);
      done();
    },
  });
  await writeExport(input.kind, input.queries, input.contractCode, input.month, input.encoding, sink);
  return Buffer.concat(chunks);
}
