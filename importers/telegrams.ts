// Import of telegram charges (電報, INTERFACE "Other engineer files"): JSON Lines
// `{"contractCode","date","receiptNumber","destination","kind","charge"}` → TelegramRecorded on
// `telegrams-<code>`. SPEC §3.5: telegram charges are kept apart from call totals. The whole file or
// nothing.
//
// Identity: the receipt number (受付番号) within the contract. Two telegrams alike in all but it are
// two charges; the same receipt number again is already present, or, with other content, refused.
// Telegrams stored before receipt numbers were identified by their content (legacyTelegramIdOf):
//   - a line without a receipt number that repeats such a telegram is already present (a file
//     imported then, delivered again); any other line without one is refused;
//   - the first line naming a receipt number for such a telegram gives it that number
//     (TelegramReceiptNumbered), so the file of then, re-sent with receipt numbers, bills nothing
//     twice; the next line alike in all but its receipt number is a second telegram.
import { basename } from 'node:path';
import { uuidv5 } from '../domain/uuid.ts';
import { z } from 'zod';
import { isContractCode } from '../domain/contract.ts';
import { streams, type TelegramReceiptNumbered, type TelegramRecorded } from '../domain/events.ts';
import { Money, MoneyFormatError } from '../domain/money.ts';
import { freeTextProblem } from '../domain/text.ts';
import { isJapanDate } from '../domain/time.ts';
import { upcastTelegramRecorded } from '../domain/upcasters.ts';
import type { EventStore, RecordedEvent } from '../eventstore/port.ts';
import { appendCounting, importWithRetries, plural, readJsonLines, StreamBatches, type ImportResult, type JsonLinesOptions } from './jsonl.ts';
import { ProblemList } from './problems.ts';
import type { ImportInput } from './source.ts';

/** UUIDv5 namespace of telegram ids. Never change it: stored ids depend on it. */
export const TELEGRAM_NAMESPACE = '2b7f4c1e-8d3a-4f6b-9e2c-5a1d7c3e9f40';

/** 受付番号 as the telegram service writes it: letters, digits and hyphens, up to 32. */
const RECEIPT_NUMBER = /^[0-9A-Za-z][0-9A-Za-z-]{0,31}$/;

const telegramLine = z.strictObject({
  contractCode: z.string(),
  date: z.string(),
  receiptNumber: z.string().optional(),
  destination: z.string().min(1, 'must not be empty'),
  kind: z.string().min(1, 'must not be empty'),
  charge: z.string(),
});

/** What a telegram is, but for its receipt number: two lines alike in this are alike. */
interface TelegramContent {
  readonly contractCode: string;
  readonly date: string;
  readonly destination: string;
  readonly kind: string;
  /** As Money.toString() writes it. */
  readonly charge: string;
}

/** A telegram's id: its receipt number within its contract. */
export function telegramIdOf(t: { contractCode: string; receiptNumber: string }): string {
  return uuidv5(['receipt', t.contractCode, t.receiptNumber].join('\u001f'), TELEGRAM_NAMESPACE);
}

/** The id telegrams were given before receipt numbers: their content. Kept to recognise them. */
export function legacyTelegramIdOf(t: TelegramContent): string {
  return uuidv5([t.contractCode, t.date, t.destination, t.kind, t.charge].join('\u001f'), TELEGRAM_NAMESPACE);
}

export interface TelegramImportOptions extends JsonLinesOptions {
  /** Attempts when another writer changes a telegram stream between validation and append (default 3). */
  readonly maxAttempts?: number;
}

export async function importTelegrams(store: EventStore, input: ImportInput, options: TelegramImportOptions = {}): Promise<ImportResult> {
  return importWithRetries(input, options, (bytes, name) => importOnce(store, bytes, name, options));
}

/** A contract's telegram stream as stored, and what this file has claimed of it so far. */
interface TelegramStream {
  readonly exists: boolean;
  readonly version: number;
  readonly byId: Map<string, RecordedEvent>;
  /** Legacy telegrams that have a receipt number (stored, or given by an earlier line of this file). */
  readonly numbered: Set<string>;
}

