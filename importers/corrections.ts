// Explicit corrections of stored calls (INTERFACE "Other engineer files", JSON Lines):
//   {"callId","charge","reason","commandId"?}      → CallCorrected
//   {"callId","void":true,"reason","commandId"?}   → CallVoided
// or, instead of callId, the call's identity fields as the carrier's file has them
// (usingNumber, startDate, startTime, destination, duration, callType) → callIdOf.
// The event goes to the call's own stream (found with store.findEvent(callId)); its id is
// deterministic, so a re-run is recognised. The whole file or nothing.
//
// Identity: with a commandId (the ticket it comes from), the commandId within the call: the same
// again is already present, other content a conflict. Without one, the content (as before
// commandIds: a file imported then is recognised now) — and since 5.00 → 6.00 → 5.00 repeats
// content, a line repeating a correction that a later one has superseded is refused, asking for a
// commandId, rather than reported as already present while the call stays at 6.00.
import { basename } from 'node:path';
import { uuidv5 } from '../domain/uuid.ts';
import { z } from 'zod';
import { callIdOf } from '../domain/call.ts';
import type { CallCorrected, CallVoided } from '../domain/events.ts';
import { Money, MoneyFormatError } from '../domain/money.ts';
import { freeTextProblem } from '../domain/text.ts';
import { isJapanDate, parseHhmmssS } from '../domain/time.ts';
import type { EventStore, RecordedEvent } from '../eventstore/port.ts';
import { appendCounting, plural, readJsonLines, StreamBatches, type ImportResult, type JsonLinesOptions } from './jsonl.ts';
import { ProblemList } from './problems.ts';
import type { ImportInput } from './source.ts';

/** UUIDv5 namespace of correction ids. Never change it: stored ids depend on it. */
export const CORRECTION_NAMESPACE = '9c4e2a71-5f3b-4d8e-a6c2-7b1f0e3d5a92';

const identity = {
  callId: z.string().optional(),
  usingNumber: z.string().optional(),
  startDate: z.string().optional(),
  startTime: z.string().optional(),
  destination: z.string().optional(),
  duration: z.string().optional(),
  callType: z.string().optional(),
  reason: z.string().trim().min(1, 'a correction needs a reason'),
  commandId: z.string().min(1, 'must not be empty').max(64, 'at most 64 characters').optional(),
};
const correctionLine = z.union([
  z.strictObject({ ...identity, charge: z.string() }),
  z.strictObject({ ...identity, void: z.literal(true) }),
]);

const IDENTITY_FIELDS = ['usingNumber', 'startDate', 'startTime', 'destination', 'duration', 'callType'] as const;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const COUNT = /^([1-9]\d{0,5})件$/;

/** The id of a correction without a commandId: its content (as every correction had before commandIds). */
export function correctionIdOf(callId: string, change: { charge: string } | { void: true }, reason: string): string {
  const what = 'charge' in change ? `CallCorrected\u001f${change.charge}` : 'CallVoided';
  return uuidv5(`${callId}\u001f${what}\u001f${reason}`, CORRECTION_NAMESPACE);
}

/** The id of a correction given a commandId: the commandId, within the call it corrects. */
export function correctionCommandIdOf(callId: string, commandId: string): string {
  return uuidv5(`${callId}\u001fcommandId\u001f${commandId}`, CORRECTION_NAMESPACE);
}

type Change = { charge: string } | { void: true };

interface CorrectionLine {
  readonly line: number;
  readonly callId: string;
  readonly change: Change;
  readonly reason: string;
  readonly commandId: string | undefined;
  readonly id: string;
}

