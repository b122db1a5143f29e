// Rows of a carrier CSV file (SPEC §7), either encoding, as they stream: the line each record
// ends on (1-based) and its raw fields. Trimming and validation are the callers'.
//
// csv-parse reads the file, except for its plain lines: a line with no quote character and no
// stray carriage return is exactly its text split at the commas, and splitting it here costs a
// tenth of what csv-parse spends on it (a million-row import spent 15 µs a row in csv-parse, more
// than its whole budget). The first line that is not plain hands the rest of the file to
// csv-parse, told the record delimiter the header line used, and its line numbers and errors are
// shifted by the lines read before. test/import.csv-read.test.ts checks both readings agree on
// generated and hostile files.
import { CsvError, parse } from 'csv-parse';
import { Readable } from 'node:stream';
import { decodeText, type DecodeReport } from './encoding.ts';

export interface CsvRow {
  readonly line: number;
  readonly fields: string[];
}

/** Every record read by csv-parse alone (the oracle of the fast reading; also used by tests). */
export async function* readCsvRowsWithCsvParse(bytes: Readable, report: DecodeReport): AsyncGenerator<CsvRow> {
  yield* csvParseRows(decodeText(bytes, report), 0, undefined);
}

export async function* readCsvRows(bytes: Readable, report: DecodeReport): AsyncGenerator<CsvRow> {
  const text = decodeText(bytes, report)[Symbol.asyncIterator]();
  let delimiter: '\r\n' | '\n' | undefined;
  let linesBefore = 0;
  let carry = '';
  for (;;) {
    const next = await text.next();
    const buffer = next.done ? carry : carry + next.value;
    let at = 0;
    for (;;) {
      const lf = buffer.indexOf('\n', at);
      if (lf < 0) break;
      if (delimiter === undefined) {
        // The header line decides the record delimiter, as csv-parse's own detection does.
        delimiter = lf > 0 && buffer.charCodeAt(lf - 1) === 0x0d ? '\r\n' : '\n';
      }
      const end = delimiter === '\r\n' ? lf - 1 : lf;
      if (!isPlain(buffer, at, end, lf, delimiter)) {
        // A header that is not plain: csv-parse reads the whole file and finds its delimiter itself.
        yield* csvParseRows(rest(buffer.slice(at), text), linesBefore, linesBefore === 0 ? undefined : delimiter);
        return;
      }
      linesBefore++;
      if (end > at) yield { line: linesBefore, fields: buffer.slice(at, end).split(',') };
      at = lf + 1;
    }
    if (next.done) {
      // The last line, without a record delimiter after it.
      if (at < buffer.length) {
        if (!isPlain(buffer, at, buffer.length, buffer.length, delimiter ?? '\n')) {
          yield* csvParseRows(rest(buffer.slice(at), text), linesBefore, linesBefore === 0 ? undefined : delimiter);
          return;
        }
        yield { line: linesBefore + 1, fields: buffer.slice(at).split(',') };
      }
      return;
    }
    carry = buffer.slice(at);
  }
}

/** A line [at, end) ending at the LF `lf`: no quote, and no carriage return but its delimiter's. */
function isPlain(buffer: string, at: number, end: number, lf: number, delimiter: '\r\n' | '\n'): boolean {
  if (end < at) return false; // a lone LF in a CRLF file: csv-parse keeps it as data
  if (delimiter === '\r\n' && lf < buffer.length && buffer.charCodeAt(end) !== 0x0d) return false;
  const line = buffer.slice(at, end);
  return !line.includes('"') && !line.includes('\r');
}

async function* rest(head: string, tail: AsyncIterator<string>): AsyncGenerator<string> {
  if (head) yield head;
  for (;;) {
    const next = await tail.next();
    if (next.done) return;
    yield next.value;
  }
}

async function* csvParseRows(text: AsyncIterable<string>, linesBefore: number, delimiter: '\r\n' | '\n' | undefined): AsyncGenerator<CsvRow> {
  // relax_column_count: a row with a wrong number of fields is reported by the caller, with its line.
  const parser = parse({ relax_column_count: true, skip_empty_lines: true, info: true, ...(delimiter ? { record_delimiter: delimiter } : {}) });
  const source = Readable.from(text, { objectMode: true });
  source.on('error', (e) => parser.destroy(e));
  source.pipe(parser);
  try {
    for await (const item of parser as AsyncIterable<{ record: string[]; info: { lines: number } }>) {
      yield { line: item.info.lines + linesBefore, fields: item.record };
    }
  } catch (e) {
    if (e instanceof CsvError && linesBefore > 0) {
      const withLines = e as CsvError & { lines?: unknown };
      if (typeof withLines.lines === 'number') withLines.lines += linesBefore;
      e.message = e.message.replace(/\bline (\d+)/g, (_, n: string) => `line ${Number(n) + linesBefore}`);
    }
    throw e;
  }
}

/** A csv-parse error (an unclosed quote…) as a line and a sentence; undefined for anything else. */
export function csvErrorOf(e: unknown): { line: number; message: string } | undefined {
  if (!(e instanceof CsvError)) return undefined;
  const lines = (e as CsvError & { lines?: unknown }).lines;
  return { line: typeof lines === 'number' ? lines : 0, message: e.message.replace(/ on line \d+$/, '') };
}
