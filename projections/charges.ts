// The charges projection: call details (one row per call) and monthly charges per contract ×
// billing month × attributed number × category.
//
// Call details are the source; monthly charges are re-aggregated set-based (delete + insert … sum …
// group by) for every (contract, month) in which a batch changed existing calls, and new calls' sums
// are added elsewhere. So the totals are a function of the call rows alone, whatever the arrival
// order, and a rebuild (which aggregates everything once at the end) produces the same rows as the
// incremental path (the property tests compare both with an independent fold and with each other).
//
// Attribution (SPEC §3.3) needs the contract's representative-number timeline: the projection keeps
// its own copy of the contract events, folds them through the contract decider, and stores the
// intervals. A contract change recorded late re-attributes that contract's calls from the new
// intervals, and the months whose rows changed are re-aggregated.
import { sql, type Kysely, type RawBuilder, type Transaction } from 'kysely';
import type { CallCorrected, CallRecorded, CallVoided, MonthClosed } from '../domain/events.ts';
import { adjustmentRowIdOf, carryingMonthOf } from '../domain/billing.ts';
import { startInstantOf } from '../domain/time.ts';
import { Money } from '../domain/money.ts';
import type { RecordedEvent } from '../eventstore/port.ts';
import { CONTRACT_EVENT_TYPES, foldContract, intervalsOf } from './attribution.ts';
import type { ApplyContext, BulkRebuildOptions, Executor, Projection } from './framework.ts';

export const CHARGE_TABLES = {
  contractEvents: 'proj_charge_contract_events',
  intervals: 'proj_rep_intervals',
  calls: 'proj_call_details',
  adjustments: 'proj_call_adjustments',
  monthly: 'proj_monthly_charges',
  pages: 'proj_call_pages',
  closes: 'proj_month_closes',
} as const;

/** Calls a page of the call-details listing shows (SPEC §4: 10 per page). */
export const CALL_PAGE_SIZE = 10;

/** The listing key of a number's calls of every category, in proj_call_pages. */
export const ALL_CATEGORIES = 'all';

const T = CHARGE_TABLES;
const t = (name: string, suffix: string) => sql.table(name + suffix);

// Amounts are `numeric` without a precision: a column of fixed precision is a sum some contract
// will one day overflow, and one overflowing row stops the whole projection. Every amount written
// has two decimals (Money.toString(); round(…, 2) in set-based SQL; a free call's billed 0.00), so
// the text read back is always like 8.00. Stores made before are moved over by projection migration 0105.
async function createTables(db: Executor, s: string): Promise<void> {
  await sql`
    create table ${t(T.contractEvents, s)} (
      contract_code text not null,
      revision integer not null,
      position bigint not null,
      type text not null,
      data jsonb not null,
      primary key (contract_code, revision)
    )`.execute(db);
  await sql`
    create table ${t(T.intervals, s)} (
      contract_code text not null,
      from_t bigint not null,
      to_t bigint,
      number text not null,
      primary key (contract_code, from_t)
    )`.execute(db);
  await sql`
    create table ${t(T.calls, s)} (
      call_id uuid primary key,
      position bigint not null,
      contract_code text not null,
      billing_month text not null,
      using_number text not null,
      attributed_number text not null,
      started_at bigint not null,
      start_date text not null,
      start_time text not null,
      destination text not null,
      area text not null,
      duration text,
      count integer,
      extension_type text not null,
      call_type text not null,
      category text not null,
      free boolean not null,
      recorded_charge numeric not null,
      charge numeric not null,
      billed numeric not null,
      corrected boolean not null default false,
      voided boolean not null default false,
      carried_from text,
      carry text,
      adjusted_call_id uuid
    )`.execute(db);
  for (const create of callIndexes(s)) await create(db);
  await sql`
    create table ${t(T.adjustments, s)} (
      position bigint primary key,
      event_id text not null,
      call_id uuid not null,
      kind text not null,
      charge numeric,
      reason text not null
    )`.execute(db);
  await sql`create index on ${t(T.adjustments, s)} (call_id)`.execute(db);
  await sql`
    create table ${t(T.monthly, s)} (
      contract_code text not null,
      billing_month text not null,
      number text not null,
      category text not null,
      normal numeric not null,
      billed numeric not null,
      calls integer not null,
      primary key (contract_code, billing_month, number, category)
    )`.execute(db);
  await createPagesTable(db, s);
  await createClosesTable(db, T.closes + s);
}

/** A projection's own record of the closed months it has seen (month → the close's position). */
export async function createClosesTable(db: Executor, table: string): Promise<void> {
  await sql`
    create table ${sql.table(table)} (
      contract_code text not null,
      month text not null,
      position bigint not null,
      primary key (contract_code, month)
    )`.execute(db);
}

/**
 * Where each page of a call-details listing starts: the key (start, call id) of its first call.
 * A listing is a number's calls of a month that are not voided, of every category (listing 'all')
 * or of one; a page is found by one lookup here and one index seek from its first call, so page
 * 20,000 costs what page 2 does (an OFFSET would read the 199,990 calls before it).
 */
export async function createPagesTable(db: Executor, s: string): Promise<void> {
  await sql`
    create table ${t(T.pages, s)} (
      contract_code text not null,
      billing_month text not null,
      number text not null,
      listing text not null,
      page integer not null,
      started_at bigint not null,
      call_id uuid not null,
      primary key (contract_code, billing_month, number, listing, page)
    )`.execute(db);
}

/**
 * The call details' secondary indexes, one statement each (a bulk rebuild makes them after it has
 * loaded the rows). The two listings' indexes carry `voided`, so that a listing's pages are drawn
 * from its index alone (an index-only scan in page order) rather than by sorting its calls.
 */
function callIndexes(s: string): ((db: Executor) => Promise<unknown>)[] {
  return [
    (db) => sql`create index on ${t(T.calls, s)} (contract_code, billing_month, attributed_number, started_at, call_id) include (voided)`.execute(db),
    // The month in start order, for the CSV export's keyset paging (SPEC §7.2).
    (db) => sql`create index on ${t(T.calls, s)} (contract_code, billing_month, started_at, call_id)`.execute(db),
    categoryListingIndex(s),
  ];
}

/** A number's calls of one category in start order: a category's page is a seek, never a filtered scan. */
export function categoryListingIndex(s: string): (db: Executor) => Promise<unknown> {
  return (db) => sql`create index on ${t(T.calls, s)} (contract_code, billing_month, attributed_number, category, started_at, call_id) include (voided)`.execute(db);
}

const startedAt = startInstantOf;

type Pair = readonly [contractCode: string, month: string];

class PairSet {
  private readonly keys = new Map<string, Pair>();
  add(contractCode: string, month: string): void {
    this.keys.set(`${contractCode}\u0000${month}`, [contractCode, month]);
  }
  has(contractCode: string, month: string): boolean {
    return this.keys.has(`${contractCode}\u0000${month}`);
  }
  get size(): number {
    return this.keys.size;
  }
  arrays(): [string[], string[]] {
    const pairs = [...this.keys.values()];
    return [pairs.map((p) => p[0]), pairs.map((p) => p[1])];
  }
}

