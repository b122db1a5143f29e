// One poison amount must not stop billing (issue: a correction of 1,000,000,000,000.00 yen stalled
// the charges and telegrams projections for every contract). Every charge is bounded at the door;
// the totals columns hold any sum; a store written before both opens and projects what it holds.
import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { streams } from '../domain/events.ts';
import { migrate } from '../eventstore/database.ts';
import { importCorrections } from '../importers/corrections.ts';
import { importTelegrams } from '../importers/telegrams.ts';
import { ImportRejected } from '../importers/problems.ts';
import { engineerCharges, verifyMonth } from '../projections/engineering.ts';
import { createProjectionRunner, projectionMigrations } from '../projections/index.ts';
import { createQueries } from '../projections/queries.ts';
import { appendCalls, appendContract, contractOpened, event, numberAdded } from './support/ledger-events.ts';
import { testTargets, type TestDatabase } from './support/stores.ts';

const jsonl = (...lines: unknown[]) => Buffer.from(lines.map((l) => JSON.stringify(l)).join('\n') + '\n');

async function rejected(run: Promise<unknown>): Promise<ImportRejected> {
  const e = await run.then(() => undefined, (x: unknown) => x);
  expect(e).toBeInstanceOf(ImportRejected);
  return e as ImportRejected;
}

const AMOUNT_COLUMNS = [
  ['proj_call_details', 'recorded_charge'],
  ['proj_call_details', 'charge'],
  ['proj_call_details', 'billed'],
  ['proj_call_adjustments', 'charge'],
  ['proj_monthly_charges', 'normal'],
  ['proj_monthly_charges', 'billed'],
  ['proj_telegrams', 'charge'],
] as const;

