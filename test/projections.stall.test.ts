// A projection that cannot apply an event stalls at it, alone and loudly (projections/framework.ts):
// the others go on, /health and `ledger status` name the event and the error, it is never skipped,
// and a rebuild says which event it could not take.
import { randomUUID } from 'node:crypto';
import { sql, type Transaction } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { streams, type TelegramRecorded } from '../domain/events.ts';
import { engineerCharges } from '../projections/engineering.ts';
import { ProjectionEventFailed, ProjectionRunner, type Projection } from '../projections/framework.ts';
import { projectionMigrations, projections } from '../projections/index.ts';
import { createQueries } from '../projections/queries.ts';
import type { LedgerQueries } from '../projections/read-model.ts';
import { appendCalls, appendContract, callRecorded, contractOpened, event, numberAdded } from './support/ledger-events.ts';
import { testTargets, type TestDatabase } from './support/stores.ts';
import { A as ContractA, json, openFixture, seedTwoContracts } from './api.support.ts';

const telegramOf = (contractCode: string, charge: string): TelegramRecorded => {
  const telegramId = randomUUID();
  return { type: 'TelegramRecorded', data: { telegramId, contractCode, date: '2017-11-03', month: '2017-11', receiptNumber: telegramId.slice(0, 8), destination: '東京都千代田区', kind: '慶弔', charge } };
};

