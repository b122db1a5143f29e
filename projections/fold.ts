// A contract's ledger recomputed from its events alone, in memory with Money: what `verify` compares
// the projection with, what `audit` walks, and what as-of and diff queries fold (SPEC §4.1). It shares
// nothing with the projection's SQL but the contract decider (for the representative-number
// timeline), carryingMonthOf and the event vocabulary.
//
// The rules, event by event in log order (the projection applies the same ones set-based):
// - a call is a row in its billing month; when that month was closed before the call (in log order)
//   the row goes to the next open month instead, marked as carried from its own month (前月以前分の調整);
// - a correction or void of a call whose row lies in an open month changes the row in place (its
//   charge is the newest correction, a void takes it out of the sums); when the row's month is closed,
//   the row stays as the bill showed it and the difference becomes a row of its own in the next open
//   month (a correction: new minus old charge; a void: minus the charge);
// - a change of the representative-number timeline re-attributes the rows of open months only;
// - a month's figures are the sums of its rows that are not voided, per attributed number × category.
import type { CallCorrected, CallRecorded, Category, MonthClosed } from '../domain/events.ts';
import { adjustmentRowIdOf, carryingMonthOf } from '../domain/billing.ts';
import { Money } from '../domain/money.ts';
import { startInstantOf, type Month, type Tenths } from '../domain/time.ts';
import type { RecordedEvent } from '../eventstore/port.ts';
import { attributedNumberOf, CONTRACT_EVENT_TYPES, foldContract, intervalsOf, type RepresentativeInterval } from './attribution.ts';

/** What a row of a month's listing is besides a call of the month itself. */
export type Carry = 'late' | 'corrected' | 'voided';

export interface FoldedRow {
  /** The call's id for a call; the id derived from the event (see adjustmentRowIdOf) for a difference row. */
  readonly rowId: string;
  /** The call this row shows or adjusts. */
  readonly callId: string;
  readonly month: Month;
  /** Null for a call in its own billing month; else the month it adjusts and how. */
  readonly carriedFrom: Month | null;
  readonly carry: Carry | null;
  readonly data: CallRecorded['data'];
  readonly startedAt: Tenths;
  attributedNumber: string;
  charge: Money;
  billed: Money;
  voided: boolean;
  corrected: boolean;
  readonly position: bigint;
}

export interface FoldedFigure {
  normal: Money;
  billed: Money;
  calls: number;
}

/** A row as an event left it, for audit and diff: before and after (undefined: no row). */
export interface RowChange {
  readonly rowId: string;
  readonly before: RowState | undefined;
  readonly after: RowState;
}

export interface RowState {
  readonly month: Month;
  readonly attributedNumber: string;
  readonly category: Category;
  readonly charge: Money;
  readonly billed: Money;
  readonly voided: boolean;
}

export interface FoldedEvent {
  readonly event: RecordedEvent;
  readonly changes: readonly RowChange[];
}

export interface FoldedLedger {
  readonly intervals: readonly RepresentativeInterval[];
  readonly rows: ReadonlyMap<string, FoldedRow>;
  /** Each call's own row (where it was recorded: its month, or the month that carried it). */
  readonly callRows: ReadonlyMap<string, string>;
  readonly closes: ReadonlyMap<Month, bigint>;
  /** Every event folded, with the rows it changed (re-attribution included). */
  readonly events: readonly FoldedEvent[];
}

interface Adjustment {
  readonly position: bigint;
  readonly kind: 'corrected' | 'voided';
  readonly charge: Money | undefined;
}

function byPosition(a: RecordedEvent, b: RecordedEvent): number {
  return a.position < b.position ? -1 : a.position > b.position ? 1 : 0;
}

function effective(recorded: Money, adjustments: readonly Adjustment[]): { charge: Money; voided: boolean; corrected: boolean } {
  let charge = recorded;
  let corrected = false;
  let voided = false;
  for (const a of adjustments) {
    if (a.kind === 'voided') voided = true;
    else {
      charge = a.charge!;
      corrected = true;
    }
  }
  return { charge, voided, corrected };
}

function stateOf(r: FoldedRow): RowState {
  return { month: r.month, attributedNumber: r.attributedNumber, category: r.data.category, charge: r.charge, billed: r.billed, voided: r.voided };
}

/**
 * Fold one contract's events (its contract stream, its call streams, its billing stream), in log
 * order, up to and including position `upTo` when given.
 */
