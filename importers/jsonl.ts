// JSON Lines inputs (contract changes, telegrams, corrections: INTERFACE.md). These files are
// small, so they are read whole; each is validated line by line, then applied whole or not at all.
import type { Kysely, Transaction } from 'kysely';
import { ExpectedVersionConflict, sharedTransactionOf, type AppendResult, type EventStore, type StreamAppend } from '../eventstore/port.ts';
import { codePointName, firstUnfitCharacter } from '../domain/text.ts';
import { ProblemList } from './problems.ts';
import { displayName, readAllBytes, type ImportInput } from './source.ts';

/** What every importer reports (INTERFACE: read / imported / already present / duplicates). */
export interface ImportResult {
  readonly file: string;
  /** Records in the file (non-blank lines, or CSV data rows). */
  readonly read: number;
  /** Records applied now. */
  readonly imported: number;
  /** Records whose events were stored already (a re-run). */
  readonly alreadyPresent: number;
  /** Exact repeats of an earlier record of the same file (counted once). */
  readonly duplicates: number;
}

export interface JsonLine {
  readonly line: number;
  readonly value: unknown;
}

export interface JsonLinesOptions {
  readonly name?: string;
  readonly maxProblems?: number;
}

/** Parse every non-blank line; JSON and encoding problems are added to `problems`. */
export async function readJsonLines(input: ImportInput, options: JsonLinesOptions, problems: ProblemList): Promise<{ file: string; lines: JsonLine[] }> {
  const file = displayName(input, options.name);
  const bytes = await readAllBytes(input);
  const text = new TextDecoder('utf-8', { fatal: false, ignoreBOM: false }).decode(bytes);
  const lines: JsonLine[] = [];
  const raw = text.split('\n');
  raw.forEach((rawLine, i) => {
    const lineText = rawLine.endsWith('\r') ? rawLine.slice(0, -1) : rawLine;
    if (lineText.trim() === '') return;
    const line = i + 1;
    if (lineText.includes('\uFFFD') || lineText.includes('\u0000')) {
      problems.add({ file, line, field: 'INVALID_ENCODING', message: 'not UTF-8 text (an undecodable or NUL byte); JSON Lines files are UTF-8' });
      return;
    }
    let value: unknown;
    try {
      value = JSON.parse(lineText);
    } catch (e) {
      problems.add({ file, line, field: 'INVALID_JSON', message: (e as Error).message });
      return;
    }
    // A JSON escape (\u0080, \ue000, \ud800) reaches what the raw text check above cannot.
    const unfit = unfitStringIn(value);
    if (unfit) {
      problems.add({ file, line, field: unfit.field, message: unfit.message });
      return;
    }
    lines.push({ line, value });
  });
  if (lines.length === 0 && problems.isEmpty) problems.add({ file, line: 0, field: 'EMPTY_FILE', message: 'the file holds no JSON line' });
  return { file, lines };
}

/** The first string value (at any depth) holding a character that is not text (domain/text.ts). */
function unfitStringIn(value: unknown, path = ''): { field: string; message: string } | undefined {
  if (typeof value === 'string') {
    const unfit = firstUnfitCharacter(value);
    return unfit ? { field: path || 'line', message: `character ${codePointName(unfit.codePoint)} at position ${unfit.index + 1} is a ${unfit.kind}, not text` } : undefined;
  }
  if (Array.isArray(value)) {
    for (const [i, item] of value.entries()) {
      const found = unfitStringIn(item, `${path}[${i}]`);
      if (found) return found;
    }
    return undefined;
  }
  if (value !== null && typeof value === 'object') {
    for (const [key, item] of Object.entries(value)) {
      const found = unfitStringIn(item, path ? `${path}.${key}` : key);
      if (found) return found;
    }
  }
  return undefined;
}

/**
 * Append all batches together: one transaction where the store shares its transactions (with
 * `alsoInTransaction`, e.g. the credentials of opened contracts), else one appendMany (atomic where
 * the adapter says so).
 */
export async function appendAll(
  store: EventStore,
  batches: readonly StreamAppend[],
  alsoInTransaction?: (db: Kysely<any> | Transaction<any> | undefined) => Promise<void>,
  onResults?: (results: readonly AppendResult[]) => void,
): Promise<void> {
  const inTransaction = sharedTransactionOf(store);
  if (inTransaction) {
    await inTransaction(async (trx) => {
      if (batches.length > 0) {
        // Not `onResults?.(await …)`: optional chaining would skip the append itself.
        const results = await trx.append(batches);
        onResults?.(results);
      }
      await alsoInTransaction?.(trx.db);
    });
    return;
  }
  if (batches.length > 0) {
    const results = await store.appendMany(batches);
    onResults?.(results);
  }
  await alsoInTransaction?.(undefined);
}

/** Events grouped per stream in file order, for one appendMany. */
export class StreamBatches {
  private readonly byStream = new Map<string, StreamAppend & { events: StreamAppend['events'][number][] }>();

  add(streamId: string, event: StreamAppend['events'][number], expectedVersion?: StreamAppend['expectedVersion']): void {
    let batch = this.byStream.get(streamId);
    if (!batch) {
      batch = { streamId, events: [], ...(expectedVersion !== undefined ? { expectedVersion } : {}) };
      this.byStream.set(streamId, batch);
    }
    batch.events.push(event);
  }

  get batches(): StreamAppend[] {
    return [...this.byStream.values()];
  }
}

export function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

/** appendAll, counting appended and already-present events. */
export async function appendCounting(store: EventStore, batches: StreamBatches): Promise<{ imported: number; alreadyPresent: number }> {
  let imported = 0;
  let alreadyPresent = 0;
  await appendAll(store, batches.batches, undefined, (results) => {
    for (const r of results) {
      imported += r.appended;
      alreadyPresent += r.alreadyPresent;
    }
  });
  return { imported, alreadyPresent };
}

/**
 * An import of JSON Lines validated against what is stored, then appended under expected versions:
 * read the body once, and when another writer changed a stream in between (ExpectedVersionConflict),
 * validate and append again, up to `maxAttempts` times (default 3).
 */
export async function importWithRetries<T>(
  input: ImportInput,
  options: { readonly name?: string; readonly maxAttempts?: number },
  once: (bytes: Buffer, name: string) => Promise<T>,
): Promise<T> {
  // Read once: a one-shot body can be validated again after a concurrent writer.
  const bytes = await readAllBytes(input);
  const name = options.name ?? (typeof input === 'string' ? input : 'input');
  const maxAttempts = Math.max(1, options.maxAttempts ?? 3);
  for (let attempt = 1; ; attempt++) {
    try {
      return await once(bytes, name);
    } catch (e) {
      if (!(e instanceof ExpectedVersionConflict) || attempt >= maxAttempts) throw e;
    }
  }
}