for (const target of testTargets) {
  describe(`amounts beyond any bill (${target.name})`, () => {
    let t: TestDatabase;
    const A = 'd200000001';
    beforeAll(async () => {
      t = await target.open([projectionMigrations]);
      await appendContract(t.store, A, contractOpened(A, '0120000011'), numberAdded(A, '0320000001'));
    });
    afterAll(async () => {
      await t?.cleanup();
    });

    it('a correction above 9,999,999.99 yen is refused with FILE:LINE: charge, and nothing is stored', async () => {
      const [call] = await appendCalls(t.store, A, [{ usingNumber: '0320000001', startDate: '2017/11/01', startTime: '100000.0', charge: '8.00' }]);
      const before = await t.store.headPosition();
      const error = await rejected(
        importCorrections(
          t.store,
          jsonl({ callId: call!.data.callId, charge: '9999999.99', reason: 'the largest there may be' }, { callId: call!.data.callId, charge: '1000000000000.00', reason: 'typo' }, { callId: call!.data.callId, charge: '10000000', reason: 'one yen too many' }),
          { name: 'fix.jsonl' },
        ),
      );
      expect(error.lines()).toEqual([
        'fix.jsonl:2: charge: expected a charge of at most 9999999.99 yen, got "1000000000000.00"',
        'fix.jsonl:3: charge: expected a charge of at most 9999999.99 yen, got "10000000"',
      ]);
      expect(await t.store.headPosition()).toBe(before);
    });

    it('a telegram above 9,999,999.99 yen is refused with FILE:LINE: charge, and nothing is stored', async () => {
      const before = await t.store.headPosition();
      const error = await rejected(
        importTelegrams(t.store, jsonl({ contractCode: A, date: '2017-11-03', receiptNumber: 'R1', destination: '東京都千代田区', kind: '慶弔', charge: '10000000.00' }), { name: 't.jsonl' }),
      );
      expect(error.lines()).toEqual(['t.jsonl:1: charge: expected a charge of at most 9999999.99 yen, got "10000000.00"']);
      expect(await t.store.headPosition()).toBe(before);
    });

    it('every totals column holds any sum: numeric without a fixed precision', async () => {
      const { rows } = await sql<{ table_name: string; column_name: string; data_type: string; numeric_precision: number | null }>`
        select table_name, column_name, data_type, numeric_precision from information_schema.columns
        where table_schema = current_schema() and table_name like 'proj\\_%' and data_type = 'numeric'
        order by table_name, column_name`.execute(t.database.db);
      expect(rows.map((r) => [r.table_name, r.column_name]).sort()).toEqual(AMOUNT_COLUMNS.map(([a, b]) => [a, b]).sort());
      for (const r of rows) expect(r.numeric_precision).toBeNull();
    });
  });

  describe(`a store written before the bound, with numeric(14,2) totals and a poison correction (${target.name})`, () => {
    let t: TestDatabase;
    beforeAll(async () => {
      const before0105 = Object.fromEntries(Object.entries(projectionMigrations).filter(([name]) => name < '0105'));
      t = await target.open([before0105]);
      // The tables as the earlier version made them.
      for (const [table, column] of AMOUNT_COLUMNS) await sql`alter table ${sql.table(table)} alter column ${sql.ref(column)} type numeric(14,2)`.execute(t.database.db);
    });
    afterAll(async () => {
      await t?.cleanup();
    });

    it('stalled before migration 0105; after it, projects what it holds, and verify agrees', async () => {
      const [A, B] = ['d200000002', 'd200000003'];
      await appendContract(t.store, A, contractOpened(A, '0120000012'), numberAdded(A, '0320000002'));
      await appendContract(t.store, B, contractOpened(B, '0120000013'), numberAdded(B, '0320000003'));
      const [call] = await appendCalls(t.store, A, [{ usingNumber: '0320000002', startDate: '2017/11/01', startTime: '100000.0', charge: '8.00' }]);
      // As the earlier importer stored them: no bound.
      await t.store.append(streams.calls(A, '2017-11'), [event({ type: 'CallCorrected', data: { callId: call!.data.callId, charge: '1000000000000.00', reason: 'typo' } })]);
      const telegramId = randomUUID(); // and without a receipt number, as telegrams were then
      await t.store.append(streams.telegrams(A), [
        { id: telegramId, type: 'TelegramRecorded', data: { telegramId, contractCode: A, date: '2017-11-03', month: '2017-11', destination: '東京', kind: '慶弔', charge: '2000000000000.00' } },
      ]);
      await appendCalls(t.store, B, [{ usingNumber: '0320000003', startDate: '2017/11/02', startTime: '100000.0', charge: '30.00' }]);

      const queries = createQueries(t.database, t.store);
      await createProjectionRunner(t.database, t.store).catchUp();
      const stalled = await queries.status();
      expect(stalled.charges!.stalled?.error).toMatch(/numeric field overflow/);
      expect(stalled.telegrams!.stalled?.error).toMatch(/numeric field overflow/);
      expect((await engineerCharges(queries, B, '2017-11')).normal.total).toBe('0.00');

      await migrate(t.database, projectionMigrations);
      await createProjectionRunner(t.database, t.store).catchUp();
      const after = await queries.status();
      expect(after.charges!.stalled).toBeUndefined();
      expect(after.telegrams!.stalled).toBeUndefined();
      expect((await engineerCharges(queries, A, '2017-11')).normal.total).toBe('1000000000000.00');
      expect((await engineerCharges(queries, B, '2017-11')).normal.total).toBe('30.00');
      expect((await queries.telegrams(A, '2017-11')).map((x) => x.charge.toString())).toEqual(['2000000000000.00']);
      for (const code of [A, B]) expect(await verifyMonth({ database: t.database, store: t.store, queries }, code, '2017-11')).toMatchObject({ ok: true });
      // The call-detail export reads the charge as text: still two decimals.
      const details = await queries.callDetails(A, '2017-11', '0320000002', undefined, 1);
      expect(details.items.map((c) => c.charge.toString())).toEqual(['1000000000000.00']);
    });
  });
}
