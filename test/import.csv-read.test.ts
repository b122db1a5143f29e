// The CSV reader splits plain lines itself and hands the rest to csv-parse: both readings must give
// the same records, the same line numbers and the same errors, whatever the file holds.
import fc from 'fast-check';
import { Readable } from 'node:stream';
import iconv from 'iconv-lite';
import { describe, expect, it } from 'vitest';
import { csvErrorOf, readCsvRows, readCsvRowsWithCsvParse, type CsvRow } from '../importers/csv-read.ts';
import { newDecodeReport } from '../importers/encoding.ts';

type Reading = { rows: CsvRow[]; error?: { line: number; message: string } };

async function readWith(read: typeof readCsvRows, chunks: readonly Buffer[]): Promise<Reading> {
  const rows: CsvRow[] = [];
  try {
    for await (const row of read(Readable.from(chunks, { objectMode: false }), newDecodeReport())) rows.push(row);
    return { rows };
  } catch (e) {
    const error = csvErrorOf(e);
    if (!error) throw e;
    return { rows, error };
  }
}

/** The bytes cut at the given points: records and multi-byte characters split across chunks. */
function cut(bytes: Buffer, points: readonly number[]): Buffer[] {
  const at = [...new Set(points.map((p) => p % (bytes.length + 1)))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let from = 0;
  for (const p of at) {
    if (p > from) out.push(bytes.subarray(from, p));
    from = Math.max(from, p);
  }
  if (from < bytes.length) out.push(bytes.subarray(from));
  return out;
}

/**
 * Same records, same error. csv-parse drops the records it has buffered when it meets a syntax
 * error, as many as its chunking happens to hold, so before an error only a prefix is compared.
 */
function agree(fast: Reading, oracle: Reading): void {
  expect(fast.error).toEqual(oracle.error);
  if (oracle.error) expect(fast.rows.slice(0, oracle.rows.length)).toEqual(oracle.rows);
  else expect(fast.rows).toEqual(oracle.rows);
}

const HEADER = 'ご利用電話番号,通話開始日時,通話開始時刻';
const piece = fc.constantFrom('0312345678', '2017/11/01', '', ' ', ',', '"', '""', '"a,b"', '"x\r\ny"', '\r', '\n', '\r\n', '東京', '携帯呼(au 定額)', '〜', 'x');

describe('reading CSV rows: the fast reading equals csv-parse', () => {
  it('on generated files with CRLF or LF, quotes, stray carriage returns and empty lines, in any chunking', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom('\r\n', '\n'),
        fc.array(fc.array(piece, { maxLength: 6 }), { maxLength: 12 }),
        fc.boolean(),
        fc.constantFrom('utf-8', 'cp932'),
        fc.array(fc.nat(400), { maxLength: 5 }),
        async (eol, lines, lastEol, encoding, points) => {
          const text = [HEADER, ...lines.map((l) => l.join(''))].join(eol) + (lastEol ? eol : '');
          const bytes = encoding === 'cp932' ? iconv.encode(text, 'cp932') : Buffer.from(text, 'utf8');
          const chunks = cut(bytes, points);
          const fast = await readWith(readCsvRows, chunks);
          const oracle = await readWith(readCsvRowsWithCsvParse, chunks);
          agree(fast, oracle);
        },
      ),
      { numRuns: 1500 },
    );
  });

  it('on plain files of many rows: every record with its line, empty lines counted but skipped', async () => {
    const lines = [HEADER];
    for (let i = 0; i < 5000; i++) lines.push(i % 97 === 0 ? '' : `03${String(i).padStart(8, '0')},2017/11/${String((i % 28) + 1).padStart(2, '0')},x ${i}`);
    const bytes = iconv.encode(`${lines.join('\r\n')}\r\n`, 'cp932');
    const fast = await readWith(readCsvRows, cut(bytes, [4096, 65536, 65537, 100_000]));
    const oracle = await readWith(readCsvRowsWithCsvParse, [bytes]);
    expect(fast).toEqual(oracle);
    expect(fast.rows.length).toBe(1 + 5000 - Math.ceil(5000 / 97));
    expect(fast.rows.at(-1)).toEqual({ line: 5001, fields: ['0300004999', '2017/11/16', 'x 4999'] });
  });

  it('names the right line of an unclosed quote after many plain lines', async () => {
    const text = `${HEADER}\r\n${'a,b,c\r\n'.repeat(300)}a,"b,c\r\nd,e,f\r\n`;
    const fast = await readWith(readCsvRows, [Buffer.from(text, 'utf8')]);
    expect(fast.error?.line).toBeGreaterThanOrEqual(302);
    agree(fast, await readWith(readCsvRowsWithCsvParse, [Buffer.from(text, 'utf8')]));
    expect(fast.rows.length).toBe(301);
  });
});
