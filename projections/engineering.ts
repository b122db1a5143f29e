// The billing engineers' operations on the read side (INTERFACE.md engineer routes and the CLI's
// totals / verify / audit): the API and the CLI both call these.
import { sql } from 'kysely';
import { CATEGORIES, streams, type Category } from '../domain/events.ts';
import { DomainError } from '../domain/errors.ts';
import { Money } from '../domain/money.ts';
import { isMonth, toIsoJapan, type Month } from '../domain/time.ts';
import { startedAtOf } from '../domain/call.ts';
import type { Database } from '../eventstore/database.ts';
import type { EventStore, RecordedEvent } from '../eventstore/port.ts';
import type { CallCorrected, CallRecorded, CallVoided, OptionCancelled, OptionSubscribed } from '../domain/events.ts';
import { attributedNumberOf, foldContract, intervalsOf } from './attribution.ts';
import { CHARGE_TABLES } from './charges.ts';
import { foldMonth } from './fold.ts';
import type { CategoryFigures, LedgerQueries } from './read-model.ts';

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
export async function engineerCharges(queries: LedgerQueries, contractCode: string, month: Month): Promise<EngineerCharges> {
  requireMonth(month);
  await requireContract(queries, contractCode);
  const m = await queries.monthCharges(contractCode, month);
  return {
    contractCode,
    month,
    normal: figuresJson(m.normal),
    billed: figuresJson(m.billed),
    numbers: m.numbers.map((n) => ({ number: n.number, normal: figuresJson(n.normal), billed: figuresJson(n.billed), calls: n.calls })),
  };
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

async function monthEvents(store: EventStore, contractCode: string, month: Month): Promise<{ contract: RecordedEvent[]; calls: RecordedEvent[] }> {
  const [contract, calls] = await Promise.all([store.readStream(streams.contract(contractCode)), store.readStream(streams.calls(contractCode, month))]);
  return { contract, calls };
}

/**
 * Recompute the month from the contract stream and the month's call stream (corrections are
 * expected in the call's own stream), fold in memory with Money, and diff against the projection.
 */
export async function verifyMonth(deps: { database: Database; store: EventStore; queries: LedgerQueries }, contractCode: string, month: Month): Promise<VerifyResult> {
  requireMonth(month);
  await requireContract(deps.queries, contractCode);
  const events = await monthEvents(deps.store, contractCode, month);
  const folded = foldMonth(events.contract, events.calls, month);
  const projected = new Map<string, MonthlyRow>();
  for (const r of await projectedRows(deps.database, contractCode, month)) projected.set(`${r.number}\u0000${r.category}`, r);
  const numbers = new Set<string>([...folded.figures.keys(), ...[...projected.values()].map((r) => r.number)]);
  const differences: VerifyDifference[] = [];
  for (const number of [...numbers].sort()) {
    for (const category of CATEGORIES) {
      const c = folded.figures.get(number)?.get(category);
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
  const events = await monthEvents(deps.store, contractCode, month);
  const intervals = intervalsOf(foldContract(events.contract));
  const folded = foldMonth(events.contract, events.calls, month);

  const all = [...events.contract, ...events.calls].sort((a, b) => (a.position < b.position ? -1 : a.position > b.position ? 1 : 0));
  const current = new Map<string, { normal: Money; billed: Money; voided: boolean; free: boolean }>();
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
  const inFigure = (d: CallRecorded['data']) => {
    const attributed = attributedNumberOf(intervals, d.usingNumber, startedAtOf(d));
    return (filter.number === undefined || attributed === filter.number) && (filter.category === undefined || d.category === filter.category);
  };
  const push = (e: RecordedEvent, extra: Partial<AuditEntry>, dn: Money, db: Money) => {
    runningNormal = runningNormal.plus(dn);
    runningBilled = runningBilled.plus(db);
    entries.push({ ...base(e), ...extra, normal: dn.toString(), billed: db.toString(), runningNormal: runningNormal.toString(), runningBilled: runningBilled.toString() });
  };

  for (const e of all) {
    if (e.type === 'OptionSubscribed' || e.type === 'OptionCancelled') {
      const d = e.data as OptionSubscribed['data'] | OptionCancelled['data'];
      if (d.option !== 'representativeNumber') continue;
      const note = e.type === 'OptionSubscribed'
        ? `representative number ${(d as OptionSubscribed['data']).representativeNumber ?? '?'} from ${d.effectiveFrom}`
        : `representative number cancelled from ${d.effectiveFrom}`;
      push(e, { note }, Money.zero, Money.zero);
      continue;
    }
    const callId = (e.data as { callId?: string }).callId;
    if (callId === undefined) continue;
    const call = folded.calls.get(callId);
    if (!call || !inFigure(call.data)) continue;
    const d = call.data;
    const who = {
      callId,
      usingNumber: d.usingNumber,
      attributedNumber: call.attributedNumber,
      category: d.category,
      startedAt: toIsoJapan(startedAtOf(d)),
    };
    if (e.type === 'CallRecorded') {
      if (current.has(callId)) continue;
      const normal = Money.fromEvent((e.data as CallRecorded['data']).charge);
      const billed = d.free ? Money.zero : normal;
      current.set(callId, { normal, billed, voided: false, free: d.free });
      push(e, { ...who, ...(d.free ? { note: 'free call: billed 0' } : {}) }, normal, billed);
    } else if (e.type === 'CallCorrected') {
      const c = current.get(callId);
      const normal = Money.fromEvent((e.data as CallCorrected['data']).charge);
      const billed = d.free ? Money.zero : normal;
      const reason = (e.data as CallCorrected['data']).reason;
      if (!c) {
        current.set(callId, { normal, billed, voided: false, free: d.free });
        push(e, { ...who, note: `corrected before recorded: ${reason}` }, Money.zero, Money.zero);
        continue;
      }
      const dn = c.voided ? Money.zero : normal.minus(c.normal);
      const db = c.voided ? Money.zero : billed.minus(c.billed);
      current.set(callId, { ...c, normal, billed });
      push(e, { ...who, note: `corrected: ${reason}` }, dn, db);
    } else if (e.type === 'CallVoided') {
      const c = current.get(callId);
      const reason = (e.data as CallVoided['data']).reason;
      if (!c || c.voided) {
        push(e, { ...who, note: `voided: ${reason}` }, Money.zero, Money.zero);
        continue;
      }
      current.set(callId, { ...c, voided: true });
      push(e, { ...who, note: `voided: ${reason}` }, Money.zero.minus(c.normal), Money.zero.minus(c.billed));
    }
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
