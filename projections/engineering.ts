// The billing engineers' operations on the read side (INTERFACE.md engineer routes and the CLI's
// totals / verify / audit): the API and the CLI both call these.
import { sql } from 'kysely';
import { CATEGORIES, streams, type Category } from '../domain/events.ts';
import { DomainError } from '../domain/errors.ts';
import { Money } from '../domain/money.ts';
import { addMonths, isMonth, isoJapanOf, toIsoJapan, type Month } from '../domain/time.ts';
import { startedAtOf } from '../domain/call.ts';
import type { Database } from '../eventstore/database.ts';
import type { EventStore, RecordedEvent } from '../eventstore/port.ts';
import type { CallCorrected, CallRecorded, CallVoided, MonthClosed, OptionCancelled, OptionSubscribed } from '../domain/events.ts';
import { attributedNumberOf, foldContract, intervalsOf } from './attribution.ts';
import { CHARGE_TABLES, monthRowsAt } from './charges.ts';
import { figuresOf, foldLedger, type FoldedLedger, type FoldedRow, type RowState } from './fold.ts';
import { monthChargesOf } from './queries.ts';
import type { CategoryFigures, LedgerQueries, MonthCharges } from './read-model.ts';

// ---- totals ----------------------------------------------------------------------------------

export interface FiguresJson {
  readonly total: string;
  readonly domestic: string;
  readonly international: string;
  readonly mobile: string;
  readonly au: string;
  readonly otherMobile: string;
}

/** The body of `GET /api/v1/admin/contracts/:code/charges/:month`. */
export interface EngineerCharges {
  readonly contractCode: string;
  readonly month: Month;
  readonly normal: FiguresJson;
  readonly billed: FiguresJson;
  readonly numbers: readonly { readonly number: string; readonly normal: FiguresJson; readonly billed: FiguresJson; readonly calls: number }[];
}

export function figuresJson(f: CategoryFigures): FiguresJson {
  return {
    total: f.total.toString(),
    domestic: f.domestic.toString(),
    international: f.international.toString(),
    mobile: f.mobile.toString(),
    au: f.au.toString(),
    otherMobile: f.otherMobile.toString(),
  };
}

function requireMonth(month: string): void {
  if (!isMonth(month)) throw new DomainError('INVALID_MONTH', `month must be YYYY-MM, got ${JSON.stringify(month)}`, 'month');
}

async function requireContract(queries: LedgerQueries, contractCode: string): Promise<void> {
  if (!(await queries.contractExists(contractCode))) {
    throw new DomainError('CONTRACT_NOT_FOUND', `no contract ${contractCode}`, 'contractCode');
  }
}

/** Monthly totals per number and category; zeros and no numbers for a month without calls. Unknown contract: DomainError CONTRACT_NOT_FOUND. */
/** MonthCharges (amounts as Money) as the engineer route's JSON. */
function engineerChargesOf(m: MonthCharges): EngineerCharges {
  return {
    contractCode: m.contractCode,
    month: m.month,
    normal: figuresJson(m.normal),
    billed: figuresJson(m.billed),
    numbers: m.numbers.map((n) => ({ number: n.number, normal: figuresJson(n.normal), billed: figuresJson(n.billed), calls: n.calls })),
  };
}

export async function engineerCharges(queries: LedgerQueries, contractCode: string, month: Month): Promise<EngineerCharges> {
  requireMonth(month);
  await requireContract(queries, contractCode);
  const m = await queries.monthCharges(contractCode, month);
  return engineerChargesOf(m);
}

// ---- verify ----------------------------------------------------------------------------------

export interface VerifyDifference {
  readonly number: string;
  readonly category: Category;
  readonly field: 'normal' | 'billed' | 'calls';
  readonly projected: string;
  readonly computed: string;
}

export interface VerifyResult {
  readonly contractCode: string;
  readonly month: Month;
  readonly ok: boolean;
  readonly differences: readonly VerifyDifference[];
}

