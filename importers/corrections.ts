// Explicit corrections of stored calls (INTERFACE "Other engineer files", JSON Lines):
//   {"callId","charge","reason"}            → CallCorrected
//   {"callId","void":true,"reason"}         → CallVoided
// or, instead of callId, the call's identity fields as the carrier's file has them
// (usingNumber, startDate, startTime, destination, duration, callType) → callIdOf.
// The event goes to the call's own stream (found with store.findEvent(callId)); its id is
// deterministic, so a re-run is recognised. The whole file or nothing.
import { basename } from 'node:path';
import { uuidv5 } from '../domain/uuid.ts';
import { z } from 'zod';
import { callIdOf } from '../domain/call.ts';
import type { CallCorrected, CallVoided } from '../domain/events.ts';
import { Money, MoneyFormatError } from '../domain/money.ts';
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
};
const correctionLine = z.union([
  z.strictObject({ ...identity, charge: z.string() }),
  z.strictObject({ ...identity, void: z.literal(true) }),
]);

const IDENTITY_FIELDS = ['usingNumber', 'startDate', 'startTime', 'destination', 'duration', 'callType'] as const;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const COUNT = /^([1-9]\d{0,5})件$/;

export function correctionIdOf(callId: string, change: { charge: string } | { void: true }, reason: string): string {
  const what = 'charge' in change ? `CallCorrected\u001f${change.charge}` : 'CallVoided';
  return uuidv5(`${callId}\u001f${what}\u001f${reason}`, CORRECTION_NAMESPACE);
}

export async function importCorrections(store: EventStore, input: ImportInput, options: JsonLinesOptions = {}): Promise<ImportResult> {
  const problems = new ProblemList(options.maxProblems ?? 100);
  const { file, lines } = await readJsonLines(input, options, problems);
  const streamsRead = new Map<string, RecordedEvent[]>();
  const voided = new Set<string>();
  const seen = new Set<string>();
  const batches = new StreamBatches();
  let duplicates = 0;
  let candidates = 0;

  for (const { line, value } of lines) {
    const parsed = correctionLine.safeParse(value);
    if (!parsed.success) {
      problems.add({ file, line, ...describe(parsed.error.issues, value) });
      continue;
    }
    const c = parsed.data;
    const callId = resolveCallId(c, (field, message) => problems.add({ file, line, field, message }));
    if (!callId) continue;

    const call = await store.findEvent(callId);
    if (!call || call.type !== 'CallRecorded') {
      problems.add({ file, line, field: 'callId', message: call ? `${callId} is a ${call.type}, not a call` : `no call ${callId} is stored` });
      continue;
    }
    let stream = streamsRead.get(call.streamId);
    if (!stream) {
      stream = await store.readStream(call.streamId);
      streamsRead.set(call.streamId, stream);
      for (const e of stream) if (e.type === 'CallVoided') voided.add((e.data as CallVoided['data']).callId);
    }
    let charge: Money | undefined;
    if ('charge' in c) {
      try {
        charge = Money.parseCharge(c.charge);
      } catch (e) {
        if (!(e instanceof MoneyFormatError)) throw e;
        problems.add({ file, line, field: 'charge', message: e.message });
        continue;
      }
    }
    const change: { charge: string } | { void: true } = charge ? { charge: charge.toString() } : { void: true };
    const id = correctionIdOf(callId, change, c.reason);
    if (seen.has(id)) {
      duplicates++;
      continue;
    }
    seen.add(id);
    const alreadyStored = stream.some((e) => e.id === id);
    if (voided.has(callId) && !alreadyStored) {
      problems.add({ file, line, field: 'callId', message: `call ${callId} is voided; it cannot be corrected or voided again` });
      continue;
    }
    candidates++;
    const metadata = { source: `${basename(file)}:${line}` };
    if ('charge' in change) {
      const data: CallCorrected['data'] = { callId, charge: change.charge, reason: c.reason };
      batches.add(call.streamId, { id, type: 'CallCorrected', data, metadata });
    } else {
      const data: CallVoided['data'] = { callId, reason: c.reason };
      batches.add(call.streamId, { id, type: 'CallVoided', data, metadata });
      voided.add(callId);
    }
  }
  if (!problems.isEmpty) throw problems.reject(`${file}: ${plural(problems.count, 'problem')}; nothing applied`);
  const { imported, alreadyPresent } = await appendCounting(store, batches);
  if (imported + alreadyPresent !== candidates) throw new Error(`correction import counted ${imported + alreadyPresent} of ${candidates} events`);
  return { file, read: lines.length, imported, alreadyPresent, duplicates };
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
