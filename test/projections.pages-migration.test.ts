// A store written before the call-details page index (proj_call_pages) existed opens with its pages
// drawn from the calls it has, the same as the live path and a rebuild draw them, and no rebuild.
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrate } from '../eventstore/database.ts';
import { createProjectionRunner, projectionMigrations } from '../projections/index.ts';
import { createQueries } from '../projections/queries.ts';
import { appendCalls, appendContract, appendVoid, contractOpened, numberAdded, representativeSubscribed, type CallSpec } from './support/ledger-events.ts';
import { testTargets, type TestDatabase } from './support/stores.ts';

const OFFICE = '0312345678';
const BRANCH = '0312345679';
const REP = '0399990000';

function calls(count: number, day: number): CallSpec[] {
  return Array.from({ length: count }, (_, k) => ({
    usingNumber: k % 3 === 0 ? BRANCH : OFFICE,
    startDate: `2017/11/${String(day + (k % 9)).padStart(2, '0')}`,
    startTime: `${String(10 + (k % 12)).padStart(2, '0')}${String(k % 60).padStart(2, '0')}00.0`,
    callType: k % 4 === 0 ? '携帯呼' : '国内呼',
    charge: k % 4 === 0 ? '16.00' : '8.00',
  }));
}

describe.each(testTargets)('the page index of a store made before it, on $name', (target) => {
  let t: TestDatabase;
  beforeAll(async () => {
    t = await target.open([projectionMigrations]);
  });
  afterAll(async () => {
    await t?.cleanup();
  });

  const pages = async () =>
    (await sql`select contract_code, billing_month, number, listing, page, started_at::text, call_id::text from proj_call_pages order by 1, 2, 3, 4, 5`.execute(t.database.db)).rows;
  const categoryIndexes = async () =>
    (await sql<{ def: string }>`select indexdef as def from pg_indexes where schemaname = current_schema() and tablename = 'proj_call_details' and indexdef like '%category, started_at%'`.execute(t.database.db)).rows;

  it('is drawn by migration 0104 from the projected calls, as the live path drew it; pages keep being kept after', async () => {
    const code = 'd200000001';
    await appendContract(t.store, code, contractOpened(code, '0120222333'), numberAdded(code, OFFICE), numberAdded(code, BRANCH), representativeSubscribed(code, REP, '2017-11-05'));
    const recorded = await appendCalls(t.store, code, calls(57, 1));
    await appendVoid(t.store, recorded[20]!);
    const runner = createProjectionRunner(t.database, t.store, { batchSize: 7 });
    await runner.catchUp();
    const live = await pages();
    expect(live.length).toBeGreaterThan(10);

    // The store as the commit before left it: no page table, no category index, 0104 not applied.
    await sql`drop table proj_call_pages`.execute(t.database.db);
    for (const { def } of await categoryIndexes()) {
      const name = /^CREATE INDEX (\S+) ON/.exec(def)![1]!;
      await sql`drop index ${sql.raw(name)}`.execute(t.database.db);
    }
    await sql`delete from ledger_migrations where name = '0104-projections-call-pages'`.execute(t.database.db);

    await migrate(t.database, projectionMigrations);
    expect(await pages()).toEqual(live);
    expect(await categoryIndexes()).toHaveLength(1);
    const before = await runner.checkpoint('charges');

    // Then the live path carries on from what the migration drew, and a rebuild agrees.
    await appendCalls(t.store, code, calls(23, 3));
    await runner.catchUp();
    const after = await pages();
    await runner.rebuild(['charges']);
    expect(await pages()).toEqual(after);
    expect(before?.version).toBe((await runner.checkpoint('charges'))?.version);
    const queries = createQueries(t.database, t.store);
    const first = await queries.callDetails(code, '2017-11', REP, undefined, 1);
    expect(first.items).toHaveLength(10);
  });
});
