// LedgerQueries over the projection tables (read-model.ts): what the API, the CLI and the exports
// read. Amounts come back from `numeric` columns as strings and become Money here, never numbers.
import { CompiledQuery, sql } from 'kysely';
import type pg from 'pg';
import { to as copyTo } from 'pg-copy-streams';
import { contractSummary, type ContractState, type OpenContractState } from '../domain/contract.ts';
import { CATEGORIES, OPTION_KEYS, type Category, type OptionKey } from '../domain/events.ts';
import { ADJUSTMENT_KIND_JA, ADJUSTMENT_KINDS, ADJUSTMENT_LABEL_JA, CALL_TYPE_MAX } from '../domain/adjustments.ts';
import { Money } from '../domain/money.ts';
import { isoOfJapanDateTime, type JapanDate, type Month } from '../domain/time.ts';
import type { Database } from '../eventstore/database.ts';
import type { EventStore } from '../eventstore/port.ts';
import { foldContract } from './attribution.ts';
import { ALL_CATEGORIES, CALL_PAGE_SIZE, CHARGE_TABLES } from './charges.ts';
import { CONTRACT_TABLES } from './contracts.ts';
import { readStalls } from './framework.ts';
import { projections } from './index.ts';
import {
  CALL_WITHOUT_DURATION,
  type Adjustment,
  type CallDetail,
  type CallDetailPage,
  type CallRecordChunk,
  type CategoryFigures,
  type ContractNumber,
  type ContractOptionView,
  type ContractView,
  type LedgerQueries,
  type MonthCharges,
  type MonthSummary,
  type NumberCharges,
  type ProjectionStatus,
  type Telegram,
} from './read-model.ts';
import { TELEGRAM_TABLES } from './telegrams.ts';

export { CALL_PAGE_SIZE };

/** The telegrams' row among a month's category rows (not a category: never in the call totals). */
const TELEGRAMS_ROW = 'telegrams';

type Amounts = Record<Category, Money>;

function zeroAmounts(): Amounts {
  return { domestic: Money.zero, international: Money.zero, au: Money.zero, otherMobile: Money.zero };
}

export function figuresOf(a: Amounts): CategoryFigures {
  const mobile = a.au.plus(a.otherMobile);
  return {
    total: a.domestic.plus(a.international).plus(mobile),
    domestic: a.domestic,
    international: a.international,
    mobile,
    au: a.au,
    otherMobile: a.otherMobile,
  };
}

/** A call's columns as a page shows them; the attributed number is the one asked for. */
interface CallFields {
  call_id: string;
  using_number: string;
  start_date: string;
  start_time: string;
  destination: string;
  area: string;
  duration: string | null;
  count: number | null;
  extension_type: string;
  call_type: string;
  category: Category;
  charge: string;
  billed: string;
  carried_from: string | null;
  carry: string | null;
  adjusted_call_id: string | null;
}

interface CallRow extends CallFields {
  attributed_number: string;
  started_at: string;
}

const CALL_FIELDS_TEXT = `call_id::text as call_id, using_number, start_date, start_time,
  destination, area, duration, count, extension_type, call_type, category, charge::text as charge, billed::text as billed,
  carried_from, carry, adjusted_call_id::text as adjusted_call_id`;
const CALL_COLUMNS = sql.raw(`${CALL_FIELDS_TEXT}, attributed_number, started_at::text as started_at`);

/** A statement of fixed text, prepared under its name on PostgreSQL. */
export interface Statement {
  readonly name: string;
  readonly text: string;
}

function toCallDetail(r: CallFields, attributedNumber: string, seq: number): CallDetail {
  return {
    seq,
    callId: r.call_id,
    attributedNumber,
    usingNumber: r.using_number,
    startDate: r.start_date,
    startTime: r.start_time,
    startedAt: isoOfJapanDateTime(r.start_date, r.start_time),
    destination: r.destination,
    area: r.area,
    duration: r.duration,
    count: r.count === null ? null : Number(r.count),
    extensionType: r.extension_type,
    callType: r.call_type,
    category: r.category,
    charge: Money.fromDb(r.charge),
    billed: Money.fromDb(r.billed),
    adjustment: adjustmentOf(r),
  };
}