export function foldLedger(events: readonly RecordedEvent[], upTo?: bigint, options: { readonly changes?: boolean } = {}): FoldedLedger {
  // Audit and diff read what each event changed; verify and as-of need only the rows (no garbage).
  const track = options.changes ?? true;
  const sorted = [...events].filter((e) => upTo === undefined || e.position <= upTo).sort(byPosition);
  const contractEvents: { type: string; data: unknown }[] = [];
  let intervals: RepresentativeInterval[] = [];
  const closes = new Map<Month, bigint>();
  const rows = new Map<string, FoldedRow>();
  const callRows = new Map<string, string>();
  const adjustments = new Map<string, Adjustment[]>();
  const folded: FoldedEvent[] = [];
  const isOpen = (month: Month) => !closes.has(month);

  for (const e of sorted) {
    const changes: RowChange[] = [];
    if ((CONTRACT_EVENT_TYPES as readonly string[]).includes(e.type)) {
      contractEvents.push({ type: e.type, data: e.data });
      intervals = intervalsOf(foldContract(contractEvents));
      for (const r of rows.values()) {
        if (!isOpen(r.month)) continue;
        const number = attributedNumberOf(intervals, r.data.usingNumber, r.startedAt);
        if (number === r.attributedNumber) continue;
        const before = track ? stateOf(r) : undefined;
        r.attributedNumber = number;
        if (track) changes.push({ rowId: r.rowId, before: before!, after: stateOf(r) });
      }
    } else if (e.type === 'MonthClosed') {
      const d = e.data as MonthClosed['data'];
      if (!closes.has(d.month)) closes.set(d.month, e.position);
    } else if (e.type === 'CallRecorded') {
      const d = e.data as CallRecorded['data'];
      if (!callRows.has(d.callId)) {
        const month = carryingMonthOf(d.billingMonth, e.position, closes);
        const startedAt = startInstantOf(d.startDate, d.startTime);
        const now = effective(Money.fromEvent(d.charge), adjustments.get(d.callId) ?? []);
        const row: FoldedRow = {
          rowId: d.callId,
          callId: d.callId,
          month,
          carriedFrom: month === d.billingMonth ? null : d.billingMonth,
          carry: month === d.billingMonth ? null : 'late',
          data: d,
          startedAt,
          attributedNumber: attributedNumberOf(intervals, d.usingNumber, startedAt),
          charge: now.charge,
          billed: d.free ? Money.zero : now.charge,
          voided: now.voided,
          corrected: now.corrected,
          position: e.position,
        };
        rows.set(row.rowId, row);
        callRows.set(d.callId, row.rowId);
        if (track) changes.push({ rowId: row.rowId, before: undefined, after: stateOf(row) });
      }
    } else if (e.type === 'CallCorrected' || e.type === 'CallVoided') {
      const d = e.data as CallCorrected['data'];
      const list = adjustments.get(d.callId) ?? [];
      adjustments.set(d.callId, list);
      const before = list.slice();
      list.push({ position: e.position, kind: e.type === 'CallCorrected' ? 'corrected' : 'voided', charge: e.type === 'CallCorrected' ? Money.fromEvent(d.charge) : undefined });
      const rowId = callRows.get(d.callId);
      const row = rowId === undefined ? undefined : rows.get(rowId);
      if (row && isOpen(row.month)) {
        const was = track ? stateOf(row) : undefined;
        const now = effective(Money.fromEvent(row.data.charge), list);
        row.charge = now.charge;
        row.billed = row.data.free ? Money.zero : now.charge;
        row.voided = now.voided;
        row.corrected = now.corrected;
        if (track) changes.push({ rowId: row.rowId, before: was!, after: stateOf(row) });
      } else if (row) {
        // The bill of the row's month is issued: the difference goes to the next open month.
        const recorded = Money.fromEvent(row.data.charge);
        const valueOf = (x: { charge: Money; voided: boolean }) => (x.voided ? Money.zero : x.charge);
        const delta = valueOf(effective(recorded, list)).minus(valueOf(effective(recorded, before)));
        if (!delta.isZero()) {
          const month = carryingMonthOf(row.month, e.position, closes);
          const diff: FoldedRow = {
            rowId: adjustmentRowIdOf(e.id),
            callId: row.callId,
            month,
            carriedFrom: row.month,
            carry: e.type === 'CallCorrected' ? 'corrected' : 'voided',
            data: row.data,
            startedAt: row.startedAt,
            attributedNumber: attributedNumberOf(intervals, row.data.usingNumber, row.startedAt),
            charge: delta,
            billed: row.data.free ? Money.zero : delta,
            voided: false,
            corrected: false,
            position: e.position,
          };
          if (!rows.has(diff.rowId)) {
            rows.set(diff.rowId, diff);
            if (track) changes.push({ rowId: diff.rowId, before: undefined, after: stateOf(diff) });
          }
        }
      }
    }
    if (track) folded.push({ event: e, changes });
  }
  return { intervals, rows, callRows, closes, events: folded };
}

/** number → category → figure of one month (only combinations with rows). */
export function figuresOf(ledger: FoldedLedger, month: Month): Map<string, Map<Category, FoldedFigure>> {
  const figures = new Map<string, Map<Category, FoldedFigure>>();
  for (const r of ledger.rows.values()) {
    if (r.month !== month || r.voided) continue;
    let byCategory = figures.get(r.attributedNumber);
    if (!byCategory) figures.set(r.attributedNumber, (byCategory = new Map()));
    const f = byCategory.get(r.data.category) ?? { normal: Money.zero, billed: Money.zero, calls: 0 };
    byCategory.set(r.data.category, { normal: f.normal.plus(r.charge), billed: f.billed.plus(r.billed), calls: f.calls + 1 });
  }
  return figures;
}
