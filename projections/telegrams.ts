// Telegram details (電報明細): listed per month, never part of the call totals (SPEC §3.5).
import { sql, type Kysely, type Transaction } from 'kysely';
import type { MonthClosed, TelegramReceiptNumbered } from '../domain/events.ts';
import { carryingMonthOf } from '../domain/billing.ts';
import { Money } from '../domain/money.ts';
import { upcastTelegramRecorded } from '../domain/upcasters.ts';
import type { RecordedEvent } from '../eventstore/port.ts';
import { beforeFirstClose, createClosesTable } from './charges.ts';
import type { Executor, Projection } from './framework.ts';

export const TELEGRAM_TABLES = { telegrams: 'proj_telegrams', closes: 'proj_telegram_closes' } as const;

const t = (name: string, suffix: string) => sql.table(name + suffix);

async function createTables(db: Executor, s: string): Promise<void> {
  // receipt_number: 受付番号, null for a telegram stored before receipt numbers until a file names it.
  await sql`
    create table ${t(TELEGRAM_TABLES.telegrams, s)} (
      telegram_id text primary key,
      position bigint not null,
      contract_code text not null,
      month text not null,
      date text not null,
      destination text not null,
      kind text not null,
      charge numeric not null,
      receipt_number text,
      carried_from text
    )`.execute(db);
  await sql`create index on ${t(TELEGRAM_TABLES.telegrams, s)} (contract_code, month, date)`.execute(db);
  // Closed months (SPEC §4.1): a telegram recorded after its month closed is listed in the next open month.
  await createClosesTable(db, TELEGRAM_TABLES.closes + s);
}

async function apply(trx: Transaction<any>, events: readonly RecordedEvent[], ctx: { suffix: string }): Promise<void> {
  // The closes stored, then this batch's own in log order: a telegram sees those before it.
  const codes = [...new Set(events.map((e) => (e.data as { contractCode?: string }).contractCode).filter((c): c is string => typeof c === 'string'))];
  const closes = new Map<string, Map<string, bigint>>();
  if (codes.length > 0) {
    const { rows } = await sql<{ contract_code: string; month: string; position: string }>`
      select contract_code, month, position::text as position from ${t(TELEGRAM_TABLES.closes, ctx.suffix)}
      where contract_code = any(${codes}::text[])`.execute(trx);
    for (const r of rows) closesFor(closes, r.contract_code).set(r.month, BigInt(r.position));
  }
  const closed: { contract_code: string; month: string; position: string }[] = [];
  const rows = events
    .filter((e) => {
      if (e.type !== 'MonthClosed') return e.type === 'TelegramRecorded';
      const d = e.data as MonthClosed['data'];
      const own = closesFor(closes, d.contractCode);
      if (!own.has(d.month)) {
        own.set(d.month, e.position);
        closed.push({ contract_code: d.contractCode, month: d.month, position: e.position.toString() });
      }
      return false;
    })
    .map((e) => {
      const d = upcastTelegramRecorded(e.data);
      const month = carryingMonthOf(d.month, e.position, closesFor(closes, d.contractCode));
      return {
        telegram_id: d.telegramId,
        position: e.position.toString(),
        contract_code: d.contractCode,
        month,
        carried_from: month === d.month ? null : d.month,
        date: d.date,
        destination: d.destination,
        kind: d.kind,
        charge: Money.fromEvent(d.charge).toString(),
        receipt_number: d.receiptNumber,
      };
    });
  if (closed.length > 0) {
    await sql`
      insert into ${t(TELEGRAM_TABLES.closes, ctx.suffix)} (contract_code, month, position)
      select x.contract_code, x.month, x.position::bigint
      from jsonb_to_recordset(${JSON.stringify(closed)}::jsonb) as x(contract_code text, month text, position text)
      on conflict do nothing`.execute(trx);
  }
  if (rows.length > 0) {
    await sql`
      insert into ${t(TELEGRAM_TABLES.telegrams, ctx.suffix)} (telegram_id, position, contract_code, month, date, destination, kind, charge, receipt_number, carried_from)
      select x.telegram_id, x.position::bigint, x.contract_code, x.month, x.date, x.destination, x.kind, x.charge::numeric, x.receipt_number, x.carried_from
      from jsonb_to_recordset(${JSON.stringify(rows)}::jsonb) as x(telegram_id text, position text, contract_code text, month text,
        date text, destination text, kind text, charge text, receipt_number text, carried_from text)
      on conflict do nothing`.execute(trx);
  }
  // A receipt number given later to a telegram stored without one (always after it, in its stream).
  const numbered = events
    .filter((e) => e.type === 'TelegramReceiptNumbered')
    .map((e) => {
      const d = e.data as TelegramReceiptNumbered['data'];
      return { telegram_id: d.telegramId, receipt_number: d.receiptNumber };
    });
  if (numbered.length > 0) {
    await sql`
      update ${t(TELEGRAM_TABLES.telegrams, ctx.suffix)} g set receipt_number = x.receipt_number
      from jsonb_to_recordset(${JSON.stringify(numbered)}::jsonb) as x(telegram_id text, receipt_number text)
      where g.telegram_id = x.telegram_id`.execute(trx);
  }
}

function closesFor(all: Map<string, Map<string, bigint>>, contractCode: string): Map<string, bigint> {
  let own = all.get(contractCode);
  if (!own) all.set(contractCode, (own = new Map()));
  return own;
}

/** The set-based rebuild (Projection.bulkRebuild): the same rows as `apply`, straight from the `events` table. */
async function bulkRebuild(db: Kysely<any>, s: string, upTo: bigint): Promise<number> {
  const result = await sql`
    insert into ${t(TELEGRAM_TABLES.telegrams, s)} (telegram_id, position, contract_code, month, date, destination, kind, charge, receipt_number)
    select e.data->>'telegramId', e.position, e.data->>'contractCode', e.data->>'month', e.data->>'date', e.data->>'destination',
      e.data->>'kind', round((e.data->>'charge')::numeric, 2), e.data->>'receiptNumber'
    from events e
    where e.position <= ${upTo.toString()}::bigint and e.type = 'TelegramRecorded' and e.stream_id like 'telegrams-%'
      and e.type <> 'CallRecorded' -- the condition of the index events_other_than_calls (projections/index.ts)
    on conflict do nothing`.execute(db);
  const numbered = await sql`
    update ${t(TELEGRAM_TABLES.telegrams, s)} g set receipt_number = e.data->>'receiptNumber'
    from events e
    where e.position <= ${upTo.toString()}::bigint and e.type = 'TelegramReceiptNumbered' and e.stream_id like 'telegrams-%'
      and e.type <> 'CallRecorded' -- the condition of the index events_other_than_calls
      and g.telegram_id = e.data->>'telegramId'`.execute(db);
  return Number(result.numAffectedRows ?? 0n) + Number(numbered.numAffectedRows ?? 0n);
}

export const telegramsProjection: Projection = {
  name: 'telegrams',
  // 2: closed months (carried_from, proj_telegram_closes)
  version: 2,
  handles: ['TelegramRecorded', 'TelegramReceiptNumbered', 'MonthClosed'],
  streamPrefixes: ['telegrams-', 'billing-'],
  tables: [TELEGRAM_TABLES.telegrams, TELEGRAM_TABLES.closes],
  createTables,
  apply,
  bulkLimit: beforeFirstClose,
  bulkRebuild,
};
