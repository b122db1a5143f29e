// A month recomputed from the events alone, in memory with Money: what `verify` compares the
// projection with and what `audit` walks. It shares nothing with the projection's SQL but the
// contract decider (for the representative-number timeline) and the event vocabulary.
import type { CallCorrected, CallRecorded, CallVoided, Category } from '../domain/events.ts';
import { startedAtOf } from '../domain/call.ts';
import { Money } from '../domain/money.ts';
import type { RecordedEvent } from '../eventstore/port.ts';
import { attributedNumberOf, foldContract, intervalsOf, type RepresentativeInterval } from './attribution.ts';

export interface FoldedCall {
  readonly data: CallRecorded['data'];
  readonly attributedNumber: string;
  readonly charge: Money;
  readonly billed: Money;
  readonly voided: boolean;
}

export interface FoldedFigure {
  normal: Money;
  billed: Money;
  calls: number;
}

export interface FoldedMonth {
  readonly intervals: readonly RepresentativeInterval[];
  readonly calls: ReadonlyMap<string, FoldedCall>;
  /** number → category → figure (only combinations with calls). */
  readonly figures: ReadonlyMap<string, ReadonlyMap<Category, FoldedFigure>>;
}

export function foldMonth(contractEvents: readonly RecordedEvent[], callEvents: readonly RecordedEvent[], month: string): FoldedMonth {
  const intervals = intervalsOf(foldContract(contractEvents));
  const recorded = new Map<string, CallRecorded['data']>();
  const corrected = new Map<string, Money>();
  const voided = new Set<string>();
  for (const e of callEvents) {
    if (e.type === 'CallRecorded') {
      const d = e.data as CallRecorded['data'];
      if (d.billingMonth === month && !recorded.has(d.callId)) recorded.set(d.callId, d);
    } else if (e.type === 'CallCorrected') {
      const d = e.data as CallCorrected['data'];
      corrected.set(d.callId, Money.fromEvent(d.charge));
    } else if (e.type === 'CallVoided') {
      voided.add((e.data as CallVoided['data']).callId);
    }
  }
  const calls = new Map<string, FoldedCall>();
  const figures = new Map<string, Map<Category, FoldedFigure>>();
  for (const [callId, d] of recorded) {
    const charge = corrected.get(callId) ?? Money.fromEvent(d.charge);
    const billed = d.free ? Money.zero : charge;
    const call: FoldedCall = {
      data: d,
      attributedNumber: attributedNumberOf(intervals, d.usingNumber, startedAtOf(d)),
      charge,
      billed,
      voided: voided.has(callId),
    };
    calls.set(callId, call);
    if (call.voided) continue;
    let byCategory = figures.get(call.attributedNumber);
    if (!byCategory) figures.set(call.attributedNumber, (byCategory = new Map()));
    const f = byCategory.get(d.category) ?? { normal: Money.zero, billed: Money.zero, calls: 0 };
    byCategory.set(d.category, { normal: f.normal.plus(charge), billed: f.billed.plus(billed), calls: f.calls + 1 });
  }
  return { intervals, calls, figures };
}