export async function importCorrections(store: EventStore, input: ImportInput, options: JsonLinesOptions = {}): Promise<ImportResult> {
  const problems = new ProblemList(options.maxProblems ?? 100);
  const { file, lines } = await readJsonLines(input, options, problems);

  // Every line parsed first: whether a repeat was superseded depends on what later lines deliver.
  const parsedLines: CorrectionLine[] = [];
  for (const { line, value } of lines) {
    const parsed = correctionLine.safeParse(value);
    if (!parsed.success) {
      problems.add({ file, line, ...describe(parsed.error.issues, value) });
      continue;
    }
    const c = parsed.data;
    const callId = resolveCallId(c, (field, message) => problems.add({ file, line, field, message }));
    if (!callId) continue;
    const reasonProblem = freeTextProblem(c.reason);
    if (reasonProblem) {
      problems.add({ file, line, field: 'reason', message: reasonProblem });
      continue;
    }
    let change: Change = { void: true };
    if ('charge' in c) {
      try {
        change = { charge: Money.parseCharge(c.charge).toString() };
      } catch (e) {
        if (!(e instanceof MoneyFormatError)) throw e;
        problems.add({ file, line, field: 'charge', message: e.message });
        continue;
      }
    }
    const id = c.commandId !== undefined ? correctionCommandIdOf(callId, c.commandId) : correctionIdOf(callId, change, c.reason);
    parsedLines.push({ line, callId, change, reason: c.reason, commandId: c.commandId, id });
  }
  const lastIndexOf = new Map(parsedLines.map((c, i) => [c.id, i]));
  const firstIndexOf = new Map<string, number>();

  const streamsRead = new Map<string, RecordedEvent[]>();
  const voided = new Set<string>();
  const batches = new StreamBatches();
  let duplicates = 0;
  let candidates = 0;
  let present = 0;

  for (const [k, c] of parsedLines.entries()) {
    const { line, callId, change, reason, id } = c;
    const problem = (field: string, message: string) => problems.add({ file, line, field, message });
    const earlier = firstIndexOf.get(id);
    if (earlier !== undefined) {
      const first = parsedLines[earlier]!;
      if (c.commandId !== undefined) {
        if (sameCorrection(first, c)) duplicates++;
        else problem('commandId', `${JSON.stringify(c.commandId)} is on line ${first.line} too, for this call with other content; a commandId names one correction`);
        continue;
      }
      const between = parsedLines.slice(earlier + 1, k).find((x) => x.callId === callId);
      if (between) problem('commandId', `this line repeats line ${first.line}, which line ${between.line} has since superseded; if it is a new correction, give it a "commandId" (the ticket it comes from)`);
      else duplicates++;
      continue;
    }
    firstIndexOf.set(id, k);

    const call = await store.findEvent(callId);
    if (!call || call.type !== 'CallRecorded') {
      problem('callId', call ? `${callId} is a ${call.type}, not a call` : `no call ${callId} is stored`);
      continue;
    }
    let stream = streamsRead.get(call.streamId);
    if (!stream) {
      stream = [...(await store.readStream(call.streamId))];
      streamsRead.set(call.streamId, stream);
      for (const e of stream) if (e.type === 'CallVoided') voided.add((e.data as CallVoided['data']).callId);
    }
    const at = stream.findIndex((e) => e.id === id);
    if (at >= 0) {
      const stored = stream[at]!;
      if (c.commandId !== undefined) {
        if (sameCorrection(correctionOf(stored), c)) present++;
        else problem('commandId', `${JSON.stringify(c.commandId)} is already recorded for this call with other content${sourceOf(stored)}; a commandId names one correction`);
        continue;
      }
      const later = stream.slice(at + 1).find((e) => adjusts(e, callId) && !((lastIndexOf.get(e.id) ?? -1) > k));
      if (later) {
        problem(
          'commandId',
          `this line repeats a correction already recorded${sourceOf(stored)}, which a later ${later.type}${sourceOf(later)} has since superseded; ` +
            'if it is a new correction, give it a "commandId" (the ticket it comes from)',
        );
      } else present++;
      continue;
    }
    if (voided.has(callId)) {
      problem('callId', `call ${callId} is voided; it cannot be corrected or voided again`);
      continue;
    }
    candidates++;
    const metadata = { source: `${basename(file)}:${line}`, ...(c.commandId !== undefined ? { commandId: c.commandId } : {}) };
    const event = 'charge' in change
      ? { id, type: 'CallCorrected', data: { callId, charge: change.charge, reason } satisfies CallCorrected['data'], metadata }
      : { id, type: 'CallVoided', data: { callId, reason } satisfies CallVoided['data'], metadata };
    batches.add(call.streamId, event);
    if (event.type === 'CallVoided') voided.add(callId);
    // A later line repeating an earlier correction is judged against this one too.
    stream.push({ ...event, streamId: call.streamId, revision: -1, position: -1n, recordedAt: '' });
  }
  if (!problems.isEmpty) throw problems.reject(`${file}: ${plural(problems.count, 'problem')}; nothing applied`);
  const { imported, alreadyPresent } = await appendCounting(store, batches);
  if (imported + alreadyPresent !== candidates) throw new Error(`correction import counted ${imported + alreadyPresent} of ${candidates} events`);
  return { file, read: lines.length, imported, alreadyPresent: alreadyPresent + present, duplicates };
}

