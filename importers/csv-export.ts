// The one CSV writer (SPEC §5, §7): `ledger export` and the API's background exports both use it.
// Shift_JIS (CP932) with CRLF by default, UTF-8 with a BOM on request. Written a chunk at a time:
// call details come formatted by the database (on PostgreSQL as COPY text, which is already the
// CSV line when no field needs quotes); a record that needs quotes goes through csv-stringify.
//
// iconv-lite writes `?` for a character CP932 has no code for — including characters Japanese
// text is full of once it has been through Unicode: WAVE DASH U+301C, MINUS SIGN U+2212, EM DASH
// U+2014 … (their JIS X 0208 mapping, not Microsoft's). Those are mapped to the code points CP932
// does have for the same glyphs; any other character without a CP932 code refuses the export
// with UnencodableCharacterError, naming the record, the field and the character. Never a silent `?`.
import { once } from 'node:events';
import { Writable } from 'node:stream';
import { stringify as stringifySync } from 'csv-stringify/sync';
import iconv from 'iconv-lite';
import { markedCallType } from '../domain/adjustments.ts';
import { CALL_COLUMNS } from '../domain/call.ts';
import { freeTextProblem, isTelephoneNumber, mayHoldUnfitCharacter } from '../domain/text.ts';
import type { Month } from '../domain/time.ts';
import { CALL_WITHOUT_DURATION, type CallDetail, type CallRecordChunk, type CategoryFigures, type LedgerQueries, type MonthCharges } from '../projections/read-model.ts';

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

/**
 * A cell of the call-detail CSV that a spreadsheet would run as a formula, or that is not text
 * (domain/text.ts). The import refuses such data; a call stored before that rule may still hold
 * it, and then the export stops, naming the call, rather than write the cell (belt and braces).
 */
export class UnsafeCellError extends Error {
  readonly code = 'UNSAFE_CELL';
  constructor(
    readonly field: string,
    readonly value: string,
    /** 1-based data record (the header is record 0). */
    readonly record: number,
    /** The call, as the record names it: number, start date and time. */
    readonly call: string,
    why: string,
  ) {
    super(`record ${record} (${call}), ${field}: ${why}; the export stops rather than write it into a spreadsheet`);
  }
}

const DESTINATION_FIELD = 3;
const CHARGE_FIELD = 8;
/** 通話料 as the export writes it (Money, 2 places); negative for a carried difference (SPEC §4.1). */
const AMOUNT = /^-?[0-9]+\.[0-9]{2}$/;

/** Why a call-detail cell may not be written, if it may not. */
export function unsafeCell(index: number, value: string): string | undefined {
  // A destination's leading + is the number's own (an international number); it is a number then.
  if (index === DESTINATION_FIELD) return isTelephoneNumber(value) ? undefined : `${JSON.stringify(value)} is not a telephone number`;
  // A charge's leading - is the number's own (a correction's difference carried from a closed
  // month may be negative): a spreadsheet reads -272.50 as the number it is, never a formula.
  if (index === CHARGE_FIELD && AMOUNT.test(value)) return undefined;
  return freeTextProblem(value);
}

/** The first cell of the records (the first numbered `firstRecord`) that may not be written. */
function firstUnsafeCell(records: readonly (readonly string[])[], firstRecord: number): UnsafeCellError | undefined {
  for (let n = 0; n < records.length; n++) {
    const record = records[n]!;
    for (let i = 0; i < record.length; i++) {
      const why = unsafeCell(i, record[i]!);
      if (why !== undefined) {
        return new UnsafeCellError(CALLS_HEADER[i] ?? `field ${i + 1}`, record[i]!, firstRecord + n, `the call of ${record[0]} started ${record[1]} ${record[2]}`, why);
      }
    }
  }
  return undefined;
}

// COPY text of call records that holds no unsafe cell fails all of these; one that may, passes
// one, and is then checked record by record. A cell begins at a line's start or after a comma
// (an escaped comma only makes the test pass where it need not); COPY writes a TAB, CR or LF
// inside a field as \t, \r, \n; the destination (the fourth cell) may begin with +.
const FORMULA_AT_CELL_START = /(?:^|,)(?:[=\-@]|\\[tr])/m;
const ESCAPED_CONTROL = /\\[trnbfv]/;
const PLUS_AT_CELL_START = /(?:^|,)\+/m;
const DESTINATION_PLUS = /^((?:[^,\n]*,){3})\+/gm;

