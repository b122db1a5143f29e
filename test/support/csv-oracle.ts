// The CSV writer as it was before the chunked one (csv-stringify as a stream, cp932Text per
// field, iconv-lite per piece), kept as the oracle the property tests compare with — with one
// rule added since: a call-detail record with a cell a spreadsheet would run, or that is not text,
// stops the export (UnsafeCellError), checked here record by record, before its encoding.
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { Readable, Transform, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { stringify } from 'csv-stringify';
import iconv from 'iconv-lite';
import { CALLS_HEADER, UnencodableCharacterError, UnsafeCellError, callRecord, cp932Text, type ExportEncoding } from '../../importers/csv-export.ts';
import { freeTextProblem } from '../../domain/text.ts';
import type { Month } from '../../domain/time.ts';
import type { LedgerQueries } from '../../projections/read-model.ts';

export async function oracleWriteCsv(
  header: readonly string[],
  records: AsyncIterable<readonly string[]> | Iterable<readonly string[]>,
  encoding: ExportEncoding,
  out: Writable,
  callRecords = false,
): Promise<{ records: number; bytes: number }> {
  let count = 0;
  let bytes = 0;
  const fields = header;
  async function* checked(): AsyncGenerator<readonly string[]> {
    yield header;
    for await (const record of records) {
      count++;
      if (callRecords) {
        record.forEach((value, i) => {
          // The destination may begin with + (an international number), the charge with - (a
          // difference carried from a closed month): both are numbers then, not formulas.
          const why =
            i === 3
              ? /^\+?[0-9][0-9-]*$/.test(value)
                ? undefined
                : `${JSON.stringify(value)} is not a telephone number`
              : i === 8 && /^-?[0-9]+\.[0-9]{2}$/.test(value)
                ? undefined
                : freeTextProblem(value);
          if (why !== undefined) throw new UnsafeCellError(fields[i] ?? `field ${i + 1}`, value, count, `the call of ${record[0]} started ${record[1]} ${record[2]}`, why);
        });
      }
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

/** The call-detail export as it was: allCalls → callRecord → the writer above. */
export function oracleWriteCallsCsv(queries: LedgerQueries, contractCode: string, month: Month, encoding: ExportEncoding, out: Writable) {
  async function* records(): AsyncGenerator<string[]> {
    for await (const call of queries.allCalls(contractCode, month)) yield callRecord(call);
  }
  return oracleWriteCsv(CALLS_HEADER, records(), encoding, out, true);
}

/** The bytes a writer produces, or the message it fails with. */
export async function outcome(write: (out: Writable) => Promise<{ records: number; bytes: number }>): Promise<{ bytes: string; records: number } | { error: string }> {
  const chunks: Buffer[] = [];
  const out = new Writable({
    write(chunk: Buffer, _e, done) {
      chunks.push(chunk);
      done();
    },
  });
  try {
    const r = await write(out);
    const all = Buffer.concat(chunks);
    if (all.length !== r.bytes) return { error: `reported ${r.bytes} bytes, wrote ${all.length}` };
    // Small files in full (a failure shows the difference), large ones by their digest.
    return { bytes: all.length <= 2048 ? all.toString('hex') : `${all.length} bytes, sha256 ${createHash('sha256').update(all).digest('hex')}`, records: r.records };
  } catch (e) {
    return { error: (e as Error).message };
  }
}