/** A stored correction or void of `callId`. */
function adjusts(e: RecordedEvent, callId: string): boolean {
  return (e.type === 'CallCorrected' || e.type === 'CallVoided') && (e.data as { callId?: string }).callId === callId;
}

function correctionOf(e: RecordedEvent): Pick<CorrectionLine, 'callId' | 'change' | 'reason'> | undefined {
  if (e.type === 'CallCorrected') {
    const d = e.data as CallCorrected['data'];
    return { callId: d.callId, change: { charge: Money.fromEvent(d.charge).toString() }, reason: d.reason };
  }
  if (e.type === 'CallVoided') {
    const d = e.data as CallVoided['data'];
    return { callId: d.callId, change: { void: true }, reason: d.reason };
  }
  return undefined;
}

function sameCorrection(a: Pick<CorrectionLine, 'callId' | 'change' | 'reason'> | undefined, b: Pick<CorrectionLine, 'callId' | 'change' | 'reason'>): boolean {
  if (!a || a.callId !== b.callId || a.reason !== b.reason) return false;
  return 'charge' in a.change ? 'charge' in b.change && a.change.charge === b.change.charge : !('charge' in b.change);
}

function sourceOf(e: RecordedEvent): string {
  return typeof e.metadata?.source === 'string' && e.metadata.source !== '' ? ` (from ${e.metadata.source})` : '';
}

type IdentityLine = { callId?: string | undefined } & Partial<Record<(typeof IDENTITY_FIELDS)[number], string | undefined>>;

function resolveCallId(c: IdentityLine, problem: (field: string, message: string) => void): string | undefined {
  const given = IDENTITY_FIELDS.filter((f) => c[f] !== undefined);
  if (c.callId !== undefined) {
    if (given.length > 0) {
      problem(given[0]!, 'give either callId or the identity fields, not both');
      return undefined;
    }
    if (!UUID.test(c.callId)) {
      problem('callId', `expected a call id like 3f2b…-…, got ${JSON.stringify(c.callId)}`);
      return undefined;
    }
    return c.callId;
  }
  const missing = IDENTITY_FIELDS.filter((f) => c[f] === undefined);
  if (missing.length > 0) {
    problem(missing[0]!, `missing: give callId, or all of ${IDENTITY_FIELDS.join(', ')}`);
    return undefined;
  }
  // The carrier writes 2017/11/01; the events keep 2017-11-01.
  const startDate = c.startDate!.replaceAll('/', '-');
  if (!isJapanDate(startDate)) {
    problem('startDate', `expected a date YYYY/MM/DD, got ${JSON.stringify(c.startDate)}`);
    return undefined;
  }
  if (parseHhmmssS(c.startTime!, 23) === undefined) {
    problem('startTime', `expected hhmmss.s, got ${JSON.stringify(c.startTime)}`);
    return undefined;
  }
  const count = COUNT.exec(c.duration!);
  if (!count && parseHhmmssS(c.duration!) === undefined) {
    problem('duration', `expected hhmmss.s or a count like 1件, got ${JSON.stringify(c.duration)}`);
    return undefined;
  }
  return callIdOf({
    usingNumber: c.usingNumber!,
    startDate,
    startTime: c.startTime!,
    destination: c.destination!,
    duration: count ? null : c.duration!,
    count: count ? Number.parseInt(count[1]!, 10) : null,
    callType: c.callType!,
  });
}

function describe(issues: readonly z.core.$ZodIssue[], value: unknown): { field: string; message: string } {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return { field: 'line', message: 'a correction must be a JSON object' };
  const v = value as Record<string, unknown>;
  if ('charge' in v && 'void' in v) return { field: 'void', message: 'give either charge or "void": true, not both' };
  if (!('charge' in v) && !('void' in v)) return { field: 'charge', message: 'missing: give "charge" (a correction) or "void": true' };
  // A union reports each branch; the branch the line meant is the one with its key.
  const flat = issues.flatMap((i) => (i.code === 'invalid_union' ? i.errors.flat() : [i]));
  const relevant = flat.find((i) => !(i.code === 'unrecognized_keys' && i.keys.every((k) => k === 'charge' || k === 'void')) && !(i.path[0] === 'void' && 'charge' in v) && !(i.path[0] === 'charge' && 'void' in v)) ?? flat[0];
  if (!relevant) return { field: 'line', message: 'not a correction' };
  if (relevant.code === 'unrecognized_keys') return { field: relevant.keys.join(', '), message: 'unknown field' };
  return { field: relevant.path.join('.') || 'line', message: relevant.message };
}