interface MonthlyRow {
  number: string;
  category: Category;
  normal: string;
  billed: string;
  calls: number | string;
}

async function projectedRows(database: Database, contractCode: string, month: Month): Promise<MonthlyRow[]> {
  const { rows } = await sql<MonthlyRow>`
    select number, category, normal::text as normal, billed::text as billed, calls
    from ${sql.table(CHARGE_TABLES.monthly)} where contract_code = ${contractCode} and billing_month = ${month}`.execute(database.db);
  return rows;
}

/**
 * The events a month's figures can depend on: the contract stream (attribution), the billing stream
 * (closes), the month's call stream, and the call streams of the months before it while those are
 * closed (as of `upTo`), whose late events are carried forward. Corrections live in their call's
 * stream. Later months never reach back.
 */
async function ledgerEvents(store: EventStore, contractCode: string, month: Month, upTo?: bigint): Promise<RecordedEvent[]> {
  const [contract, billing] = await Promise.all([store.readStream(streams.contract(contractCode)), store.readStream(streams.billing(contractCode))]);
  const closed = new Set(
    billing.filter((e) => e.type === 'MonthClosed' && (upTo === undefined || e.position <= upTo)).map((e) => (e.data as MonthClosed['data']).month),
  );
  const months = [month];
  for (let k = addMonths(month, -1); closed.has(k); k = addMonths(k, -1)) months.push(k);
  const calls = await Promise.all(months.map((m) => store.readStream(streams.calls(contractCode, m))));
  return [...contract, ...billing, ...calls.flat()];
}

/**
 * Recompute the month from its events (see ledgerEvents), fold in memory with Money (closed months
 * and carried rows included), and diff against the projection.
 */
export async function verifyMonth(deps: { database: Database; store: EventStore; queries: LedgerQueries }, contractCode: string, month: Month): Promise<VerifyResult> {
  requireMonth(month);
  await requireContract(deps.queries, contractCode);
  const ledger = foldLedger(await ledgerEvents(deps.store, contractCode, month), undefined, { changes: false });
  const computed = figuresOf(ledger, month);
  const projected = new Map<string, MonthlyRow>();
  for (const r of await projectedRows(deps.database, contractCode, month)) projected.set(`${r.number}\u0000${r.category}`, r);
  const numbers = new Set<string>([...computed.keys(), ...[...projected.values()].map((r) => r.number)]);
  const differences: VerifyDifference[] = [];
  for (const number of [...numbers].sort()) {
    for (const category of CATEGORIES) {
      const c = computed.get(number)?.get(category);
      const p = projected.get(`${number}\u0000${category}`);
      const pairs: [VerifyDifference['field'], string, string][] = [
        ['normal', Money.fromDb(p?.normal).toString(), (c?.normal ?? Money.zero).toString()],
        ['billed', Money.fromDb(p?.billed).toString(), (c?.billed ?? Money.zero).toString()],
        ['calls', String(Number(p?.calls ?? 0)), String(c?.calls ?? 0)],
      ];
      for (const [field, pv, cv] of pairs) {
        if (pv !== cv) differences.push({ number, category, field, projected: pv, computed: cv });
      }
    }
  }
  return { contractCode, month, ok: differences.length === 0, differences };
}

// ---- as-of and diff --------------------------------------------------------------------------

/** An instant given by an engineer: ISO-8601 with an offset (or Z). */
export function parseInstant(text: string, field: string): Date {
  const ok = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$/.test(text);
  const date = ok ? new Date(text) : undefined;
  if (!date || Number.isNaN(date.getTime())) {
    throw new DomainError('INVALID_INSTANT', `${field} must be an ISO-8601 instant with an offset (e.g. 2017-12-05T10:00:00+09:00), got ${JSON.stringify(text)}`, field);
  }
  return date;
}