/**
 * Closed months (SPEC §4.1): a MonthClosed splits the batch, so that every event before it is
 * applied as to an open month and every event after it sees the month closed, as the fold
 * (projections/fold.ts) does event by event. Closes come once a month per contract: the split costs
 * a few more statements, never one per event.
 */
async function apply(trx: Transaction<any>, events: readonly RecordedEvent[], ctx: ApplyContext): Promise<void> {
  let segment: RecordedEvent[] = [];
  for (const e of events) {
    if (e.type !== 'MonthClosed') {
      segment.push(e);
      continue;
    }
    if (segment.length > 0) await applySegment(trx, segment, ctx);
    segment = [];
    const d = e.data as MonthClosed['data'];
    await sql`
      insert into ${t(T.closes, ctx.suffix)} (contract_code, month, position)
      values (${d.contractCode}, ${d.month}, ${e.position.toString()}::bigint)
      on conflict do nothing`.execute(trx);
  }
  if (segment.length > 0) await applySegment(trx, segment, ctx);
}

/** Each contract's closed months (month → position of its close), for the contracts given. */
async function closesOf(trx: Transaction<any>, s: string, codes: readonly string[]): Promise<Map<string, Map<string, bigint>>> {
  const out = new Map<string, Map<string, bigint>>();
  if (codes.length === 0) return out;
  const { rows } = await sql<{ contract_code: string; month: string; position: string }>`
    select contract_code, month, position::text as position from ${t(T.closes, s)} where contract_code = any(${codes}::text[])`.execute(trx);
  for (const r of rows) {
    let m = out.get(r.contract_code);
    if (!m) out.set(r.contract_code, (m = new Map()));
    m.set(r.month, BigInt(r.position));
  }
  return out;
}

const NO_CLOSES: ReadonlyMap<string, bigint> = new Map();

/** Events without a MonthClosed among them: the set of closed months holds still while they apply. */
async function applySegment(trx: Transaction<any>, events: readonly RecordedEvent[], ctx: ApplyContext): Promise<void> {
  const s = ctx.suffix;
  const touched = new PairSet();
  // Calls that joined or left a listing (see proj_call_pages): its pages from there on are redrawn.
  const listingChanges: ListingChange[] = [];

  // 1. Contract events: keep them, refold each touched contract, store changed intervals.
  const contractEvents = events.filter((e) => (CONTRACT_EVENT_TYPES as readonly string[]).includes(e.type));
  const reattribute: string[] = [];
  if (contractEvents.length > 0) {
    const rows = contractEvents.map((e) => ({
      contract_code: (e.data as { contractCode: string }).contractCode,
      revision: e.revision,
      position: e.position.toString(),
      type: e.type,
      data: e.data,
    }));
    await sql`
      insert into ${t(T.contractEvents, s)} (contract_code, revision, position, type, data)
      select x.contract_code, x.revision, x.position::bigint, x.type, x.data
      from jsonb_to_recordset(${JSON.stringify(rows)}::jsonb) as x(contract_code text, revision integer, position text, type text, data jsonb)
      on conflict do nothing`.execute(trx);
    for (const code of new Set(rows.map((r) => r.contract_code))) {
      if (await refreshIntervals(trx, s, code)) reattribute.push(code);
    }
  }

  // 2. New calls, attributed from the intervals as they stand (step 1 has refreshed them).
  const recorded = events.filter((e): e is RecordedEvent & { data: CallRecorded['data'] } => e.type === 'CallRecorded');
  let newCalls: readonly NewCall[] = [];
  if (recorded.length > 0) {
    const closes = await closesOf(trx, s, [...new Set(recorded.map((e) => e.data.contractCode))]);
    const rows = recorded.map((e) => {
      const d = e.data;
      const charge = Money.fromEvent(d.charge).toString();
      // A call of a closed month goes to the next open one (前月以前分の調整).
      const month = carryingMonthOf(d.billingMonth, e.position, closes.get(d.contractCode) ?? NO_CLOSES);
      return {
        call_id: d.callId,
        position: e.position.toString(),
        contract_code: d.contractCode,
        billing_month: month,
        carried_from: month === d.billingMonth ? null : d.billingMonth,
        using_number: d.usingNumber,
        started_at: String(startedAt(d.startDate, d.startTime)),
        start_date: d.startDate,
        start_time: d.startTime,
        destination: d.destination,
        area: d.area,
        duration: d.duration,
        count: d.count,
        extension_type: d.extensionType,
        call_type: d.callType,
        category: d.category,
        free: d.free,
        charge,
      };
    });
    // What the totals need of each new call comes back with it, and whether an adjustment read
    // earlier is waiting for it.
    const { rows: inserted } = await sql<NewCall>`
      insert into ${t(T.calls, s)} (call_id, position, contract_code, billing_month, using_number, attributed_number, started_at,
        start_date, start_time, destination, area, duration, count, extension_type, call_type, category, free,
        recorded_charge, charge, billed, carried_from, carry)
      select x.call_id::uuid, x.position::bigint, x.contract_code, x.billing_month, x.using_number,
        coalesce(
          (select i.number from ${t(T.intervals, s)} i
           where i.contract_code = x.contract_code and i.from_t <= x.started_at::bigint and (i.to_t is null or x.started_at::bigint < i.to_t)
           limit 1),
          x.using_number),
        x.started_at::bigint,
        x.start_date, x.start_time, x.destination, x.area, x.duration, x.count, x.extension_type, x.call_type, x.category, x.free,
        x.charge::numeric, x.charge::numeric, case when x.free then 0.00 else x.charge::numeric end,
        x.carried_from, case when x.carried_from is not null then 'late' end
      from jsonb_to_recordset(${JSON.stringify(rows)}::jsonb) as x(call_id text, position text, contract_code text, billing_month text,
        using_number text, started_at text, start_date text, start_time text, destination text, area text, duration text, count integer,
        extension_type text, call_type text, category text, free boolean, charge text, carried_from text)
      on conflict (call_id) do nothing
      returning call_id::text as call_id, contract_code, billing_month, attributed_number, category, started_at::text as started_at,
        charge::text as charge, billed::text as billed,
        exists (select 1 from ${t(T.adjustments, s)} a where a.call_id = ${t(T.calls, s)}.call_id) as adjusted`.execute(trx);
    newCalls = inserted;
  }

  // 3. Corrections and voids: keep every one; the call's figures are derived from all of them.
  const adjustments = events.filter((e) => e.type === 'CallCorrected' || e.type === 'CallVoided');
  let adjustedIds: string[] = [];
  if (adjustments.length > 0) {
    const rows = adjustments.map((e) => {
      const d = e.data as CallCorrected['data'] | CallVoided['data'];
      adjustedIds.push(d.callId);
      return {
        position: e.position.toString(),
        event_id: e.id,
        call_id: d.callId,
        kind: e.type === 'CallCorrected' ? 'corrected' : 'voided',
        charge: e.type === 'CallCorrected' ? Money.fromEvent((d as CallCorrected['data']).charge).toString() : null,
        reason: d.reason ?? '',
      };
    });
    await sql`
      insert into ${t(T.adjustments, s)} (position, event_id, call_id, kind, charge, reason)
      select x.position::bigint, x.event_id, x.call_id::uuid, x.kind, x.charge::numeric, x.reason
      from jsonb_to_recordset(${JSON.stringify(rows)}::jsonb) as x(position text, event_id text, call_id text, kind text, charge text, reason text)
      on conflict do nothing`.execute(trx);
    // Calls whose month is closed keep their row as billed; the difference goes to the next open month.
    const carried = await carryDifferences(trx, s, adjustments, adjustedIds);
    for (const r of carried.changes) {
      touched.add(r.contract_code, r.billing_month);
      listingChanges.push(r);
    }
    const closedIds = new Set(carried.closedCallIds);
    adjustedIds = adjustedIds.filter((id) => !closedIds.has(id));
  }
  // A correction may be read before its call (it lives in another stream for some adapters): new
  // calls take up any adjustment already stored, so the order of arrival does not matter.
  const toAdjust = [...new Set([...adjustedIds, ...newCalls.filter((c) => c.adjusted).map((c) => c.call_id)])];
  if (toAdjust.length > 0) {
    const { rows } = await sql<ListingChange & { relisted: boolean }>`
      update ${t(T.calls, s)} c set
        charge = coalesce(x.corrected_charge, c.recorded_charge),
        billed = case when c.free then 0.00 else coalesce(x.corrected_charge, c.recorded_charge) end,
        corrected = x.corrected_charge is not null,
        voided = x.voided
      from (
        select c2.call_id, c2.voided as was_voided,
          (select a.charge from ${t(T.adjustments, s)} a where a.call_id = c2.call_id and a.kind = 'corrected' order by a.position desc limit 1) as corrected_charge,
          exists (select 1 from ${t(T.adjustments, s)} a where a.call_id = c2.call_id and a.kind = 'voided') as voided
        from ${t(T.calls, s)} c2
        where c2.call_id = any(${toAdjust}::uuid[])
      ) x
      where c.call_id = x.call_id
      returning c.contract_code, c.billing_month, c.attributed_number as number, c.category, c.started_at::text as started_at, c.call_id::text as call_id,
        x.was_voided <> x.voided as relisted`.execute(trx);
    for (const r of rows) {
      touched.add(r.contract_code, r.billing_month);
      // A void takes the call out of its listings (a correction only changes its amount).
      if (r.relisted) listingChanges.push(r);
    }
  }

  // 4. Re-attribution: every call of a contract whose intervals changed (a late change may reach
  // back over calls already projected).
  if (reattribute.length > 0) {
    // A moved call leaves its old number's listings and joins the new one's: the earliest such
    // call per listing is all the pages need (a late change can move a month of calls).
    const { rows } = await sql<ListingChange>`
      with moved as (
        update ${t(T.calls, s)} c set attributed_number = n.number
        from (
          select c2.call_id, c2.attributed_number as old_number, coalesce(
            (select i.number from ${t(T.intervals, s)} i
             where i.contract_code = c2.contract_code and i.from_t <= c2.started_at and (i.to_t is null or c2.started_at < i.to_t)
             limit 1),
            c2.using_number) as number
          from ${t(T.calls, s)} c2
          where c2.contract_code = any(${reattribute}::text[])
            -- a closed month's calls stay where its bill showed them (SPEC §4.1)
            and not exists (select 1 from ${t(T.closes, s)} m where m.contract_code = c2.contract_code and m.month = c2.billing_month)
        ) n
        where c.call_id = n.call_id and c.attributed_number <> n.number
        returning c.contract_code, c.billing_month, n.old_number, c.attributed_number, c.category, c.started_at, c.call_id
      )
      select distinct on (m.contract_code, m.billing_month, m.number, m.category)
        m.contract_code, m.billing_month, m.number, m.category, m.started_at::text as started_at, m.call_id::text as call_id
      from (
        select contract_code, billing_month, old_number as number, category, started_at, call_id from moved
        union all
        select contract_code, billing_month, attributed_number, category, started_at, call_id from moved
      ) m
      order by m.contract_code, m.billing_month, m.number, m.category, m.started_at, m.call_id`.execute(trx);
    for (const r of rows) {
      touched.add(r.contract_code, r.billing_month);
      listingChanges.push(r);
    }
  }

  // 5. Totals. Months where existing calls changed (attribution, corrections) are re-aggregated
  // from the call rows; elsewhere the new calls' sums are added (exact numerics: the same figures,
  // without rescanning a month of a million calls per batch). A rebuild aggregates once, at the end.
  if (ctx.rebuilding) return;
  if (touched.size > 0) await reaggregate(trx, s, touched);
  if (newCalls.length > 0) await addNewCalls(trx, s, newCalls, touched);

  // 6. Pages of the listings that calls joined or left.
  for (const c of newCalls) {
    listingChanges.push({ contract_code: c.contract_code, billing_month: c.billing_month, number: c.attributed_number, category: c.category, started_at: c.started_at, call_id: c.call_id });
  }
  if (listingChanges.length > 0) await redrawPages(trx, s, listingChanges);
}

