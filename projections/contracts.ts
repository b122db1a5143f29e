// The contract view: the contract's events, kept per contract in stream order. Every question the
// portal asks is "as of a date" (numbers and options are effective-dated and may change in the
// past), so the view folds these few events through the contract decider at query time rather
// than storing one frozen answer.
import { sql, type Kysely, type Transaction } from 'kysely';
import type { RecordedEvent } from '../eventstore/port.ts';
import { CONTRACT_EVENT_TYPES } from './attribution.ts';
import type { Executor, Projection } from './framework.ts';

export const CONTRACT_TABLES = { events: 'proj_contract_events' } as const;

const t = (name: string, suffix: string) => sql.table(name + suffix);

async function createTables(db: Executor, s: string): Promise<void> {
  await sql`
    create table ${t(CONTRACT_TABLES.events, s)} (
      contract_code text not null,
      revision integer not null,
      position bigint not null,
      type text not null,
      data jsonb not null,
      primary key (contract_code, revision)
    )`.execute(db);
}

async function apply(trx: Transaction<any>, events: readonly RecordedEvent[], ctx: { suffix: string }): Promise<void> {
  const rows = events.map((e) => ({
    contract_code: (e.data as { contractCode: string }).contractCode,
    revision: e.revision,
    position: e.position.toString(),
    type: e.type,
    data: e.data,
  }));
  await sql`
    insert into ${t(CONTRACT_TABLES.events, ctx.suffix)} (contract_code, revision, position, type, data)
    select x.contract_code, x.revision, x.position::bigint, x.type, x.data
    from jsonb_to_recordset(${JSON.stringify(rows)}::jsonb) as x(contract_code text, revision integer, position text, type text, data jsonb)
    on conflict do nothing`.execute(trx);
}

/** The set-based rebuild (Projection.bulkRebuild): the same rows as `apply`, straight from the `events` table. */
async function bulkRebuild(db: Kysely<any>, s: string, upTo: bigint): Promise<number> {
  const result = await sql`
    insert into ${t(CONTRACT_TABLES.events, s)} (contract_code, revision, position, type, data)
    select e.data->>'contractCode', e.revision, e.position, e.type, e.data
    from events e
    where e.position <= ${upTo.toString()}::bigint and e.type = any(${[...CONTRACT_EVENT_TYPES]}::text[]) and e.stream_id like 'contract-%'
      and e.type <> 'CallRecorded' -- the condition of the index events_other_than_calls (projections/index.ts)
    on conflict do nothing`.execute(db);
  return Number(result.numAffectedRows ?? 0n);
}

export const contractsProjection: Projection = {
  name: 'contracts',
  version: 1,
  handles: CONTRACT_EVENT_TYPES,
  streamPrefixes: ['contract-'],
  tables: [CONTRACT_TABLES.events],
  createTables,
  apply,
  bulkRebuild,
};