// A negative charge (the last cell) is a number, not a formula: left out of the test above.
const NEGATIVE_CHARGE = /,-[0-9]+\.[0-9]{2}$/gm;
// A line whose destination (the fourth cell; a cell holds any character but an unescaped comma)
// is not a telephone number as unsafeCell reads one: empty, words, spaces (found by the property
// test against the oracle: an empty destination was written by this path and refused by the other).
const DESTINATION_NOT_A_NUMBER = /^(?:(?:[^,\\\n]|\\.)*,){3}(?!\+?[0-9][0-9-]*,)/m;

function mayHoldUnsafeCell(copyText: string): boolean {
  if (ESCAPED_CONTROL.test(copyText) || mayHoldUnfitCharacter(copyText) || DESTINATION_NOT_A_NUMBER.test(copyText)) return true;
  if (FORMULA_AT_CELL_START.test(copyText) && FORMULA_AT_CELL_START.test(copyText.replace(NEGATIVE_CHARGE, ','))) return true;
  return PLUS_AT_CELL_START.test(copyText) && PLUS_AT_CELL_START.test(copyText.replace(DESTINATION_PLUS, '$1'));
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

// ---- CP932 a chunk at a time ---------------------------------------------------------------------
// iconv-lite's encoder costs three quarters of the export's own time and allocates three bytes a
// character. CP932 is one code per character (iconv-lite's table has no sequences), so the code
// of each character is asked of iconv-lite once — after the CP932_FORMS mapping, with the same
// round trip as cp932Text — and kept; a chunk is then one loop over its characters.
// test/export.csv.property.test.ts holds the result equal to iconv-lite's for every BMP character
// and for arbitrary texts.

/** Per UTF-16 code unit: 0 not yet asked (U+0000 is ASCII), NO_CODE, a byte, or two bytes. */
const cp932Codes = new Uint16Array(0x10000);
const NO_CODE = 0xffff;

function cp932CodeOf(unit: number): number {
  const ch = String.fromCharCode(unit);
  const mapped = CP932_FORMS[ch] ?? ch;
  // A surrogate (half of a character outside the BMP) fails the round trip: CP932 has none.
  const code = isCp932Encodable(mapped.charCodeAt(0)) ? codeBytes(iconv.encode(mapped, 'cp932')) : NO_CODE;
  cp932Codes[unit] = code;
  return code;
}

function codeBytes(b: Buffer): number {
  return b.length === 1 ? b[0]! : (b[0]! << 8) | b[1]!;
}

let scratch = Buffer.allocUnsafe(1 << 17);

/**
 * CP932 bytes of `text` as iconv-lite writes them after cp932Text; undefined when a character has
 * none. `crlf`: every LF is written as CR LF (saves a copy of the text).
 */
export function encodeCp932Chunk(text: string, crlf = false): Buffer | undefined {
  if (scratch.length < text.length * 2) scratch = Buffer.allocUnsafe(text.length * 2);
  const out = scratch;
  let j = 0;
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i);
    if (unit < 0x80) {
      if (unit === 0x0a && crlf) out[j++] = 0x0d;
      out[j++] = unit;
      continue;
    }
    let code = cp932Codes[unit]!;
    if (code === 0) code = cp932CodeOf(unit);
    if (code === NO_CODE) return undefined;
    if (code < 0x100) out[j++] = code;
    else {
      out[j++] = code >> 8;
      out[j++] = code & 0xff;
    }
  }
  return Buffer.from(out.subarray(0, j));
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
 * is shown under the representative number (SPEC §3.3), as on the portal. The export has the
 * database format its records the same way (CALL_RECORD_FIELDS in projections/queries.ts).
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
    // A row carried from a closed month says so (前月以前分の調整, SPEC §4.1): 呼種別 is the one
    // free-text field of the fixed layout that has room for it.
    c.adjustment === null ? c.callType : markedCallType(c.callType, c.adjustment.kind, c.adjustment.month),
    c.charge.toString(),
  ];
}

// ---- writing ------------------------------------------------------------------------------------

export interface CsvWriteResult {
  /** Data records written (the header not counted). */
  readonly records: number;
  readonly bytes: number;
}