/**
 * Corrections and voids of calls whose row lies in a closed month: the row stays as the bill showed
 * it, and each such event adds a row of its own to the next open month carrying the difference it
 * made (new minus old value; a void: minus the value), listed under the call's date and number.
 * Returns those rows (for totals and pages) and the calls they concern (not to be changed in place).
 */
async function carryDifferences(
  trx: Transaction<any>,
  s: string,
  adjustments: readonly RecordedEvent[],
  callIds: readonly string[],
): Promise<{ changes: ListingChange[]; closedCallIds: string[] }> {
  const ids = [...new Set(callIds)];
  const { rows: closedRows } = await sql<{ call_id: string; contract_code: string; billing_month: string; recorded_charge: string }>`
    select c.call_id::text as call_id, c.contract_code, c.billing_month, c.recorded_charge::text as recorded_charge
    from ${t(T.calls, s)} c
    where c.call_id = any(${ids}::uuid[])
      and exists (select 1 from ${t(T.closes, s)} m where m.contract_code = c.contract_code and m.month = c.billing_month)`.execute(trx);
  if (closedRows.length === 0) return { changes: [], closedCallIds: [] };
  const closedCalls = new Map(closedRows.map((r) => [r.call_id, r]));
  const { rows: stored } = await sql<{ call_id: string; position: string; kind: string; charge: string | null }>`
    select call_id::text as call_id, position::text as position, kind, charge::text as charge
    from ${t(T.adjustments, s)} where call_id = any(${[...closedCalls.keys()]}::uuid[]) order by position`.execute(trx);
  const history = new Map<string, { position: bigint; kind: string; charge: string | null }[]>();
  for (const a of stored) {
    let list = history.get(a.call_id);
    if (!list) history.set(a.call_id, (list = []));
    list.push({ position: BigInt(a.position), kind: a.kind, charge: a.charge });
  }
  const closes = await closesOf(trx, s, [...new Set(closedRows.map((r) => r.contract_code))]);
  const rows: { row_id: string; position: string; adjusted: string; billing_month: string; carried_from: string; carry: string; delta: string }[] = [];
  for (const e of [...adjustments].sort((a, b) => (a.position < b.position ? -1 : a.position > b.position ? 1 : 0))) {
    const callId = (e.data as CallCorrected['data'] | CallVoided['data']).callId;
    const call = closedCalls.get(callId);
    if (!call) continue;
    const list = history.get(callId) ?? [];
    // What the call counts for after the adjustments up to a point: a void counts nothing, else the newest correction.
    const valueUpTo = (inclusive: boolean): Money => {
      let charge = Money.fromDb(call.recorded_charge);
      let voided = false;
      for (const a of list) {
        if (inclusive ? a.position > e.position : a.position >= e.position) break;
        if (a.kind === 'voided') voided = true;
        else charge = Money.fromDb(a.charge);
      }
      return voided ? Money.zero : charge;
    };
    const delta = valueUpTo(true).minus(valueUpTo(false));
    if (delta.isZero()) continue;
    rows.push({
      row_id: adjustmentRowIdOf(e.id),
      position: e.position.toString(),
      adjusted: callId,
      billing_month: carryingMonthOf(call.billing_month, e.position, closes.get(call.contract_code) ?? NO_CLOSES),
      carried_from: call.billing_month,
      carry: e.type === 'CallCorrected' ? 'corrected' : 'voided',
      delta: delta.toString(),
    });
  }
  if (rows.length === 0) return { changes: [], closedCallIds: [...closedCalls.keys()] };
  const { rows: inserted } = await sql<ListingChange>`
    insert into ${t(T.calls, s)} (call_id, position, contract_code, billing_month, using_number, attributed_number, started_at,
      start_date, start_time, destination, area, duration, count, extension_type, call_type, category, free,
      recorded_charge, charge, billed, carried_from, carry, adjusted_call_id)
    select x.row_id::uuid, x.position::bigint, o.contract_code, x.billing_month, o.using_number,
      coalesce(
        (select i.number from ${t(T.intervals, s)} i
         where i.contract_code = o.contract_code and i.from_t <= o.started_at and (i.to_t is null or o.started_at < i.to_t)
         limit 1),
        o.using_number),
      o.started_at, o.start_date, o.start_time, o.destination, o.area, o.duration, o.count, o.extension_type, o.call_type, o.category, o.free,
      x.delta::numeric, x.delta::numeric, case when o.free then 0.00 else x.delta::numeric end, x.carried_from, x.carry, o.call_id
    from jsonb_to_recordset(${JSON.stringify(rows)}::jsonb)
      as x(row_id text, position text, adjusted text, billing_month text, carried_from text, carry text, delta text)
    join ${t(T.calls, s)} o on o.call_id = x.adjusted::uuid
    on conflict (call_id) do nothing
    returning contract_code, billing_month, attributed_number as number, category, started_at::text as started_at, call_id::text as call_id`.execute(trx);
  return { changes: inserted, closedCallIds: [...closedCalls.keys()] };
}