async function importOnce(store: EventStore, bytes: Buffer, name: string, options: TelegramImportOptions): Promise<ImportResult> {
  const problems = new ProblemList(options.maxProblems ?? 100);
  const { file, lines } = await readJsonLines(bytes, { ...options, name }, problems);
  const contracts = new Map<string, TelegramStream>();
  const seen = new Map<string, { line: number; content: TelegramContent }>();
  const batches = new StreamBatches();
  let duplicates = 0;
  let present = 0;
  let numbering = 0;
  let candidates = 0;

  const streamOf = async (code: string): Promise<TelegramStream> => {
    let s = contracts.get(code);
    if (!s) {
      const exists = (await store.readStream(streams.contract(code))).length > 0;
      const recorded = exists ? await store.readStream(streams.telegrams(code)) : [];
      const numbered = new Set(recorded.filter((e) => e.type === 'TelegramReceiptNumbered').map((e) => (e.data as TelegramReceiptNumbered['data']).telegramId));
      s = { exists, version: recorded.length === 0 ? -1 : recorded[recorded.length - 1]!.revision, byId: new Map(recorded.map((e) => [e.id, e])), numbered };
      contracts.set(code, s);
    }
    return s;
  };

  for (const { line, value } of lines) {
    const parsed = telegramLine.safeParse(value);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      const field = issue.code === 'unrecognized_keys' ? issue.keys.join(', ') : issue.path.join('.') || 'line';
      problems.add({ file, line, field, message: issue.code === 'unrecognized_keys' ? 'unknown field' : issue.message });
      continue;
    }
    const t = parsed.data;
    let bad = false;
    const problem = (field: string, message: string) => {
      bad = true;
      problems.add({ file, line, field, message });
    };
    let stream: TelegramStream | undefined;
    if (!isContractCode(t.contractCode)) problem('contractCode', `expected "d" and 9 digits, got ${JSON.stringify(t.contractCode)}`);
    else {
      stream = await streamOf(t.contractCode);
      if (!stream.exists) problem('contractCode', `no contract ${t.contractCode}`);
    }
    if (!isJapanDate(t.date)) problem('date', `expected a date YYYY-MM-DD, got ${JSON.stringify(t.date)}`);
    if (t.receiptNumber !== undefined && !RECEIPT_NUMBER.test(t.receiptNumber)) {
      problem('receiptNumber', `expected a receipt number (受付番号): letters, digits and hyphens, up to 32, got ${JSON.stringify(t.receiptNumber)}`);
    }
    for (const field of ['destination', 'kind'] as const) {
      const why = freeTextProblem(t[field]);
      if (why) problem(field, why);
    }
    let charge: Money | undefined;
    try {
      charge = Money.parseCharge(t.charge);
    } catch (e) {
      if (!(e instanceof MoneyFormatError)) throw e;
      problem('charge', e.message);
    }
    if (bad || !charge || !stream) continue;
    const content: TelegramContent = { contractCode: t.contractCode, date: t.date, destination: t.destination, kind: t.kind, charge: charge.toString() };
    const legacyId = legacyTelegramIdOf(content);
    const telegramsStream = streams.telegrams(t.contractCode);
    const source = { source: `${basename(file)}:${line}` };

    if (t.receiptNumber === undefined) {
      // Only a line of a file imported before receipt numbers, delivered again, may go without one.
      if (seen.has(legacyId)) duplicates++;
      else if (stream.byId.get(legacyId)?.type === 'TelegramRecorded') {
        seen.set(legacyId, { line, content });
        present++;
      } else {
        problem('receiptNumber', 'missing: the receipt number (受付番号) is what tells two telegrams alike in date, destination, kind and charge apart');
      }
      continue;
    }

    const id = telegramIdOf({ contractCode: t.contractCode, receiptNumber: t.receiptNumber });
    const earlier = seen.get(id);
    if (earlier) {
      if (sameContent(earlier.content, content)) duplicates++;
      else problem('receiptNumber', `${t.receiptNumber} is on line ${earlier.line} too, with ${differences(earlier.content, content)}`);
      continue;
    }
    seen.set(id, { line, content });
    const stored = stream.byId.get(id);
    if (stored) {
      const storedContent = contentOf(stored, stream);
      if (storedContent && sameContent(storedContent, content)) present++;
      else problem('receiptNumber', `${t.receiptNumber} is already recorded for ${t.contractCode}${storedContent ? ` with ${differences(storedContent, content)}` : ''}; a receipt number names one telegram`);
      continue;
    }
    candidates++;
    if (stream.byId.get(legacyId)?.type === 'TelegramRecorded' && !stream.numbered.has(legacyId)) {
      // The telegram is stored already, from a file without receipt numbers: it gets this one.
      stream.numbered.add(legacyId);
      numbering++;
      const data: TelegramReceiptNumbered['data'] = { telegramId: legacyId, contractCode: t.contractCode, receiptNumber: t.receiptNumber };
      batches.add(telegramsStream, { id, type: 'TelegramReceiptNumbered', data, metadata: source }, expected(stream.version));
      continue;
    }
    const data: TelegramRecorded['data'] = {
      telegramId: id,
      contractCode: t.contractCode,
      date: t.date,
      month: t.date.slice(0, 7),
      receiptNumber: t.receiptNumber,
      destination: t.destination,
      kind: t.kind,
      charge: content.charge,
    };
    batches.add(telegramsStream, { id, type: 'TelegramRecorded', data, metadata: source }, expected(stream.version));
  }
  if (!problems.isEmpty) throw problems.reject(`${file}: ${plural(problems.count, 'problem')}; nothing imported`);
  const { imported, alreadyPresent } = await appendCounting(store, batches);
  if (imported + alreadyPresent !== candidates) throw new Error(`telegram import counted ${imported + alreadyPresent} of ${candidates} events`);
  // A receipt number given to a telegram stored before is that telegram, present already.
  return { file, read: lines.length, imported: imported - numbering, alreadyPresent: present + alreadyPresent + numbering, duplicates };
}

/** The content of a stored telegram event (for a receipt number given later: of the telegram it names). */
function contentOf(e: RecordedEvent, stream: TelegramStream): TelegramContent | undefined {
  let recorded: RecordedEvent | undefined = e;
  if (e.type === 'TelegramReceiptNumbered') recorded = stream.byId.get((e.data as TelegramReceiptNumbered['data']).telegramId);
  if (!recorded || recorded.type !== 'TelegramRecorded') return undefined;
  const d = upcastTelegramRecorded(recorded.data);
  return { contractCode: d.contractCode, date: d.date, destination: d.destination, kind: d.kind, charge: Money.fromEvent(d.charge).toString() };
}

function sameContent(a: TelegramContent, b: TelegramContent): boolean {
  return a.contractCode === b.contractCode && a.date === b.date && a.destination === b.destination && a.kind === b.kind && a.charge === b.charge;
}

function differences(before: TelegramContent, now: TelegramContent): string {
  const fields = (['date', 'destination', 'kind', 'charge'] as const).filter((f) => before[f] !== now[f]);
  return fields.map((f) => `${f} ${JSON.stringify(before[f])} (this line: ${JSON.stringify(now[f])})`).join(', ');
}

function expected(version: number): number | 'no_stream' {
  return version < 0 ? 'no_stream' : version;
}
