// Rows of a carrier CSV file (SPEC §7), either encoding, as they stream: the line each record
// ends on (1-based) and its raw fields. Trimming and validation are the callers'.
import { CsvError, parse } from 'csv-parse';
import { Readable } from 'node:stream';
import { decodeText, type DecodeReport } from './encoding.ts';

export interface CsvRow {
  readonly line: number;
  readonly fields: string[];
}

export async function* readCsvRows(bytes: Readable, report: DecodeReport): AsyncGenerator<CsvRow> {
  // relax_column_count: a row with a wrong number of fields is reported by the caller, with its line.
  const parser = parse({ relax_column_count: true, skip_empty_lines: true, info: true });
  const text = Readable.from(decodeText(bytes, report), { objectMode: true });
  text.on('error', (e) => parser.destroy(e));
  text.pipe(parser);
  for await (const item of parser as AsyncIterable<{ record: string[]; info: { lines: number } }>) {
    yield { line: item.info.lines, fields: item.record };
  }
}

/** A csv-parse error (an unclosed quote…) as a line and a sentence; undefined for anything else. */
export function csvErrorOf(e: unknown): { line: number; message: string } | undefined {
  if (!(e instanceof CsvError)) return undefined;
  const lines = (e as CsvError & { lines?: unknown }).lines;
  return { line: typeof lines === 'number' ? lines : 0, message: e.message.replace(/ on line \d+$/, '') };
}