/** A call that joined or left the listings of a number (all categories, and its own category). */
interface ListingChange {
  readonly contract_code: string;
  readonly billing_month: string;
  readonly number: string;
  readonly category: string;
  readonly started_at: string;
  readonly call_id: string;
}

/**
 * Keeps proj_call_pages as `allPagesSelect` would make it, for the listings that calls joined or
 * left. Pages that start before the earliest change of a listing are still right; the others are
 * deleted and drawn again from the last page kept. So calls that arrive in start order (an import
 * of a month) cost the new calls and one page, and a call inserted early in a listing costs its
 * tail (an index-only walk of the calls after it, one row written per ten calls).
 */
async function redrawPages(trx: Transaction<any>, s: string, changes: readonly ListingChange[]): Promise<void> {
  const columns = (['contract_code', 'billing_month', 'number', 'category', 'started_at', 'call_id'] as const).map((k) => changes.map((c) => c[k]));
  // Per listing: its earliest change, and the last page that starts before it (found walking back
  // from the listing's last page: calls arriving in start order find it at once). Materialized, so
  // that each is looked up once per listing, not once per page row deleted.
  const kept = sql`
    with requested as materialized (
      select distinct on (x.contract_code, x.billing_month, x.number, l.listing)
        x.contract_code, x.billing_month, x.number, l.listing, x.started_at, x.call_id
      from unnest(${columns[0]}::text[], ${columns[1]}::text[], ${columns[2]}::text[], ${columns[3]}::text[], ${columns[4]}::bigint[], ${columns[5]}::uuid[])
        as x(contract_code, billing_month, number, category, started_at, call_id)
      cross join lateral (values (${ALL_CATEGORIES}), (x.category)) as l(listing)
      order by x.contract_code, x.billing_month, x.number, l.listing, x.started_at, x.call_id
    ), kept as materialized (
      select r.contract_code, r.billing_month, r.number, r.listing, k.page, k.started_at, k.call_id
      from requested r
      left join lateral (
        select p.page, p.started_at, p.call_id from ${t(T.pages, s)} p
        where p.contract_code = r.contract_code and p.billing_month = r.billing_month and p.number = r.number and p.listing = r.listing
          and (p.started_at, p.call_id) < (r.started_at, r.call_id)
        order by p.page desc limit 1
      ) k on true
    )`;
  const { rows } = await sql<{ contract_code: string; billing_month: string; number: string; listing: string; page: number | null; started_at: string | null; call_id: string | null }>`
    ${kept}
    select contract_code, billing_month, number, listing, page, started_at::text as started_at, call_id::text as call_id from kept`.execute(trx);
  const keep = (['contract_code', 'billing_month', 'number', 'listing'] as const).map((k) => rows.map((r) => r[k]));
  const page = rows.map((r) => r.page ?? 0);
  // Before every key: a listing with no page kept is drawn from its start.
  const fromT = rows.map((r) => r.started_at ?? '-9223372036854775808');
  const fromId = rows.map((r) => r.call_id ?? '00000000-0000-0000-0000-000000000000');
  const listings = sql`unnest(${keep[0]}::text[], ${keep[1]}::text[], ${keep[2]}::text[], ${keep[3]}::text[], ${page}::integer[], ${fromT}::bigint[], ${fromId}::uuid[])
    as r(contract_code, billing_month, number, listing, page, started_at, call_id)`;
  await sql`
    delete from ${t(T.pages, s)} p using ${listings}
    where p.contract_code = r.contract_code and p.billing_month = r.billing_month and p.number = r.number and p.listing = r.listing
      and p.page > r.page`.execute(trx);
  // From the first call of the last page kept (before every change, so still in the listing), or
  // from the listing's start: a new page at every tenth call.
  await sql`
    insert into ${t(T.pages, s)} (contract_code, billing_month, number, listing, page, started_at, call_id)
    select r.contract_code, r.billing_month, r.number, r.listing, greatest(r.page, 1) + (d.n - 1) / ${CALL_PAGE_SIZE}, d.started_at, d.call_id
    from ${listings}
    cross join lateral (
      select c.started_at, c.call_id, row_number() over (order by c.started_at, c.call_id) as n
      from ${t(T.calls, s)} c
      where r.listing = ${ALL_CATEGORIES} and c.contract_code = r.contract_code and c.billing_month = r.billing_month and c.attributed_number = r.number
        and not c.voided and (c.started_at, c.call_id) >= (r.started_at, r.call_id)
      union all
      select c.started_at, c.call_id, row_number() over (order by c.started_at, c.call_id) as n
      from ${t(T.calls, s)} c
      where r.listing <> ${ALL_CATEGORIES} and c.contract_code = r.contract_code and c.billing_month = r.billing_month and c.attributed_number = r.number
        and c.category = r.listing and not c.voided and (c.started_at, c.call_id) >= (r.started_at, r.call_id)
    ) d
    where (d.n - 1) % ${CALL_PAGE_SIZE} = 0 and (r.page = 0 or d.n > 1)`.execute(trx);
}

