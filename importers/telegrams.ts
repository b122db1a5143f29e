// Import of telegram charges (電報, INTERFACE "Other engineer files"): JSON Lines
// `{"contractCode","date","destination","kind","charge"}` → TelegramRecorded on `telegrams-<code>`.
// SPEC §3.5: telegram charges are kept apart from call totals. The whole file or nothing.
import { basename } from 'node:path';
import { uuidv5 } from '../domain/uuid.ts';
import { z } from 'zod';
import { isContractCode } from '../domain/contract.ts';
import { streams, type TelegramRecorded } from '../domain/events.ts';
import { Money, MoneyFormatError } from '../domain/money.ts';
import { isJapanDate } from '../domain/time.ts';
import type { EventStore } from '../eventstore/port.ts';
import { appendCounting, plural, readJsonLines, StreamBatches, type ImportResult, type JsonLinesOptions } from './jsonl.ts';
import { ProblemList } from './problems.ts';
import type { ImportInput } from './source.ts';

/** UUIDv5 namespace of telegram ids. Never change it: stored ids depend on it. */
export const TELEGRAM_NAMESPACE = '2b7f4c1e-8d3a-4f6b-9e2c-5a1d7c3e9f40';

const telegramLine = z.strictObject({
  contractCode: z.string(),
  date: z.string(),
  destination: z.string().min(1, 'must not be empty'),
  kind: z.string().min(1, 'must not be empty'),
  charge: z.string(),
});

/**
 * A telegram's identity is its content: a re-delivered line is recognised, and two telegrams of
 * one contract on one day to one destination of one kind and charge count as one.
 */
export function telegramIdOf(t: { contractCode: string; date: string; destination: string; kind: string; charge: string }): string {
  return uuidv5([t.contractCode, t.date, t.destination, t.kind, t.charge].join('\u001f'), TELEGRAM_NAMESPACE);
}

export async function importTelegrams(store: EventStore, input: ImportInput, options: JsonLinesOptions = {}): Promise<ImportResult> {
  const problems = new ProblemList(options.maxProblems ?? 100);
  const { file, lines } = await readJsonLines(input, options, problems);
  const contracts = new Map<string, boolean>();
  const seen = new Set<string>();
  const batches = new StreamBatches();
  let duplicates = 0;
  let candidates = 0;

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
    if (!isContractCode(t.contractCode)) problem('contractCode', `expected "d" and 9 digits, got ${JSON.stringify(t.contractCode)}`);
    else {
      let exists = contracts.get(t.contractCode);
      if (exists === undefined) {
        exists = (await store.readStream(streams.contract(t.contractCode))).length > 0;
        contracts.set(t.contractCode, exists);
      }
      if (!exists) problem('contractCode', `no contract ${t.contractCode}`);
    }
    if (!isJapanDate(t.date)) problem('date', `expected a date YYYY-MM-DD, got ${JSON.stringify(t.date)}`);
    let charge: Money | undefined;
    try {
      charge = Money.parseCharge(t.charge);
    } catch (e) {
      if (!(e instanceof MoneyFormatError)) throw e;
      problem('charge', e.message);
    }
    if (bad || !charge) continue;
    const data: TelegramRecorded['data'] = {
      telegramId: '',
      contractCode: t.contractCode,
      date: t.date,
      month: t.date.slice(0, 7),
      destination: t.destination,
      kind: t.kind,
      charge: charge.toString(),
    };
    data.telegramId = telegramIdOf(data);
    if (seen.has(data.telegramId)) {
      duplicates++;
      continue;
    }
    seen.add(data.telegramId);
    candidates++;
    batches.add(streams.telegrams(t.contractCode), { id: data.telegramId, type: 'TelegramRecorded', data, metadata: { source: `${basename(file)}:${line}` } });
  }
  if (!problems.isEmpty) throw problems.reject(`${file}: ${plural(problems.count, 'problem')}; nothing imported`);
  const { imported, alreadyPresent } = await appendCounting(store, batches);
  if (imported + alreadyPresent !== candidates) throw new Error(`telegram import counted ${imported + alreadyPresent} of ${candidates} events`);
  return { file, read: lines.length, imported, alreadyPresent, duplicates };
}