for (const target of testTargets) {
  describe(`a projection fed an event it cannot apply (${target.name})`, () => {
    let t: TestDatabase;
    let queries: LedgerQueries;
    beforeAll(async () => {
      t = await target.open([projectionMigrations]);
      queries = createQueries(t.database, t.store);
    });
    afterAll(async () => {
      await t?.cleanup();
    });

    it('stalls alone and names the event; the others go on; it is never skipped; a rebuild names it too', async () => {
      const errors: [string, unknown][] = [];
      const runner = new ProjectionRunner(t.database, t.store, projections, { batchSize: 50, onError: (e, p) => errors.push([p, e]) });
      const [A, B] = ['d100000001', 'd100000002'];
      await appendContract(t.store, A, contractOpened(A, '0120000001'), numberAdded(A, '0310000001'));
      await appendContract(t.store, B, contractOpened(B, '0120000002'), numberAdded(B, '0310000002'));
      const [before] = await appendCalls(t.store, A, [{ usingNumber: '0310000001', startDate: '2017/11/01', startTime: '100000.0', charge: '8.00' }]);
      // Written by some earlier version, or by hand: a charge that is not an amount.
      const poison = callRecorded(A, { usingNumber: '0310000001', startDate: '2017/11/02', startTime: '100000.0', charge: '5.00' });
      const poisonData = { ...poison.data, charge: '5 yen', callId: randomUUID() };
      await t.store.append(streams.calls(A, '2017-11'), [event({ type: 'CallRecorded', data: poisonData }, poisonData.callId)]);
      const poisonEvent = (await t.store.findEvent(poisonData.callId))!;
      // After it: another contract's call, a telegram, a contract change.
      await appendCalls(t.store, B, [{ usingNumber: '0310000002', startDate: '2017/11/05', startTime: '100000.0', charge: '30.00' }]);
      await t.store.append(streams.telegrams(B), [event(telegramOf(B, '990.00'))]);
      await appendContract(t.store, B, numberAdded(B, '0310000003', '2017-11-20'));

      await runner.catchUp(); // does not throw
      await runner.catchUp(); // nor the next time, and does not report it again yet
      const status = await queries.status();
      expect(status.charges!.stalled).toMatchObject({
        projection: 'charges',
        position: poisonEvent.position.toString(),
        eventId: poisonData.callId,
        eventType: 'CallRecorded',
        streamId: `calls-${A}-2017-11`,
        error: expect.stringContaining('"5 yen"'),
      });
      // Stopped right below it: the call before it is counted, nothing after it is.
      expect(status.charges!.position).toBe((poisonEvent.position - 1n).toString());
      expect((await engineerCharges(queries, A, '2017-11')).normal.total).toBe(before!.data.charge);
      expect((await engineerCharges(queries, B, '2017-11')).normal.total).toBe('0.00');
      expect(status.telegrams!.stalled).toBeUndefined();
      expect(status.contracts!.stalled).toBeUndefined();
      expect(status.telegrams!.lag).toBe(0);
      expect((await queries.telegrams(B, '2017-11')).map((x) => x.charge.toString())).toEqual(['990.00']);
      expect((await queries.contract(B, '2017-11-30'))?.dialInNumberCount).toBe(2);
      expect(errors.map(([p, e]) => [p, (e as ProjectionEventFailed).code])).toEqual([['charges', 'PROJECTION_STALLED']]);

      // Another process (a CLI command) finds the stall recorded, tries once, and stops at the same event.
      const other = new ProjectionRunner(t.database, t.store, projections);
      await other.catchUp();
      expect((await other.stalls()).map((s) => s.eventId)).toEqual([poisonData.callId]);
      expect((await engineerCharges(queries, B, '2017-11')).normal.total).toBe('0.00');

      // A rebuild cannot take it either, says which event, and leaves the live tables as they were.
      const failure = await runner.rebuild(['charges']).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(failure).toBeInstanceOf(ProjectionEventFailed);
      expect((failure as ProjectionEventFailed).message).toContain(`event ${poisonData.callId} (CallRecorded at position ${poisonEvent.position}`);
      expect((await engineerCharges(queries, A, '2017-11')).normal.total).toBe(before!.data.charge);
      expect((await queries.status()).charges!.stalled?.eventId).toBe(poisonData.callId);
    });

    it('goes on past the event once it can apply it, and forgets the stall', async () => {
      let fussy = true;
      const C = 'd100000003';
      const table = `fussy_${randomUUID().slice(0, 8)}`;
      const picky: Projection = {
        name: table,
        version: 1,
        handles: ['TelegramRecorded'],
        streamPrefixes: ['telegrams-'],
        tables: [table],
        async createTables(db, s) {
          await sql`create table ${sql.table(table + s)} (id text primary key, charge numeric not null)`.execute(db);
        },
        async apply(trx: Transaction<any>, events, ctx) {
          for (const e of events) {
            const d = e.data as TelegramRecorded['data'];
            if (d.contractCode !== C) continue;
            if (fussy && d.kind === 'unknown kind') throw new Error(`no such kind: ${d.kind}`);
            await sql`insert into ${sql.table(table + ctx.suffix)} (id, charge) values (${e.id}, ${d.charge}::numeric) on conflict do nothing`.execute(trx);
          }
        },
      };
      await picky.createTables(t.database.db, '');
      const runner = new ProjectionRunner(t.database, t.store, [picky], { retryStalledAfterMs: 0 });
      const odd = { ...telegramOf(C, '1.00'), data: { ...telegramOf(C, '1.00').data, kind: 'unknown kind' } };
      await t.store.append(streams.telegrams(C), [event(telegramOf(C, '1.00')), event(odd), event(telegramOf(C, '2.00'))]);
      await runner.catchUp();
      const count = async () => (await sql<{ n: string }>`select count(*)::text as n from ${sql.table(table)}`.execute(t.database.db)).rows[0]!.n;
      expect(await count()).toBe('1');
      expect((await runner.status())[table]!.stalled?.error).toBe('no such kind: unknown kind');

      fussy = false; // the fix is deployed
      await runner.catchUp();
      expect(await count()).toBe('3');
      expect((await runner.status())[table]!.stalled).toBeUndefined();
      expect(await runner.stalls()).not.toContainEqual(expect.objectContaining({ projection: table }));
    });
  });
}

describe.each(testTargets)('GET /health with a stalled projection on $name', (target) => {
  it('is "degraded" and names the projection, the event (position, id) and the error; the others are not stalled', async () => {
    const f = await openFixture(target);
    try {
      await seedTwoContracts(f);
      const bad = { ...telegramOf(ContractA.code, '1.00'), data: { ...telegramOf(ContractA.code, '1.00').data, charge: 'free of charge' } };
      await f.db.store.append(streams.telegrams(ContractA.code), [event(bad, bad.data.telegramId)]);
      const stored = (await f.db.store.findEvent(bad.data.telegramId))!;
      await f.catchUp();
      const res = await f.request('GET', '/health');
      expect(res.status).toBe(200);
      const body = await json(res);
      expect(body.status).toBe('degraded');
      expect(body.projections.telegrams.stalled).toEqual({
        position: stored.position.toString(),
        eventId: bad.data.telegramId,
        eventType: 'TelegramRecorded',
        streamId: `telegrams-${ContractA.code}`,
        error: expect.stringContaining('"free of charge"'),
        since: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
      });
      expect(body.projections.charges.stalled).toBeUndefined();
      expect(body.projections.charges.lag).toBe(0);
    } finally {
      await f.close();
    }
  });
});