export function chargesOfFold(contractCode: string, month: Month, ledger: FoldedLedger): EngineerCharges {
  const rows = [...figuresOf(ledger, month).entries()].flatMap(([number, byCategory]) =>
    [...byCategory.entries()].map(([category, f]) => ({ number, category, normal: f.normal.toString(), billed: f.billed.toString(), calls: f.calls })),
  );
  rows.sort((a, b) => (a.number < b.number ? -1 : a.number > b.number ? 1 : 0));
  const m = monthChargesOf(contractCode, month, rows);
  return engineerChargesOf(m);
}

/**
 * The month's figures as the ledger stood at `asOf`: the events visible then (an import counts from
 * its commit), folded by the same rules as the projection. Same shape as engineerCharges.
 */
export async function engineerChargesAsOf(
  deps: { store: EventStore; queries: LedgerQueries; database?: Database },
  contractCode: string,
  month: Month,
  asOf: Date,
): Promise<EngineerCharges & { asOf: string; position: string }> {
  requireMonth(month);
  await requireContract(deps.queries, contractCode);
  const upTo = await deps.store.visiblePositionAt(asOf);
  const when = { asOf: isoJapanOf(asOf), position: upTo.toString() };
  // From the projection's history when it has reached that position (see monthRowsAt); else a fold.
  if (deps.database && upTo <= (await chargesCheckpoint(deps.database))) {
    return { ...(await chargesFromProjectionAt(deps.store, deps.database, contractCode, month, upTo)), ...when };
  }
  const ledger = foldLedger(await ledgerEvents(deps.store, contractCode, month, upTo), upTo, { changes: false });
  return { ...chargesOfFold(contractCode, month, ledger), ...when };
}

async function chargesCheckpoint(database: Database): Promise<bigint> {
  const { rows } = await sql<{ position: string }>`select position::text as position from projection_checkpoints where name = 'charges'`.execute(database.db);
  return rows[0] ? BigInt(rows[0].position) : -1n;
}

/** engineerCharges at position `upTo`, from the projection (its checkpoint at or past `upTo`). */
export async function chargesFromProjectionAt(store: EventStore, database: Database, contractCode: string, month: Month, upTo: bigint): Promise<EngineerCharges> {
  const [contract, billing] = await Promise.all([store.readStream(streams.contract(contractCode)), store.readStream(streams.billing(contractCode))]);
  const close = billing.find((e) => e.type === 'MonthClosed' && (e.data as MonthClosed['data']).month === month && e.position <= upTo);
  const bound = close ? close.position : upTo;
  const intervals = intervalsOf(foldContract(contract.filter((e) => e.position <= bound)));
  const rows = await monthRowsAt(database.db, contractCode, month, upTo, bound, intervals);
  const m = monthChargesOf(contractCode, month, rows as { number: string; category: Category; normal: string; billed: string; calls: number }[]);
  return engineerChargesOf(m);
}

export interface DiffFigure {
  readonly number: string;
  readonly category: Category;
  readonly normal: { readonly from: string; readonly to: string };
  readonly billed: { readonly from: string; readonly to: string };
  readonly calls: { readonly from: number; readonly to: number };
}

export interface DiffEvent {
  readonly position: string;
  readonly streamId: string;
  readonly eventId: string;
  readonly type: string;
  readonly visibleAt?: string;
  readonly source?: string;
  readonly callId?: string;
  /** A correction or void: the call's value before and after it (a void: to 0.00). */
  readonly charge?: { readonly from: string; readonly to: string };
  readonly reason?: string;
  /** Calls of the month this event moved from one number to another (a representative-number change). */
  readonly moved?: readonly { readonly callId: string; readonly from: string; readonly to: string }[];
  readonly note?: string;
}

export interface DiffResult {
  readonly contractCode: string;
  readonly month: Month;
  readonly from: { readonly instant: string; readonly position: string };
  readonly to: { readonly instant: string; readonly position: string };
  readonly changed: readonly DiffFigure[];
  readonly events: readonly DiffEvent[];
}

/**
 * What changed in a month's figures between two instants, and the events recorded in between that
 * changed them (SPEC §4.1): one fold up to the later instant, read at both positions.
 */