/** csv-stringify's options for SPEC §7: `,`, `"` quotes where needed, CRLF after every record. */
const STRINGIFY_OPTIONS = { record_delimiter: '\r\n' } as const;
/**
 * A field that may need quotes: csv-stringify decides (with CRLF as the record delimiter it quotes
 * `,`, `"` and CRLF, not a lone CR or LF). Any other field it writes as it is.
 */
const NEEDS_QUOTES = /[,"\r\n]/;

/**
 * One record as CSV text with its CRLF, as csv-stringify writes it: a plain join when no field
 * needs quoting, csv-stringify itself when one does (test/export.csv.property.test.ts holds them equal).
 */
export function csvRecordText(record: readonly string[]): string {
  for (const value of record) if (NEEDS_QUOTES.test(value)) return stringifySync([record as string[]], STRINGIFY_OPTIONS);
  return `${record.join(',')}\r\n`;
}

const COPY_ESCAPES: Readonly<Record<string, string>> = { '\\': '\\', ',': ',', n: '\n', r: '\r', t: '\t', b: '\b', f: '\f', v: '\v' };

/**
 * The fields of one line of COPY text (delimiter `,`, without its `\n`). `\N` (NULL) is refused:
 * the only field that can be NULL is a call's duration-or-count, when it has neither.
 */
export function copyFields(line: string): string[] {
  const fields: string[] = [];
  let field = '';
  let from = 0;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (c === ',') {
      fields.push(field + line.slice(from, i));
      field = '';
      from = i + 1;
    } else if (c === '\\') {
      const escaped = COPY_ESCAPES[line[i + 1] ?? ''];
      if (line[i + 1] === 'N') throw new Error(CALL_WITHOUT_DURATION);
      if (escaped === undefined) throw new Error(`unexpected COPY escape in a call record: ${JSON.stringify(line.slice(i, i + 2))}`);
      field += line.slice(from, i) + escaped;
      from = i + 2;
      i++;
    }
  }
  fields.push(field + line.slice(from));
  return fields;
}

/** The lines of a text of whole `\n`-terminated lines. */
function linesOf(text: string): string[] {
  return text.slice(0, -1).split('\n');
}

/**
 * A line of COPY text without `\` (an escaped comma, CR, LF …) and without `"` has no field to
 * quote: it is the CSV record already, but for the CR of its CRLF.
 */
function isPlainCopyText(text: string): boolean {
  return !text.includes('\\') && !text.includes('"');
}

/** CSV text (CRLF) of whole lines of COPY text. */
export function csvOfCopyText(text: string): string {
  if (isPlainCopyText(text)) return text.replaceAll('\n', '\r\n');
  let csv = '';
  for (const line of linesOf(text)) csv += isPlainCopyText(line) ? `${line}\r\n` : csvRecordText(copyFields(line));
  return csv;
}

function countLines(text: string): number {
  let n = 0;
  for (let i = text.indexOf('\n'); i >= 0; i = text.indexOf('\n', i + 1)) n++;
  return n;
}

/**
 * Writes CSV text to `out` in the export's encoding, a chunk at a time. When a CP932 chunk holds a
 * character without a code, the records of that chunk are checked field by field (cp932Text) to
 * name the record, the field and the character.
 */
class EncodedOutput {
  bytes = 0;
  private failure: Error | undefined;
  private readonly onError = (e: Error) => {
    this.failure ??= e;
  };

  constructor(
    private readonly encoding: ExportEncoding,
    private readonly out: Writable,
    private readonly fields: readonly string[],
  ) {
    // A write error (a full disk) may come while the database is read: kept for the next write.
    out.on('error', this.onError);
  }

  close(): void {
    this.out.off('error', this.onError);
  }

  async bom(): Promise<void> {
    await this.write(Buffer.from([0xef, 0xbb, 0xbf]));
  }

  /**
   * `firstRecord`: the number of the chunk's first record (the header is 0). `lf`: the records of
   * `csv` end in LF alone, to be written as CRLF.
   */
  async text(csv: string, lf: boolean, firstRecord: number, records: () => readonly (readonly string[])[]): Promise<void> {
    if (this.encoding === 'utf-8') return this.write(Buffer.from(lf ? csv.replaceAll('\n', '\r\n') : csv, 'utf8'));
    const encoded = encodeCp932Chunk(csv, lf);
    if (!encoded) throw this.unencodable(firstRecord, records());
    await this.write(encoded);
  }