/**
 * Every listing's pages from the call rows, as redrawPages leaves them: the first call of each
 * page, a page every CALL_PAGE_SIZE calls in start order, voided calls left out.
 */
function allPagesSelect(s: string): RawBuilder<unknown> {
  return sql`
    select contract_code, billing_month, attributed_number as number, ${ALL_CATEGORIES}::text as listing,
      ((n - 1) / ${CALL_PAGE_SIZE} + 1)::integer as page, started_at, call_id
    from (
      select contract_code, billing_month, attributed_number, started_at, call_id,
        row_number() over (partition by contract_code, billing_month, attributed_number order by started_at, call_id) as n
      from ${t(T.calls, s)} where not voided
    ) a
    where (n - 1) % ${CALL_PAGE_SIZE} = 0
    union all
    select contract_code, billing_month, attributed_number, category,
      ((n - 1) / ${CALL_PAGE_SIZE} + 1)::integer, started_at, call_id
    from (
      select contract_code, billing_month, attributed_number, category, started_at, call_id,
        row_number() over (partition by contract_code, billing_month, attributed_number, category order by started_at, call_id) as n
      from ${t(T.calls, s)} where not voided
    ) c
    where (n - 1) % ${CALL_PAGE_SIZE} = 0`;
}

/** Replace every listing's pages (a rebuild's end, the migration that introduced them). */
export async function drawAllPages(db: Executor, s: string): Promise<void> {
  await sql`delete from ${t(T.pages, s)}`.execute(db);
  await sql`insert into ${t(T.pages, s)} (contract_code, billing_month, number, listing, page, started_at, call_id) ${allPagesSelect(s)}`.execute(db);
}

/** A call row just inserted, as `insert … returning` gives it back. */
interface NewCall {
  readonly call_id: string;
  readonly contract_code: string;
  readonly billing_month: string;
  readonly attributed_number: string;
  readonly category: string;
  readonly started_at: string;
  readonly charge: string;
  readonly billed: string;
  /** An adjustment of this call was stored before the call itself. */
  readonly adjusted: boolean;
}

/** Refold a contract's events; replace its intervals when they changed. True when they did. */
async function refreshIntervals(trx: Transaction<any>, s: string, contractCode: string): Promise<boolean> {
  const { rows: events } = await sql<{ type: string; data: unknown }>`
    select type, data from ${t(T.contractEvents, s)} where contract_code = ${contractCode} order by revision`.execute(trx);
  const intervals = intervalsOf(foldContract(events));
  const { rows: current } = await sql<{ from_t: string; to_t: string | null; number: string }>`
    select from_t::text as from_t, to_t::text as to_t, number from ${t(T.intervals, s)} where contract_code = ${contractCode} order by ${t(T.intervals, s)}.from_t`.execute(trx);
  const same =
    current.length === intervals.length &&
    current.every((c, k) => {
      const i = intervals[k]!;
      return c.from_t === String(i.from) && c.to_t === (i.to === null ? null : String(i.to)) && c.number === i.number;
    });
  if (same) return false;
  await sql`delete from ${t(T.intervals, s)} where contract_code = ${contractCode}`.execute(trx);
  if (intervals.length > 0) {
    const rows = intervals.map((i) => ({ from_t: String(i.from), to_t: i.to === null ? null : String(i.to), number: i.number }));
    await sql`
      insert into ${t(T.intervals, s)} (contract_code, from_t, to_t, number)
      select ${contractCode}, x.from_t::bigint, x.to_t::bigint, x.number
      from jsonb_to_recordset(${JSON.stringify(rows)}::jsonb) as x(from_t text, to_t text, number text)`.execute(trx);
  }
  return true;
}

async function reaggregate(trx: Transaction<any>, s: string, pairs: PairSet): Promise<void> {
  const [codes, months] = pairs.arrays();
  await sql`
    delete from ${t(T.monthly, s)} m
    using unnest(${codes}::text[], ${months}::text[]) as p(contract_code, billing_month)
    where m.contract_code = p.contract_code and m.billing_month = p.billing_month`.execute(trx);
  await sql`
    insert into ${t(T.monthly, s)} (contract_code, billing_month, number, category, normal, billed, calls)
    select d.contract_code, d.billing_month, d.attributed_number, d.category, sum(d.charge), sum(d.billed), count(*)
    from ${t(T.calls, s)} d
    join unnest(${codes}::text[], ${months}::text[]) as p(contract_code, billing_month)
      on d.contract_code = p.contract_code and d.billing_month = p.billing_month
    where not d.voided
    group by d.contract_code, d.billing_month, d.attributed_number, d.category`.execute(trx);
}

/**
 * Add the new calls' sums to their figures, except in the months re-aggregated (which counted them
 * already). A new call changed after its insert (an adjustment, re-attribution) is in such a month,
 * so the figures returned by the insert are the call's figures.
 */
async function addNewCalls(trx: Transaction<any>, s: string, calls: readonly NewCall[], reaggregated: PairSet): Promise<void> {
  const figures = new Map<string, { contract_code: string; billing_month: string; number: string; category: string; normal: Money; billed: Money; calls: number }>();
  for (const c of calls) {
    if (reaggregated.has(c.contract_code, c.billing_month)) continue;
    const key = [c.contract_code, c.billing_month, c.attributed_number, c.category].join('\u0000');
    const f = figures.get(key);
    if (f) {
      f.normal = f.normal.plus(Money.fromDb(c.charge));
      f.billed = f.billed.plus(Money.fromDb(c.billed));
      f.calls++;
    } else {
      figures.set(key, {
        contract_code: c.contract_code,
        billing_month: c.billing_month,
        number: c.attributed_number,
        category: c.category,
        normal: Money.fromDb(c.charge),
        billed: Money.fromDb(c.billed),
        calls: 1,
      });
    }
  }
  if (figures.size === 0) return;
  await sql`
    insert into ${t(T.monthly, s)} as m (contract_code, billing_month, number, category, normal, billed, calls)
    select x.contract_code, x.billing_month, x.number, x.category, x.normal::numeric, x.billed::numeric, x.calls
    from jsonb_to_recordset(${JSON.stringify([...figures.values()])}::jsonb)
      as x(contract_code text, billing_month text, number text, category text, normal text, billed text, calls integer)
    on conflict (contract_code, billing_month, number, category) do update set
      normal = m.normal + excluded.normal, billed = m.billed + excluded.billed, calls = m.calls + excluded.calls`.execute(trx);
}