export async function diffMonth(deps: { store: EventStore; queries: LedgerQueries }, contractCode: string, month: Month, from: Date, to?: Date): Promise<DiffResult> {
  requireMonth(month);
  await requireContract(deps.queries, contractCode);
  if (to && to.getTime() < from.getTime()) throw new DomainError('INVALID_INSTANT', 'to must not be before from', 'to');
  // Without `to`: everything stored up to now (the newest position).
  const [p1, p2] = await Promise.all([deps.store.visiblePositionAt(from), to ? deps.store.visiblePositionAt(to) : deps.store.headPosition()]);
  const events = await ledgerEvents(deps.store, contractCode, month, p2);
  const before = figuresOf(foldLedger(events, p1, { changes: false }), month);
  const ledger = foldLedger(events, p2);
  const after = figuresOf(ledger, month);
  const changed: DiffFigure[] = [];
  const numbers = [...new Set([...before.keys(), ...after.keys()])].sort();
  for (const number of numbers) {
    for (const category of CATEGORIES) {
      const a = before.get(number)?.get(category);
      const b = after.get(number)?.get(category);
      const an = a?.normal ?? Money.zero;
      const bn = b?.normal ?? Money.zero;
      const ab = a?.billed ?? Money.zero;
      const bb = b?.billed ?? Money.zero;
      if (an.equals(bn) && ab.equals(bb) && (a?.calls ?? 0) === (b?.calls ?? 0)) continue;
      changed.push({
        number,
        category,
        normal: { from: an.toString(), to: bn.toString() },
        billed: { from: ab.toString(), to: bb.toString() },
        calls: { from: a?.calls ?? 0, to: b?.calls ?? 0 },
      });
    }
  }
  const between = ledger.events.filter((f) => f.event.position > p1 && f.changes.some((c) => c.after.month === month || c.before?.month === month));
  const visible = await deps.store.visibleSince(between.map((f) => f.event.position));
  const out: DiffEvent[] = between.map((f) => {
    const e = f.event;
    const d = e.data as { callId?: string; reason?: string };
    const base: DiffEvent = {
      position: e.position.toString(),
      streamId: e.streamId,
      eventId: e.id,
      type: e.type,
      ...(visible.get(e.position) ? { visibleAt: visible.get(e.position)! } : {}),
      ...(typeof e.metadata.source === 'string' ? { source: e.metadata.source } : {}),
    };
    if (e.type === 'CallRecorded') {
      const row = f.changes[0]!;
      const carried = ledger.rows.get(row.rowId)?.carriedFrom;
      return { ...base, callId: d.callId!, charge: { from: '0.00', to: row.after.charge.toString() }, ...(carried ? { note: `late call of ${carried}, carried into ${row.after.month} (前月以前分の調整)` } : {}) };
    }
    if (e.type === 'CallCorrected' || e.type === 'CallVoided') {
      const c = f.changes[0]!;
      const carriedRow = ledger.rows.get(c.rowId);
      if (c.before === undefined && carriedRow?.carry) {
        const valueBefore = '(see the closed month)';
        return { ...base, callId: d.callId!, reason: d.reason ?? '', charge: { from: valueBefore, to: valueBefore }, note: `${carriedRow.carriedFrom} is closed: the difference ${c.after.charge.toString()} is carried into ${c.after.month} (前月以前分の調整)` };
      }
      const value = (x: RowState | undefined) => (x === undefined || x.voided ? Money.zero : x.charge).toString();
      return { ...base, callId: d.callId!, reason: d.reason ?? '', charge: { from: value(c.before), to: value(c.after) } };
    }
    const moved = f.changes
      .filter((c) => c.before !== undefined && c.before.attributedNumber !== c.after.attributedNumber && c.after.month === month)
      .map((c) => ({ callId: ledger.rows.get(c.rowId)!.callId, from: c.before!.attributedNumber, to: c.after.attributedNumber }));
    return { ...base, moved };
  });
  return {
    contractCode,
    month,
    from: { instant: isoJapanOf(from), position: p1.toString() },
    to: { instant: isoJapanOf(to ?? new Date()), position: p2.toString() },
    changed,
    events: out,
  };
}