  /**
   * Before an unsafe cell of record `unsafe.record` is reported, a record before it (in the same
   * chunk) without a CP932 form: problems are told in record order.
   */
  refusal(unsafe: UnsafeCellError, firstRecord: number, records: readonly (readonly string[])[]): Error {
    if (this.encoding !== 'sjis') return unsafe;
    const before = records.slice(0, unsafe.record - firstRecord);
    const unencodable = this.unencodable(firstRecord, before);
    return unencodable instanceof UnencodableCharacterError ? unencodable : unsafe;
  }

  private unencodable(firstRecord: number, records: readonly (readonly string[])[]): Error {
    for (let n = 0; n < records.length; n++) {
      const record = records[n]!;
      for (let i = 0; i < record.length; i++) {
        const r = cp932Text(record[i]!);
        if (!r.ok) return new UnencodableCharacterError(r.character, this.fields[i] ?? `field ${i + 1}`, record[i]!, firstRecord + n);
      }
    }
    return new Error('a chunk of the export has a character without a CP932 code, but none of its fields has');
  }

  private async write(buf: Buffer): Promise<void> {
    if (this.failure) throw this.failure;
    this.bytes += buf.length;
    if (!this.out.write(buf)) await once(this.out, 'drain');
    if (this.failure) throw this.failure;
  }
}

/** Records per encoded chunk on the field-list path. */
const CHUNK_RECORDS = 1000;

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
  async function* chunks(): AsyncIterable<CallRecordChunk> {
    let chunk: (readonly string[])[] = [];
    for await (const record of records) {
      chunk.push(record);
      if (chunk.length === CHUNK_RECORDS) {
        yield { records: chunk };
        chunk = [];
      }
    }
    if (chunk.length > 0) yield { records: chunk };
  }
  return writeCsvChunks(header, chunks(), encoding, out);
}

/**
 * The same from chunks of records or of COPY text (CallRecordChunk). `callRecords`: the records are
 * SPEC §7.2 call details, each checked for a cell a spreadsheet would run (UnsafeCellError).
 */
async function writeCsvChunks(
  header: readonly string[],
  chunks: AsyncIterable<CallRecordChunk>,
  encoding: ExportEncoding,
  out: Writable,
  callRecords = false,
): Promise<CsvWriteResult> {
  const output = new EncodedOutput(encoding, out, header);
  try {
    if (encoding === 'utf-8') await output.bom();
    await output.text(csvRecordText(header), false, 0, () => [header]);
    let count = 0;
    for await (const chunk of chunks) {
      if ('records' in chunk) {
        const unsafe = callRecords ? firstUnsafeCell(chunk.records, count + 1) : undefined;
        if (unsafe) throw output.refusal(unsafe, count + 1, chunk.records);
        await output.text(chunk.records.map(csvRecordText).join(''), false, count + 1, () => chunk.records);
        count += chunk.records.length;
      } else {
        const text = chunk.copyText;
        if (callRecords && mayHoldUnsafeCell(text)) {
          const records = linesOf(text).map(copyFields);
          const unsafe = firstUnsafeCell(records, count + 1);
          if (unsafe) throw output.refusal(unsafe, count + 1, records);
        }
        const plain = isPlainCopyText(text);
        await output.text(plain ? text : csvOfCopyText(text), plain, count + 1, () => linesOf(text).map(copyFields));
        count += countLines(text);
      }
    }
    return { records: count, bytes: output.bytes };
  } finally {
    output.close();
  }
}

/** SPEC §7.1 per-number charges of a month. */
export async function writeNumbersCsv(queries: LedgerQueries, contractCode: string, month: Month, encoding: ExportEncoding, out: Writable): Promise<CsvWriteResult> {
  const charges = await queries.monthCharges(contractCode, month);
  return writeCsv(NUMBERS_HEADER, numbersRecords(charges), encoding, out);
}

/** SPEC §7.2 call details of a month, in start order, formatted and streamed by the read model. */
export async function writeCallsCsv(queries: LedgerQueries, contractCode: string, month: Month, encoding: ExportEncoding, out: Writable): Promise<CsvWriteResult> {
  return writeCsvChunks(CALLS_HEADER, queries.callRecords(contractCode, month), encoding, out, true);
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