/** The end of a rebuild fed batch by batch (events in another store): every month's totals at once, from the call rows. */
async function aggregateAll(trx: Transaction<any>, s: string): Promise<void> {
  await sql`delete from ${t(T.monthly, s)}`.execute(trx);
  await sql`
    insert into ${t(T.monthly, s)} (contract_code, billing_month, number, category, normal, billed, calls)
    select d.contract_code, d.billing_month, d.attributed_number, d.category, sum(d.charge), sum(d.billed), count(*)
    from ${t(T.calls, s)} d
    where not d.voided
    group by d.contract_code, d.billing_month, d.attributed_number, d.category`.execute(trx);
  await drawAllPages(trx, s);
}

/**
 * The set-based rebuild (see Projection.bulkRebuild): the same rows as `apply` over every event up
 * to `upTo`, monthly totals included, computed by PostgreSQL from the `events` table without a
 * round trip per event.
 *
 * Where the time goes (1,000,000 calls): extracting a call's fields from its JSONB, writing the
 * rows, and building the indexes of the call details. So the call details are written by ONE
 * `create table … as select` (see replaceBySelect), already with their corrections and attribution
 * (joins with the few adjustments and intervals rather than an update or a subquery per row); each
 * index is built once, by a sort, after the load; and the secondary indexes and the monthly
 * totals, which only read the loaded table, are made at the same time on connections of their own.
 * The pages of every listing come last, read in order from the listings' indexes (index-only scans
 * once VACUUM has marked the new table's pages all-visible) instead of sorting every call twice
 * more: measured on 1,000,000 calls, 1.7 s of CPU instead of 8.7 s.
 */
async function bulkRebuild(db: Kysely<any>, s: string, upTo: bigint, options: BulkRebuildOptions): Promise<number> {
  const limit = upTo.toString();
  const loaded = await db.transaction().execute(async (trx) => {
    await bulkSettings(trx);
    const few = await storeFewEvents(trx, s, limit);
    const intervals = await storeAllIntervals(trx, s);
    // The joins of the call rows with these small tables: hash joins when the planner knows their size.
    if (intervals > 0) await sql`analyze ${t(T.intervals, s)}`.execute(trx);
    if (few.adjustments > 0) await sql`analyze ${t(T.adjustments, s)}`.execute(trx);
    const joins = { intervals: intervals > 0, adjustments: few.adjustments > 0 };
    await sql`savepoint bulk_calls`.execute(trx);
    try {
      await loadCalls(trx, s, limit, joins, false);
    } catch (e) {
      const state = sqlState(e);
      if (state !== '23505' && state !== '23502') throw e;
      await sql`rollback to savepoint bulk_calls`.execute(trx);
      if (state === '23505') {
        // The same call recorded twice (under two event ids): keep the first, as `apply` does.
        await loadCalls(trx, s, limit, joins, true);
      } else if (await hasCallsBefore1952(trx, limit)) {
        throw new Error('calls before 1952 need the per-event rebuild (Japan had daylight saving time then)');
      } else {
        throw e;
      }
    }
    // Statistics of the columns queries select and group by (all 22 would cost three times as much:
    // ANALYZE sorts its sample once per column); the monthly totals below are planned with them.
    await sql`analyze ${t(T.calls, s)} (contract_code, billing_month, attributed_number, category, voided, started_at, call_id)`.execute(trx);
    return few;
  });
  // The visibility map, for the index-only scans of drawAllPages below (outside any transaction).
  await sql`vacuum ${t(T.calls, s)}`.execute(db);

  const readers = [
    ...callIndexes(s),
    (trx: Transaction<any>) =>
      replaceBySelect(
        trx,
        `${T.monthly}${s}`,
        {
          contract_code: sql`d.contract_code`,
          billing_month: sql`d.billing_month`,
          number: sql`d.attributed_number`,
          category: sql`d.category`,
          normal: sql`sum(d.charge)`,
          billed: sql`sum(d.billed)`,
          calls: sql`count(*)`,
        },
        sql`from ${t(T.calls, s)} d where not d.voided group by d.contract_code, d.billing_month, d.attributed_number, d.category`,
      ),
  ].map((work) => () =>
    db.transaction().execute(async (trx) => {
      await bulkSettings(trx);
      await work(trx);
    }),
  );
  if (options.concurrent) {
    const done = await Promise.allSettled(readers.map((r) => r()));
    const failed = done.find((d): d is PromiseRejectedResult => d.status === 'rejected');
    if (failed) throw failed.reason;
  } else {
    for (const r of readers) await r();
  }
  // After the listings' indexes: the pages read them in order.
  await db.transaction().execute((trx) => drawAllPages(trx, s));

  // The calls loaded, without another scan: those counted in the totals, and the voided ones.
  const { rows } = await sql<{ n: string }>`
    select ((select coalesce(sum(m.calls), 0) from ${t(T.monthly, s)} m)
      + (select count(*) from ${t(T.calls, s)} c where c.voided and c.call_id in (select a.call_id from ${t(T.adjustments, s)} a where a.kind = 'voided')))::text as n`.execute(db);
  return loaded.contractEvents + Number(rows[0]!.n) + loaded.adjustments;
}

/**
 * For the bulk rebuild's transactions only, and only where the server's own settings ask for less:
 * the planner prices the JSONB extraction of a row far below its cost, so it keeps a scan serial
 * unless passing rows between processes looks cheap; an index build uses parallel workers only
 * with 32 MB of maintenance memory for each.
 */
async function bulkSettings(trx: Transaction<any>): Promise<void> {
  await sql`
    select set_config('parallel_setup_cost', '100', true) where current_setting('parallel_setup_cost')::float8 > 100
    union all
    select set_config('parallel_tuple_cost', '0.001', true) where current_setting('parallel_tuple_cost')::float8 > 0.001
    union all
    select set_config('maintenance_work_mem', '256MB', true) where pg_size_bytes(current_setting('maintenance_work_mem')) < pg_size_bytes('256MB')`.execute(trx);
}

/** The few other events (contract changes, corrections, voids), in one pass over the log. */
async function storeFewEvents(trx: Transaction<any>, s: string, limit: string): Promise<{ contractEvents: number; adjustments: number }> {
  const contractTypes = [...CONTRACT_EVENT_TYPES];
  const { rows } = await sql<{ contracts: string; adjustments: string }>`
    with few as (
      select e.position, e.event_id, e.stream_id, e.revision, e.type, e.data
      from events e
      where e.position <= ${limit}::bigint and (e.type = any(${contractTypes}::text[]) or e.type in ('CallCorrected', 'CallVoided'))
        and e.type <> 'CallRecorded' -- the condition of the index events_other_than_calls (projections/index.ts)
    ), contract_rows as (
      insert into ${t(T.contractEvents, s)} (contract_code, revision, position, type, data)
      select f.data->>'contractCode', f.revision, f.position, f.type, f.data
      from few f
      where f.type = any(${contractTypes}::text[]) and f.stream_id like 'contract-%'
      on conflict do nothing
      returning 1
    ), adjustment_rows as (
      insert into ${t(T.adjustments, s)} (position, event_id, call_id, kind, charge, reason)
      select f.position, f.event_id::text, (f.data->>'callId')::uuid,
        case when f.type = 'CallCorrected' then 'corrected' else 'voided' end,
        case when f.type = 'CallCorrected' then round((f.data->>'charge')::numeric, 2) end,
        coalesce(f.data->>'reason', '')
      from few f
      where f.type in ('CallCorrected', 'CallVoided')
      on conflict do nothing
      returning 1
    )
    select (select count(*) from contract_rows)::text as contracts, (select count(*) from adjustment_rows)::text as adjustments`.execute(trx);
  return { contractEvents: Number(rows[0]!.contracts), adjustments: Number(rows[0]!.adjustments) };
}