// ---- audit -----------------------------------------------------------------------------------

export interface AuditEntry {
  readonly position: string;
  readonly streamId: string;
  readonly revision: number;
  readonly eventId: string;
  readonly type: string;
  readonly recordedAt: string;
  readonly source?: string;
  /** Calls: the call and where it is shown. Contract events: what they changed. */
  readonly callId?: string;
  readonly usingNumber?: string;
  readonly attributedNumber?: string;
  readonly category?: Category;
  readonly startedAt?: string;
  readonly note?: string;
  /** Change of the figure by this event (normal and billed). */
  readonly normal: string;
  readonly billed: string;
  readonly runningNormal: string;
  readonly runningBilled: string;
}

export interface AuditResult {
  readonly contractCode: string;
  readonly month: Month;
  readonly number: string | null;
  readonly category: Category | null;
  readonly entries: readonly AuditEntry[];
  /** Where the running totals end. */
  readonly computed: { readonly normal: string; readonly billed: string };
  /** The figure the projection shows. */
  readonly projected: { readonly normal: string; readonly billed: string };
  readonly matches: boolean;
}

/**
 * The events behind a figure (contract, month[, number][, category]), in log order, with running
 * totals. Attribution uses the contract's final representative-number timeline (a late change
 * re-attributes earlier calls), and the representative-number option events are listed with a
 * zero change, as they decide which number a call is shown under.
 */