/** 前月以前分の調整 of a row (SPEC §4.1); null for a call of the month it is listed in. */
function adjustmentOf(r: Pick<CallFields, 'call_id' | 'carried_from' | 'carry' | 'adjusted_call_id'>): Adjustment | null {
  if (r.carried_from === null || r.carry === null) return null;
  const kind = ADJUSTMENT_KINDS.find((k) => k === r.carry);
  if (kind === undefined) throw new Error(`call row ${r.call_id}: unknown carry ${JSON.stringify(r.carry)}`);
  return { kind, month: r.carried_from, callId: r.adjusted_call_id ?? r.call_id };
}


/**
 * SPEC §7.2's nine fields, formatted as callRecord (importers/csv-export.ts) formats a CallDetail:
 * YYYY/MM/DD, the duration or N件, the charge as text (always 2 places, as Money.toString: see
 * charges.ts on its column).
 * A call has a duration or a count (CallRecorded); a row with neither fails the export (NULL).
 */
const CALL_RECORD_FIELDS = `attributed_number, replace(start_date, '-', '/'), start_time, destination, area,
  coalesce(duration, count::text || '件'), extension_type, ${markedCallTypeSql()}, round(charge, 2)::text`;

/** A text literal of SQL (the labels are ours, but quoted as any text would be). */
function literal(text: string): string {
  return `'${text.replaceAll("'", "''")}'`;
}

/**
 * 呼種別 of a row carried from a closed month, as markedCallType (domain/adjustments.ts) writes it:
 * the call type cut to leave room for `(前月以前分の調整 2017/11 訂正)`, then that mark.
 */