/** Every contract's intervals from its stored events: one read, folded here, one insert. Returns how many. */
async function storeAllIntervals(trx: Transaction<any>, s: string): Promise<number> {
  const { rows: events } = await sql<{ contract_code: string; type: string; data: unknown }>`
    select contract_code, type, data from ${t(T.contractEvents, s)} order by contract_code, revision`.execute(trx);
  const byContract = new Map<string, { type: string; data: unknown }[]>();
  for (const e of events) {
    let list = byContract.get(e.contract_code);
    if (!list) byContract.set(e.contract_code, (list = []));
    list.push(e);
  }
  const rows: { contract_code: string; from_t: string; to_t: string | null; number: string }[] = [];
  for (const [code, list] of byContract) {
    for (const i of intervalsOf(foldContract(list))) {
      rows.push({ contract_code: code, from_t: String(i.from), to_t: i.to === null ? null : String(i.to), number: i.number });
    }
  }
  await sql`delete from ${t(T.intervals, s)}`.execute(trx);
  if (rows.length === 0) return 0;
  await sql`
    insert into ${t(T.intervals, s)} (contract_code, from_t, to_t, number)
    select x.contract_code, x.from_t::bigint, x.to_t::bigint, x.number
    from jsonb_to_recordset(${JSON.stringify(rows)}::jsonb) as x(contract_code text, from_t text, to_t text, number text)`.execute(trx);
  return rows.length;
}