export async function auditFigure(
  deps: { store: EventStore; queries: LedgerQueries },
  contractCode: string,
  month: Month,
  filter: { number?: string; category?: Category } = {},
): Promise<AuditResult> {
  requireMonth(month);
  await requireContract(deps.queries, contractCode);
  if (filter.category !== undefined && !CATEGORIES.includes(filter.category)) {
    throw new DomainError('INVALID_CATEGORY', `category must be one of ${CATEGORIES.join(', ')}, got ${JSON.stringify(filter.category)}`, 'category');
  }
  const ledger = foldLedger(await ledgerEvents(deps.store, contractCode, month));
  let runningNormal = Money.zero;
  let runningBilled = Money.zero;
  const entries: AuditEntry[] = [];
  const base = (e: RecordedEvent) => ({
    position: e.position.toString(),
    streamId: e.streamId,
    revision: e.revision,
    eventId: e.id,
    type: e.type,
    recordedAt: e.recordedAt,
    ...(typeof e.metadata.source === 'string' ? { source: e.metadata.source } : {}),
  });
  // A row is in the figure by its month, its category and the number it is shown under in the end
  // (a late representative-number change re-attributes an open month's calls from their start).
  const inFigure = (rowId: string, state: RowState | undefined): boolean => {
    if (state === undefined || state.voided || state.month !== month) return false;
    const number = ledger.rows.get(rowId)!.attributedNumber;
    return (filter.number === undefined || number === filter.number) && (filter.category === undefined || state.category === filter.category);
  };
  const push = (e: RecordedEvent, extra: Partial<AuditEntry>, dn: Money, db: Money) => {
    runningNormal = runningNormal.plus(dn);
    runningBilled = runningBilled.plus(db);
    entries.push({ ...base(e), ...extra, normal: dn.toString(), billed: db.toString(), runningNormal: runningNormal.toString(), runningBilled: runningBilled.toString() });
  };

  for (const { event: e, changes } of ledger.events) {
    if (e.type === 'OptionSubscribed' || e.type === 'OptionCancelled') {
      const d = e.data as OptionSubscribed['data'] | OptionCancelled['data'];
      if (d.option !== 'representativeNumber') continue;
      const note = e.type === 'OptionSubscribed'
        ? `representative number ${(d as OptionSubscribed['data']).representativeNumber ?? '?'} from ${d.effectiveFrom}`
        : `representative number cancelled from ${d.effectiveFrom}`;
      push(e, { note }, Money.zero, Money.zero);
      continue;
    }
    if (e.type === 'MonthClosed') {
      const d = e.data as MonthClosed['data'];
      if (d.month === month) push(e, { note: `${month} closed at ${d.closedAt}: its figures are final; what arrives later for it is carried into the next open month` }, Money.zero, Money.zero);
      continue;
    }
    const callId = (e.data as { callId?: string }).callId;
    if (callId === undefined) continue;
    const ownRowId = ledger.callRows.get(callId);
    const own = ownRowId === undefined ? undefined : ledger.rows.get(ownRowId);
    let dn = Money.zero;
    let db = Money.zero;
    let touches = false;
    let carriedRow: FoldedRow | undefined;
    for (const c of changes) {
      const was = inFigure(c.rowId, c.before);
      const is = inFigure(c.rowId, c.after);
      if (is) {
        dn = dn.plus(c.after.charge);
        db = db.plus(c.after.billed);
      }
      if (was) {
        dn = dn.minus(c.before!.charge);
        db = db.minus(c.before!.billed);
      }
      if (was || is || inFigure(c.rowId, { ...c.after, voided: false })) touches = true;
      const row = ledger.rows.get(c.rowId)!;
      if (row.carry !== null && c.before === undefined) carriedRow = row;
    }
    // A late event of this month's call that went to a later month: listed here, with no change.
    const ownInMonth = own !== undefined && own.month === month && inFigure(own.rowId, { ...own, category: own.data.category, voided: false });
    const carriedAway = carriedRow !== undefined && carriedRow.month !== month && ownInMonth;
    const pending = changes.length === 0 && e.type !== 'CallRecorded' && ownInMonth;
    if (!touches && !carriedAway && !pending) continue;
    const d = (carriedRow ?? own)?.data;
    if (!d) continue;
    const who = {
      callId,
      usingNumber: d.usingNumber,
      attributedNumber: (carriedRow ?? own)!.attributedNumber,
      category: d.category,
      startedAt: toIsoJapan(startedAtOf(d)),
    };
    const reason = (e.data as { reason?: string }).reason ?? '';
    const notes: string[] = [];
    if (e.type === 'CallRecorded' && d.free) notes.push('free call: billed 0');
    if (e.type === 'CallCorrected') notes.push(changes.length === 0 ? `corrected before recorded: ${reason}` : `corrected: ${reason}`);
    if (e.type === 'CallVoided') notes.push(`voided: ${reason}`);
    if (carriedRow && carriedRow.month === month) {
      notes.push(`前月以前分の調整: ${carriedRow.carry === 'late' ? 'a late call' : carriedRow.carry === 'voided' ? 'a void' : 'a correction'} of ${carriedRow.carriedFrom}, which was closed`);
    } else if (carriedAway) {
      notes.push(`${month} was closed: carried into ${carriedRow!.month} (前月以前分の調整)`);
    }
    push(e, { ...who, ...(notes.length > 0 ? { note: notes.join('; ') } : {}) }, dn, db);
  }
  const m = await deps.queries.monthCharges(contractCode, month);
  const pick = (figures: CategoryFigures): Money => (filter.category ? figures[filter.category] : figures.total);
  let projectedNormal = Money.zero;
  let projectedBilled = Money.zero;
  if (filter.number === undefined) {
    projectedNormal = pick(m.normal);
    projectedBilled = pick(m.billed);
  } else {
    const n = m.numbers.find((x) => x.number === filter.number);
    if (n) {
      projectedNormal = pick(n.normal);
      projectedBilled = pick(n.billed);
    }
  }
  return {
    contractCode,
    month,
    number: filter.number ?? null,
    category: filter.category ?? null,
    entries,
    computed: { normal: runningNormal.toString(), billed: runningBilled.toString() },
    projected: { normal: projectedNormal.toString(), billed: projectedBilled.toString() },
    matches: runningNormal.equals(projectedNormal) && runningBilled.equals(projectedBilled),
  };
}