function markedCallTypeSql(): string {
  const kind = `case carry ${ADJUSTMENT_KINDS.map((k) => `when ${literal(k)} then ${literal(ADJUSTMENT_KIND_JA[k])}`).join(' ')} end`;
  const mark = `(${literal(`(${ADJUSTMENT_LABEL_JA} `)} || replace(carried_from, '-', '/') || ' ' || ${kind} || ')')`;
  return `case when carried_from is null or carry is null then call_type else left(call_type, ${CALL_TYPE_MAX} - char_length(${mark})) || ${mark} end`;
}

const CALL_RECORD_PAGE = 5000;

async function contractEvents(database: Database, contractCode: string): Promise<{ type: string; data: unknown }[]> {
  const { rows } = await sql<{ type: string; data: unknown }>`
    select type, data from ${sql.table(CONTRACT_TABLES.events)} where contract_code = ${contractCode} order by revision`.execute(database.db);
  return rows;
}

/** The contract's state folded from its projected events (undefined when never opened). */
export async function projectedContractState(database: Database, contractCode: string): Promise<OpenContractState | undefined> {
  const state: ContractState = foldContract(await contractEvents(database, contractCode));
  return state.status === 'open' ? state : undefined;
}

export function monthChargesOf(
  contractCode: string,
  month: Month,
  rows: readonly { number: string; category: Category; normal: string; billed: string; calls: number | string }[],
): MonthCharges {
  const byNumber = new Map<string, { normal: Amounts; billed: Amounts; calls: number }>();
  const normal = zeroAmounts();
  const billed = zeroAmounts();
  for (const r of rows) {
    if (!(CATEGORIES as readonly string[]).includes(r.category)) continue;
    let n = byNumber.get(r.number);
    if (!n) byNumber.set(r.number, (n = { normal: zeroAmounts(), billed: zeroAmounts(), calls: 0 }));
    const nm = Money.fromDb(r.normal);
    const bm = Money.fromDb(r.billed);
    n.normal[r.category] = n.normal[r.category].plus(nm);
    n.billed[r.category] = n.billed[r.category].plus(bm);
    n.calls += Number(r.calls);
    normal[r.category] = normal[r.category].plus(nm);
    billed[r.category] = billed[r.category].plus(bm);
  }
  const numbers: NumberCharges[] = [...byNumber.entries()].map(([number, n]) => ({
    number,
    normal: figuresOf(n.normal),
    billed: figuresOf(n.billed),
    calls: n.calls,
  }));
  return { contractCode, month, normal: figuresOf(normal), billed: figuresOf(billed), numbers };
}

// A page is found through proj_call_pages: the key of its first call, then an index seek from
// there for the page's calls, whatever the page's number (an OFFSET read every call before it).
// Parameters: contract, month, number, listing (ALL_CATEGORIES or the category), page.
// One round trip: the page, and the listing's count and amount (ご利用金額合計, SPEC §4), read
// from the monthly totals — one row per number × category, voided calls already out — so a large
// month is never counted or summed per request, and every page shows the whole listing's figures.
export function callPageStatement(byCategory: boolean): Statement {
  const categoryFilter = byCategory ? 'and category = $4' : '';
  return {
    name: `ledger_call_page_by_start${byCategory ? '_category' : ''}`,
    // Only the columns a page shows come back (fewer to decode per row).
    text: `with counted as (
      select coalesce(sum(calls), 0)::text as total_calls, coalesce(sum(normal), 0)::text as total_normal from ${CHARGE_TABLES.monthly}
      where contract_code = $1 and billing_month = $2 and number = $3 ${categoryFilter}
    ), first as (
      select started_at, call_id from ${CHARGE_TABLES.pages}
      where contract_code = $1 and billing_month = $2 and number = $3 and listing = $4 and page = $5
    ), page as (
      -- Lateral, so that the first call's key bounds the index scan (a join filter would read the
      -- listing from its start).
      select c.* from first cross join lateral (
        select * from ${CHARGE_TABLES.calls} c
        where c.contract_code = $1 and c.billing_month = $2 and c.attributed_number = $3 and not c.voided ${categoryFilter}
          and (c.started_at, c.call_id) >= (first.started_at, first.call_id)
        order by c.started_at, c.call_id
        limit ${CALL_PAGE_SIZE}
      ) c
    )
    select counted.total_calls, counted.total_normal, ${CALL_FIELDS_TEXT} from counted left join page on true
    order by page.started_at, page.call_id`,
  };
}

export function createQueries(database: Database, store?: EventStore): LedgerQueries {
  const db = database.db;
  const T = CHARGE_TABLES;

  /**
   * The portal's hot queries run as named prepared statements on PostgreSQL: planning them took
   * longer than executing them (measured 0.96 ms against 0.26 ms for a call-details page). Their
   * text is written once here ($1, $2, … for the values), not compiled by kysely per request.
   */
  async function prepared<R>(statement: Statement, values: readonly unknown[]): Promise<R[]> {
    if (database.pool) {
      const result = await database.pool.query({ name: statement.name, text: statement.text, values: values as unknown[] });
      return result.rows as R[];
    }
    return (await db.executeQuery<R>(CompiledQuery.raw(statement.text, values as unknown[]))).rows;
  }

  const monthStatement: Statement = {
    name: 'ledger_month_charges',
    text: `select number, category, normal::text as normal, billed::text as billed, calls
      from ${T.monthly} where contract_code = $1 and billing_month = $2
      order by number, category`,
  };

  async function monthCharges(contractCode: string, month: Month): Promise<MonthCharges> {
    const rows = await prepared<{ number: string; category: Category; normal: string; billed: string; calls: number | string }>(monthStatement, [contractCode, month]);
    return monthChargesOf(contractCode, month, rows);
  }

  // The portal's summary needs no figures per number: PostgreSQL adds them up (numeric, exact), and
  // a contract with many numbers still answers with at most four rows a month. The month's
  // telegrams (電報明細's total) come in the same round trip, as one more row a month.
  const totalsStatement: Statement = {
    name: 'ledger_months_totals',
    text: `select billing_month, category, sum(normal)::text as normal, sum(billed)::text as billed
      from ${T.monthly} where contract_code = $1 and billing_month = any($2::text[])
      group by billing_month, category
      union all
      select month, '${TELEGRAMS_ROW}', sum(charge)::text, sum(charge)::text
      from ${TELEGRAM_TABLES.telegrams} where contract_code = $1 and month = any($2::text[])
      group by month`,
  };

  async function monthsTotals(contractCode: string, months: readonly Month[]): Promise<MonthSummary[]> {
    const rows = await prepared<{ billing_month: string; category: string; normal: string; billed: string }>(totalsStatement, [contractCode, [...months]]);
    return months.map((month) => {
      const normal = zeroAmounts();
      const billed = zeroAmounts();
      let telegrams = Money.zero;
      for (const r of rows) {
        if (r.billing_month !== month) continue;
        if (r.category === TELEGRAMS_ROW) telegrams = Money.fromDb(r.normal);
        else if ((CATEGORIES as readonly string[]).includes(r.category)) {
          normal[r.category as Category] = Money.fromDb(r.normal);
          billed[r.category as Category] = Money.fromDb(r.billed);
        }
      }
      return { contractCode, month, normal: figuresOf(normal), billed: figuresOf(billed), telegrams };
    });
  }

  const callPageStatements = [callPageStatement(false), callPageStatement(true)] as const;

  async function callDetails(contractCode: string, month: Month, number: string, category: Category | undefined, page: number): Promise<CallDetailPage> {
    const p = Math.max(1, Math.floor(page));
    const offset = (p - 1) * CALL_PAGE_SIZE;
    const statement = callPageStatements[category ? 1 : 0];
    const rows = await prepared<CallFields & { total_calls: string; total_normal: string }>(statement, [contractCode, month, number, category ?? ALL_CATEGORIES, p]);
    const found = rows.filter((r) => r.call_id !== null);
    const items = found.map((r, i) => toCallDetail(r, number, offset + i + 1));
    const counted = rows[0];
    return { items, page: p, pageSize: CALL_PAGE_SIZE, total: Number(counted?.total_calls ?? 0), sum: counted ? Money.fromDb(counted.total_normal) : Money.zero };
  }

  async function* allCalls(contractCode: string, month: Month): AsyncIterable<CallDetail> {
    // Keyset paging in start order: flat memory on a large month.
    let after: { startedAt: string; callId: string } | undefined;
    let seq = 0;
    for (;;) {
      const keyset = after ? sql`and (started_at, call_id) > (${after.startedAt}::bigint, ${after.callId}::uuid)` : sql``;
      const { rows } = await sql<CallRow>`
        select ${CALL_COLUMNS} from ${sql.table(T.calls)}
        where contract_code = ${contractCode} and billing_month = ${month} and not voided ${keyset}
        order by ${sql.table(T.calls)}.started_at, ${sql.table(T.calls)}.call_id limit 2000`.execute(db);
      for (const r of rows) yield toCallDetail(r, r.attributed_number, ++seq);
      if (rows.length < 2000) return;
      const last = rows[rows.length - 1]!;
      after = { startedAt: last.started_at, callId: last.call_id };
    }
  }

  /**
   * PostgreSQL: one COPY in start order (one snapshot, no paging), cut into chunks of whole lines.
   * Plain index scans are off for it: calls are stored in the order they arrive, not in start
   * order, so an index scan in start order reads the table at random — 5.2 s for a month of 1M
   * calls against 2.4–2.8 s for a bitmap or sequential scan and a sort (measured, PostgreSQL 15).
   */
  async function* callRecordsByCopy(pool: pg.Pool, contractCode: string, month: Month): AsyncIterable<CallRecordChunk> {
    const client = await pool.connect();
    let finished = false;
    try {
      await client.query('begin read only');
      await client.query('set local enable_indexscan = off');
      // COPY takes no parameters: the two values are quoted as literals.
      const stream = client.query(
        copyTo(`copy (select ${CALL_RECORD_FIELDS} from ${T.calls}
          where contract_code = ${client.escapeLiteral(contractCode)} and billing_month = ${client.escapeLiteral(month)} and not voided
          order by started_at, call_id) to stdout with (delimiter ',')`),
      );
      // Cut after an LF (never a byte inside a UTF-8 sequence); the line begun at the end of one
      // piece is completed with the start of the next.
      let rest: Buffer | undefined;
      for await (const data of stream as AsyncIterable<Buffer>) {
        const end = data.lastIndexOf(0x0a) + 1;
        if (end === 0) {
          rest = rest ? Buffer.concat([rest, data]) : data;
          continue;
        }
        let from = 0;
        if (rest) {
          from = data.indexOf(0x0a) + 1;
          yield { copyText: Buffer.concat([rest, data.subarray(0, from)]).toString('utf8') };
        }
        for (const [a, b] of linesInBlocks(data, from, end)) yield { copyText: data.toString('utf8', a, b) };
        rest = end < data.length ? data.subarray(end) : undefined;
      }
      if (rest) throw new Error('COPY ended inside a line');
      await client.query('commit');
      finished = true;
    } finally {
      // Stopped early (the consumer failed): the connection is mid-COPY, so it is closed, not reused.
      client.release(finished ? undefined : true);
    }
  }

  /** PGlite (no COPY to the client): keyset paging in start order. */
  async function* callRecordsByPage(contractCode: string, month: Month): AsyncIterable<CallRecordChunk> {
    let after: { startedAt: string; callId: string } | undefined;
    for (;;) {
      const keyset = after ? sql`and (started_at, call_id) > (${after.startedAt}::bigint, ${after.callId}::uuid)` : sql``;
      const { rows } = await sql<{ fields: (string | null)[]; started_at: string; call_id: string }>`
        select array[${sql.raw(CALL_RECORD_FIELDS)}] as fields, started_at::text as started_at, call_id::text as call_id
        from ${sql.table(T.calls)}
        where contract_code = ${contractCode} and billing_month = ${month} and not voided ${keyset}
        order by ${sql.table(T.calls)}.started_at, ${sql.table(T.calls)}.call_id limit ${sql.lit(CALL_RECORD_PAGE)}`.execute(db);
      if (rows.length > 0) yield { records: rows.map((r) => r.fields.map((f) => f ?? nullField())) };
      if (rows.length < CALL_RECORD_PAGE) return;
      const last = rows[rows.length - 1]!;
      after = { startedAt: last.started_at, callId: last.call_id };
    }
  }

  function callRecords(contractCode: string, month: Month): AsyncIterable<CallRecordChunk> {
    return database.pool ? callRecordsByCopy(database.pool, contractCode, month) : callRecordsByPage(contractCode, month);
  }

  return {
    async contractCodes() {
      const { rows } = await sql<{ contract_code: string }>`
        select distinct contract_code from ${sql.table(CONTRACT_TABLES.events)} where type = 'ContractOpened' order by contract_code`.execute(db);
      return rows.map((r) => r.contract_code);
    },

    async contractExists(contractCode) {
      const { rows } = await sql<{ one: number }>`
        select 1 as one from ${sql.table(CONTRACT_TABLES.events)} where contract_code = ${contractCode} and type = 'ContractOpened' limit 1`.execute(db);
      return rows.length > 0;
    },

    async contract(contractCode, asOf) {
      const state = await projectedContractState(database, contractCode);
      if (!state) return undefined;
      const summary = contractSummary(state, asOf);
      if (!summary) return undefined;
      const options = Object.fromEntries(
        OPTION_KEYS.map((k) => {
          const o = summary.options[k];
          const view: ContractOptionView = {
            subscribed: o.subscribed,
            ...(o.effectiveFrom !== undefined ? { effectiveFrom: o.effectiveFrom } : {}),
            ...(o.representativeNumber !== undefined ? { representativeNumber: o.representativeNumber } : {}),
            ...(o.freecallNumbers !== undefined ? { freecallNumbers: [...o.freecallNumbers] } : {}),
          };
          return [k, view];
        }),
      ) as Record<OptionKey, ContractOptionView>;
      const view: ContractView = {
        contractCode: summary.contractCode,
        selfId: summary.selfId,
        startDate: summary.startDate,
        channels: summary.channels,
        connectionType: summary.connectionType,
        primaryDns: summary.primaryDns,
        secondaryDns: summary.secondaryDns,
        basicNumber: state.basicNumber,
        numberCount: summary.numberCount,
        dialInNumberCount: summary.dialInNumberCount,
        options,
      };
      return view;
    },

    async contractNumbers(contractCode, asOf, page, size) {
      const state = await projectedContractState(database, contractCode);
      if (!state) return { items: [], total: 0 };
      const all = dialInLinesOn(state, asOf);
      const s = Math.max(1, Math.floor(size));
      const p = Math.max(1, Math.floor(page));
      return { items: all.slice((p - 1) * s, p * s), total: all.length };
    },

    monthCharges,
    monthsTotals,
    callDetails,
    allCalls,
    callRecords,

    async telegrams(contractCode, month) {
      const { rows } = await sql<{ telegram_id: string; receipt_number: string | null; date: string; destination: string; kind: string; charge: string; carried_from: string | null }>`
        select telegram_id, receipt_number, date, destination, kind, charge::text as charge, carried_from from ${sql.table(TELEGRAM_TABLES.telegrams)}
        where contract_code = ${contractCode} and month = ${month} order by date, position`.execute(db);
      return rows.map(
        (r): Telegram => ({
          telegramId: r.telegram_id,
          receiptNumber: r.receipt_number,
          date: r.date,
          destination: r.destination,
          kind: r.kind,
          charge: Money.fromDb(r.charge),
          adjustment: r.carried_from === null ? null : { kind: 'late', month: r.carried_from },
        }),
      );
    },

    async status() {
      const head = store ? await store.headPosition() : undefined;
      const { rows } = await sql<{ name: string; position: string }>`
        select name, position::text as position from projection_checkpoints`.execute(db);
      const stored = new Map(rows.map((r) => [r.name, BigInt(r.position)]));
      const stalls = await readStalls(db);
      const out: Record<string, ProjectionStatus> = {};
      for (const p of projections) {
        const position = stored.get(p.name) ?? 0n;
        const stalled = stalls.get(p.name);
        out[p.name] = { position: position.toString(), lag: head !== undefined && head > position ? Number(head - position) : 0, ...(stalled ? { stalled } : {}) };
      }
      return out;
    },
  };
}

/**
 * Text per chunk of COPY bytes: at most about 32 KB (a string under V8's large-object size, so
 * that it goes to the young generation already allocated, not to a space of its own).
 */
const COPY_BLOCK = 32 * 1024;

/** [from, to) ranges of whole lines of data[from, end), each about COPY_BLOCK bytes. */
function* linesInBlocks(data: Buffer, from: number, end: number): Iterable<[number, number]> {
  while (from < end) {
    let to = end;
    if (end - from > COPY_BLOCK) {
      to = data.lastIndexOf(0x0a, from + COPY_BLOCK - 1) + 1;
      if (to <= from) to = data.indexOf(0x0a, from + COPY_BLOCK) + 1;
    }
    yield [from, to];
    from = to;
  }
}

function nullField(): never {
  throw new Error(CALL_WITHOUT_DURATION);
}

/** 契約電話番号詳細 as of a date: the dial-in lines held then, in start order, with their end dates. */
function dialInLinesOn(state: OpenContractState, date: JapanDate): ContractNumber[] {
  const on = date < state.startDate ? state.startDate : date;
  return state.holdings
    .filter((h) => h.kind === 'dialIn' && h.from <= on && (h.to === null || on <= h.to))
    .sort((a, b) => (a.from < b.from ? -1 : a.from > b.from ? 1 : a.number < b.number ? -1 : a.number > b.number ? 1 : 0))
    .map((h) => ({ basicNumber: state.basicNumber, dialInNumber: h.number, auMobileNumber: h.auMobileNumber ?? '', startDate: h.from, endDate: h.to }));
}