function sqlState(e: unknown): string | undefined {
  const code = (e as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

async function hasCallsBefore1952(trx: Transaction<any>, limit: string): Promise<boolean> {
  const { rows } = await sql`
    select 1 from events
    where position <= ${limit}::bigint and type = 'CallRecorded' and (data->>'startDate')::date < date '1952-01-01' limit 1`.execute(trx);
  return rows.length > 0;
}

/**
 * The call details of every CallRecorded event up to `limit`. Without intervals (no representative
 * number anywhere) or adjustments, the join with the empty table is left out.
 *
 * A call's start instant is computed in SQL as the JS path does with luxon: Asia/Tokyo has been
 * UTC+9 without daylight saving since 1952, so the instant is the date's epoch day minus 9 hours
 * plus the time of day, in tenths of a second. Before 1952 it is left null, and the not-null
 * constraint then refuses the load (checked by the scan that the constraint needs anyway).
 */
async function loadCalls(
  trx: Transaction<any>,
  s: string,
  limit: string,
  joins: { readonly intervals: boolean; readonly adjustments: boolean },
  firstOfDuplicates: boolean,
): Promise<void> {
  const charge = joins.adjustments ? sql`coalesce(a.corrected_charge, x.charge)` : sql`x.charge`;
  await replaceBySelect(
    trx,
    `${T.calls}${s}`,
    {
      call_id: sql`x.call_id`,
      position: sql`x.position`,
      contract_code: sql`x.contract_code`,
      billing_month: sql`x.billing_month`,
      using_number: sql`x.using_number`,
      attributed_number: joins.intervals ? sql`coalesce(i.number, x.using_number)` : sql`x.using_number`,
      started_at: sql`x.started_at`,
      start_date: sql`x.start_date`,
      start_time: sql`x.start_time`,
      destination: sql`x.destination`,
      area: sql`x.area`,
      duration: sql`x.duration`,
      count: sql`x.count`,
      extension_type: sql`x.extension_type`,
      call_type: sql`x.call_type`,
      category: sql`x.category`,
      free: sql`x.free`,
      recorded_charge: sql`x.charge`,
      charge,
      billed: sql`case when x.free then 0.00 else ${charge} end`,
      corrected: joins.adjustments ? sql`a.corrected_charge is not null` : sql`false`,
      voided: joins.adjustments ? sql`coalesce(a.voided, false)` : sql`false`,
      // No close is below the set-based rebuild's limit (see bulkLimit): every call is in its own month.
      carried_from: sql`null`,
      carry: sql`null`,
      adjusted_call_id: sql`null`,
    },
    // "offset 0" keeps the subquery from being merged into the outer query, which would extract
    // a field from the JSONB again for each of its uses (the start time five times).
    // The rows are written in start order (a sort on one bigint, nearly free): the indexes built
    // next then sort calls that lie mostly in place rather than in the log's order, which is the
    // files' (measured on 1,000,000 calls: 3.5 s of CPU less for the three), and a listing's page
    // lies on neighbouring heap pages.
    sql`
      from (
        select (e.data->>'callId')::uuid as call_id, e.position,
          e.data->>'contractCode' as contract_code, e.data->>'billingMonth' as billing_month, e.data->>'usingNumber' as using_number,
          case when (e.data->>'startDate')::date >= date '1952-01-01' then
            ((((e.data->>'startDate')::date - date '1970-01-01')::bigint * 86400 - 32400
              + substr(e.data->>'startTime', 1, 2)::bigint * 3600 + substr(e.data->>'startTime', 3, 2)::bigint * 60
              + substr(e.data->>'startTime', 5, 2)::bigint) * 10 + substr(e.data->>'startTime', 8, 1)::bigint)
          end as started_at,
          e.data->>'startDate' as start_date, e.data->>'startTime' as start_time, e.data->>'destination' as destination,
          e.data->>'area' as area, e.data->>'duration' as duration, (e.data->>'count')::integer as count,
          e.data->>'extensionType' as extension_type, e.data->>'callType' as call_type, e.data->>'category' as category,
          (e.data->>'free')::boolean as free, round((e.data->>'charge')::numeric, 2) as charge
        from events e
        where e.position <= ${limit}::bigint and e.type = 'CallRecorded'
        offset 0
      ) x
      ${joins.intervals ? sql`
        left join ${t(T.intervals, s)} i
          on i.contract_code = x.contract_code and i.from_t <= x.started_at and (i.to_t is null or x.started_at < i.to_t)` : sql``}
      ${joins.adjustments ? sql`
        left join (
          select a.call_id,
            (array_agg(a.charge order by a.position desc) filter (where a.kind = 'corrected'))[1] as corrected_charge,
            bool_or(a.kind = 'voided') as voided
          from ${t(T.adjustments, s)} a
          group by a.call_id
        ) a on a.call_id = x.call_id` : sql``}
      ${firstOfDuplicates ? sql`order by x.call_id, x.position` : sql`order by x.started_at`}`,
    firstOfDuplicates ? sql`distinct on (x.call_id)` : undefined,
  );
}

interface ColumnShape {
  readonly name: string;
  /** With its modifiers, e.g. varchar(20). */
  readonly type: string;
  readonly notNull: boolean;
  readonly defaultExpr: string | null;
}

/**
 * Replace an empty table that createTables made with one made by `create table … as select`, then
 * give it back what createTables declared: the same column types (each value is cast to its
 * column's type as read from the catalog), not-null constraints, defaults and primary key.
 * Secondary indexes are the caller's. PostgreSQL may run the query of a `create table … as` in
 * parallel workers (never an `insert … select`'s), and no index is maintained while it loads.
 */
async function replaceBySelect(
  trx: Transaction<any>,
  table: string,
  values: Readonly<Record<string, RawBuilder<unknown>>>,
  from: RawBuilder<unknown>,
  selectPrefix?: RawBuilder<unknown>,
): Promise<void> {
  const { rows: columns } = await sql<ColumnShape>`
    select a.attname as name, format_type(a.atttypid, a.atttypmod) as type, a.attnotnull as "notNull",
      pg_get_expr(d.adbin, d.adrelid) as "defaultExpr"
    from pg_attribute a
    left join pg_attrdef d on d.adrelid = a.attrelid and d.adnum = a.attnum
    where a.attrelid = ${table}::regclass and a.attnum > 0 and not a.attisdropped
    order by a.attnum`.execute(trx);
  const { rows: keys } = await sql<{ def: string }>`
    select pg_get_constraintdef(oid) as def from pg_constraint where conrelid = ${table}::regclass and contype = 'p'`.execute(trx);
  const select = columns.map((c) => {
    const value = values[c.name];
    if (!value) throw new Error(`no value for ${table}.${c.name}`);
    return sql`(${value})::${sql.raw(c.type)} as ${sql.ref(c.name)}`;
  });
  await sql`drop table ${sql.table(table)}`.execute(trx);
  await sql`create table ${sql.table(table)} as select ${selectPrefix ?? sql``} ${sql.join(select)} ${from}`.execute(trx);
  const alterations = [
    ...columns.flatMap((c) => [
      ...(c.notNull ? [sql`alter column ${sql.ref(c.name)} set not null`] : []),
      ...(c.defaultExpr !== null ? [sql`alter column ${sql.ref(c.name)} set default ${sql.raw(c.defaultExpr)}`] : []),
    ]),
    ...keys.map((k) => sql`add ${sql.raw(k.def)}`),
  ];
  if (alterations.length > 0) await sql`alter table ${sql.table(table)} ${sql.join(alterations)}`.execute(trx);
}

/**
 * A month's figures as they stood at log position `upTo`, from the projection's own history rather
 * than a fold of the events (what makes an as-of query cost what the month's rows cost to scan:
 * tens of milliseconds at 100,000 calls instead of seconds of reading and folding events). Every row
 * keeps the position of the event that made it and every correction and void its own, and rows
 * never move between months, so the month at `upTo` is: its rows made by then, each valued by its
 * adjustments up to `bound` (upTo, or the month's close when it closed before — later ones went to
 * other months as rows of their own), shown under the number `intervals` gives (the timeline as it
 * stood at `bound`). Only for `upTo` at or below the projection's checkpoint (the caller checks).
 * Rows: number × category with normal, billed and calls.
 */
export async function monthRowsAt(
  db: Executor,
  contractCode: string,
  month: string,
  upTo: bigint,
  bound: bigint,
  intervals: readonly { readonly from: number; readonly to: number | null; readonly number: string }[],
): Promise<{ number: string; category: string; normal: string; billed: string; calls: number }[]> {
  // The adjustments are looked up for the few calls marked corrected or voided, found by one scan
  // of the month (`apply` marks every call an adjustment reached while its month was open, and one
  // that reached it after the close is past `bound`), and joined by hash whatever the statistics
  // say: a month just imported has none, and the semi-join planned for one row of it probed the
  // adjustments once per call (50,000 probes, measured 0.3 s of a 0.4 s query).
  const { rows } = await sql<{ number: string; category: string; normal: string; billed: string; calls: number }>`
    with adjusted as materialized (
      select a.call_id,
        (array_agg(a.charge order by a.position desc) filter (where a.kind = 'corrected'))[1] as corrected,
        bool_or(a.kind = 'voided') as voided
      from ${t(T.adjustments, '')} a
      where a.position <= ${bound.toString()}::bigint and a.call_id = any(array(
        select c.call_id from ${t(T.calls, '')} c
        where c.contract_code = ${contractCode} and c.billing_month = ${month} and c.position <= ${upTo.toString()}::bigint
          and (c.corrected or c.voided)))
      group by a.call_id
    )
    select number, category, sum(charge)::text as normal, sum(case when free then 0.00 else charge end)::text as billed, count(*)::integer as calls
    from (
      select
        ${intervals.length === 0 ? sql`c.using_number` : sql`coalesce(
          (select i.number from unnest(${intervals.map((i) => String(i.from))}::bigint[], ${intervals.map((i) => (i.to === null ? null : String(i.to)))}::bigint[], ${intervals.map((i) => i.number)}::text[]) as i(from_t, to_t, number)
           where i.from_t <= c.started_at and (i.to_t is null or c.started_at < i.to_t) limit 1),
          c.using_number)`} as number,
        c.category, c.free,
        -- a row carrying a difference is that difference; a call is its newest correction by then
        case when c.carry in ('corrected', 'voided') then c.charge else coalesce(a.corrected, c.recorded_charge) end as charge
      from ${t(T.calls, '')} c left join adjusted a on a.call_id = c.call_id
      where c.contract_code = ${contractCode} and c.billing_month = ${month} and c.position <= ${upTo.toString()}::bigint
        and (c.carry in ('corrected', 'voided') or not coalesce(a.voided, false))
    ) valued
    group by number, category order by number, category`.execute(db);
  return rows;
}

/**
 * The set-based rebuild reaches the event before the log's first MonthClosed: from there on, what
 * an event does depends on the closes before it (carried rows, frozen attribution), and the rebuild
 * goes on event by event through `apply`, which knows those rules.
 */
export async function beforeFirstClose(db: Kysely<any>, upTo: bigint): Promise<bigint> {
  const { rows } = await sql<{ position: string | null }>`
    select min(position)::text as position from events
    where type = 'MonthClosed' and stream_id like 'billing-%' and position <= ${upTo.toString()}::bigint
      and type <> 'CallRecorded' -- the condition of the index events_other_than_calls (projections/index.ts)`.execute(db);
  const first = rows[0]?.position;
  return first === null || first === undefined ? upTo : BigInt(first) - 1n;
}

export const chargesProjection: Projection = {
  name: 'charges',
  // 2: index in start order per month (exports)
  // 3: closed months (proj_month_closes; rows carried from a closed month)
  version: 3,
  handles: [...CONTRACT_EVENT_TYPES, 'CallRecorded', 'CallCorrected', 'CallVoided', 'MonthClosed'],
  // No stream filter: corrections are found by type wherever the importer appends them.
  tables: [T.contractEvents, T.intervals, T.calls, T.adjustments, T.monthly, T.pages, T.closes],
  createTables,
  apply,
  finishRebuild: aggregateAll,
  bulkLimit: beforeFirstClose,
  bulkRebuild,
};
