// The billing engineers' time machine (SPEC §4.1): closed months that never change, late data
// carried into the next open month, as-of figures and diffs — on both stores.
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeMonth } from '../domain/billing-service.ts';
import { streams } from '../domain/events.ts';
import { writeExport, type ExportKind } from '../importers/csv-export.ts';
import { closeMonths } from '../importers/month-close.ts';
import { auditFigure, diffMonth, engineerCharges, engineerChargesAsOf, verifyMonth } from '../projections/engineering.ts';
import type { ProjectionRunner } from '../projections/framework.ts';
import { createProjectionRunner, projectionMigrations } from '../projections/index.ts';
import { createQueries } from '../projections/queries.ts';
import type { LedgerQueries } from '../projections/read-model.ts';
import {
  appendCalls,
  appendContract,
  appendCorrection,
  appendVoid,
  contractOpened,
  event,
  numberAdded,
  representativeSubscribed,
} from './support/ledger-events.ts';
import { testTargets, type TestDatabase } from './support/stores.ts';

const BASIC = '0120222333';
const OFFICE = '0312345678';
const BRANCH = '0312345679';
const REP = '0399990000';

let contractSeq = 300000000;
const nextContract = () => `d${++contractSeq}`;
const CLOSED_AT = '2017-12-05T10:00:00+09:00';

/** A moment strictly between two appends: the store's visibility stamps have millisecond steps. */
async function pause(): Promise<Date> {
  await new Promise((r) => setTimeout(r, 15));
  const at = new Date();
  await new Promise((r) => setTimeout(r, 15));
  return at;
}

async function csvOf(kind: ExportKind, queries: LedgerQueries, code: string, month: string): Promise<Buffer> {
  const out = new PassThrough();
  const parts: Buffer[] = [];
  out.on('data', (b: Buffer) => parts.push(b));
  await writeExport(kind, queries, code, month, 'sjis', out);
  out.end();
  return Buffer.concat(parts);
}

for (const target of testTargets) {
  describe(`the time machine on ${target.name}`, () => {
    let t: TestDatabase;
    let runner: ProjectionRunner;
    let queries: LedgerQueries;

    beforeAll(async () => {
      t = await target.open([projectionMigrations]);
      runner = createProjectionRunner(t.database, t.store, { batchSize: 50 });
      queries = createQueries(t.database, t.store);
    });
    afterAll(async () => {
      await t?.cleanup();
    });

    async function newContract(): Promise<string> {
      const code = nextContract();
      await appendContract(t.store, code, contractOpened(code, BASIC), numberAdded(code, OFFICE), numberAdded(code, BRANCH));
      return code;
    }
    const close = (code: string, month: string, now = CLOSED_AT) => closeMonth(t.store, { type: 'CloseMonth', contractCode: code, month, now });
    const totals = async (code: string, month: string) => {
      await runner.catchUp();
      return engineerCharges(queries, code, month);
    };
    const verified = async (code: string, month: string) => {
      await runner.catchUp();
      return verifyMonth({ database: t.database, store: t.store, queries }, code, month);
    };
    const rebuilt = async (code: string, months: string[]) => {
      const before = await Promise.all(months.map((m) => totals(code, m)));
      await runner.rebuild();
      const after = await Promise.all(months.map((m) => engineerCharges(queries, code, m)));
      return { before, after };
    };

    describe('a month closed, then a late call, a correction and a void for it', () => {
      let code: string;
      let files: Record<ExportKind, Buffer>;
      const late = { usingNumber: OFFICE, startDate: '2017/11/20', startTime: '100000.0', charge: '30.00' };

      beforeAll(async () => {
        code = await newContract();
        const calls = await appendCalls(t.store, code, [
          { usingNumber: OFFICE, startDate: '2017/11/01', startTime: '090000.0', charge: '8.00' },
          { usingNumber: OFFICE, startDate: '2017/11/02', startTime: '090000.0', charge: '16.00' },
          { usingNumber: BRANCH, startDate: '2017/11/03', startTime: '090000.0', charge: '40.00', callType: '携帯呼' },
          { usingNumber: OFFICE, startDate: '2017/12/01', startTime: '090000.0', charge: '5.00' },
        ]);
        // Before the close: an ordinary correction, in place.
        await appendCorrection(t.store, calls[1]!, '12.00');
        await runner.catchUp();
        await close(code, '2017-11');
        await runner.catchUp();
        files = { numbers: await csvOf('numbers', queries, code, '2017-11'), calls: await csvOf('calls', queries, code, '2017-11') };
        // After the close: a late call, a correction and a void of November's calls.
        await appendCalls(t.store, code, [late]);
        await appendCorrection(t.store, calls[0]!, '10.00', 'carrier re-rated');
        await appendVoid(t.store, calls[2]!);
        await runner.catchUp();
      });

      it('leaves the closed month’s figures as billed', async () => {
        const nov = await totals(code, '2017-11');
        expect(nov.normal.total).toBe('60.00'); // 8 + 12 + 40
        expect(nov.normal.domestic).toBe('20.00');
        expect(nov.normal.otherMobile).toBe('40.00');
      });

      it('writes both CSV files of the closed month byte for byte as before', async () => {
        expect(await csvOf('numbers', queries, code, '2017-11')).toEqual(files.numbers);
        expect(await csvOf('calls', queries, code, '2017-11')).toEqual(files.calls);
      });

      it('carries the late call and the differences into the next open month (前月以前分の調整)', async () => {
        const dec = await totals(code, '2017-12');
        // 5.00 of December's own, + 30.00 late call, + 2.00 (8 → 10), − 40.00 (void)
        expect(dec.normal.total).toBe('-3.00');
        expect(dec.normal.domestic).toBe('37.00');
        expect(dec.normal.otherMobile).toBe('-40.00');
        const office = dec.numbers.find((n) => n.number === OFFICE)!;
        expect(office.calls).toBe(3);
        const listing = await queries.callDetails(code, '2017-12', OFFICE, 'domestic', 1);
        expect(listing.items.map((c) => c.charge.toString())).toEqual(['2.00', '30.00', '5.00']);
        expect(listing.sum.toString()).toBe('37.00');
      });

      it('verify recomputes every month exactly from the events, closes included', async () => {
        for (const month of ['2017-11', '2017-12']) expect(await verified(code, month)).toMatchObject({ ok: true, differences: [] });
      });

      it('audit of the carrying month lists the late events with their difference and ends at the figure', async () => {
        await runner.catchUp();
        const trail = await auditFigure({ store: t.store, queries }, code, '2017-12');
        expect(trail.matches).toBe(true);
        expect(trail.computed.normal).toBe('-3.00');
        const notes = trail.entries.filter((e) => e.note?.includes('前月以前分の調整'));
        expect(notes.map((e) => [e.type, e.normal])).toEqual([
          ['CallRecorded', '30.00'],
          ['CallCorrected', '2.00'],
          ['CallVoided', '-40.00'],
        ]);
        const nov = await auditFigure({ store: t.store, queries }, code, '2017-11');
        expect(nov.matches).toBe(true);
        expect(nov.computed.normal).toBe('60.00');
        expect(nov.entries.some((e) => e.type === 'MonthClosed')).toBe(true);
      });

      it('a rebuild gives the same figures, closes in the log', async () => {
        const { before, after } = await rebuilt(code, ['2017-11', '2017-12']);
        expect(after).toEqual(before);
        expect(await csvOf('calls', queries, code, '2017-11')).toEqual(files.calls);
      });

      it('a month closed twice is closed once; a month not yet ended is refused and nothing is stored', async () => {
        const again = await close(code, '2017-11');
        expect(again).toMatchObject({ closed: false, closedAt: CLOSED_AT });
        const billing = await t.store.readStream(streams.billing(code));
        expect(billing.filter((e) => e.type === 'MonthClosed')).toHaveLength(1);
        await expect(closeMonth(t.store, { type: 'CloseMonth', contractCode: code, month: '2017-12', now: '2017-12-31T23:59:59+09:00' })).rejects.toMatchObject({ code: 'MONTH_NOT_ENDED' });
        expect(await t.store.readStream(streams.billing(code))).toHaveLength(1);
      });
    });

    describe('a carrying month closed in turn', () => {
      it('carries a later correction further, to the first month still open', async () => {
        const code = await newContract();
        const [call] = await appendCalls(t.store, code, [{ usingNumber: OFFICE, startDate: '2017/11/01', startTime: '090000.0', charge: '8.00' }]);
        await close(code, '2017-11');
        await appendCorrection(t.store, call!, '9.00');
        await close(code, '2017-12', '2018-01-05T10:00:00+09:00');
        await appendCorrection(t.store, call!, '12.50');
        expect((await totals(code, '2017-11')).normal.total).toBe('8.00');
        expect((await totals(code, '2017-12')).normal.total).toBe('1.00');
        expect((await totals(code, '2018-01')).normal.total).toBe('3.50');
        for (const m of ['2017-11', '2017-12', '2018-01']) expect((await verified(code, m)).ok).toBe(true);
        const { before, after } = await rebuilt(code, ['2017-11', '2017-12', '2018-01']);
        expect(after).toEqual(before);
      });
    });

    describe('a late representative-number change', () => {
      it('re-attributes the open months only', async () => {
        const code = await newContract();
        await appendCalls(t.store, code, [
          { usingNumber: OFFICE, startDate: '2017/11/10', startTime: '090000.0', charge: '8.00' },
          { usingNumber: OFFICE, startDate: '2017/12/10', startTime: '090000.0', charge: '9.00' },
        ]);
        await close(code, '2017-11');
        await t.store.append(streams.contract(code), [event(representativeSubscribed(code, REP, '2017-11-01'))], {});
        const nov = await totals(code, '2017-11');
        const dec = await totals(code, '2017-12');
        expect(nov.numbers.map((n) => n.number)).toEqual([OFFICE]);
        expect(dec.numbers.map((n) => n.number)).toEqual([REP]);
        for (const m of ['2017-11', '2017-12']) expect((await verified(code, m)).ok).toBe(true);
        const { before, after } = await rebuilt(code, ['2017-11', '2017-12']);
        expect(after).toEqual(before);
      });
    });

    describe('closing from the engineers’ operation', () => {
      it('closes all contracts, skipping those that started later; again, it changes nothing', async () => {
        const code = await newContract();
        const young = nextContract();
        await appendContract(t.store, young, contractOpened(young, '0120999888', '2018-02-01'));
        await runner.catchUp();
        const now = new Date('2018-03-01T00:00:00+09:00');
        const first = await closeMonths({ store: t.store, contractCodes: () => queries.contractCodes() }, '2017-11', { all: true }, now);
        expect(first.results.find((r) => r.contractCode === code)).toMatchObject({ closed: true, closedAt: '2018-03-01T00:00:00.000+09:00' });
        expect(first.skipped.map((s) => s.contractCode)).toContain(young);
        const again = await closeMonths({ store: t.store, contractCodes: () => queries.contractCodes() }, '2017-11', { all: true }, now);
        expect(again.results.every((r) => !r.closed)).toBe(true);
        await expect(closeMonths({ store: t.store, contractCodes: () => queries.contractCodes() }, '2018-03', { all: true }, now)).rejects.toMatchObject({ code: 'MONTH_NOT_ENDED' });
      });
    });

    describe('as-of and diff', () => {
      let code: string;
      let beforeAll_: Date;
      let afterCalls: Date;
      let afterCorrection: Date;
      let calls: Awaited<ReturnType<typeof appendCalls>>;

      beforeAll(async () => {
        code = await newContract();
        beforeAll_ = await pause();
        calls = await appendCalls(t.store, code, [
          { usingNumber: OFFICE, startDate: '2017/11/01', startTime: '090000.0', charge: '8.00' },
          { usingNumber: BRANCH, startDate: '2017/11/02', startTime: '090000.0', charge: '16.00' },
        ]);
        afterCalls = await pause();
        await appendCorrection(t.store, calls[0]!, '11.00', 'carrier re-rated');
        afterCorrection = await pause();
        await t.store.append(streams.contract(code), [event(representativeSubscribed(code, REP, '2017-11-01'))], {});
        await runner.catchUp();
      });

      it('before any event of the month: zeros and no numbers', async () => {
        const then = await engineerChargesAsOf({ store: t.store, queries }, code, '2017-11', beforeAll_);
        expect(then.normal.total).toBe('0.00');
        expect(then.numbers).toEqual([]);
      });

      it('between events: the figures as they stood', async () => {
        const a = await engineerChargesAsOf({ store: t.store, queries }, code, '2017-11', afterCalls);
        expect(a.normal.total).toBe('24.00');
        expect(a.numbers.map((n) => [n.number, n.normal.total])).toEqual([
          [OFFICE, '8.00'],
          [BRANCH, '16.00'],
        ]);
        const b = await engineerChargesAsOf({ store: t.store, queries }, code, '2017-11', afterCorrection);
        expect(b.normal.total).toBe('27.00');
        // The same from the projection's history (the projection has caught up past both instants).
        const fromProjection = await engineerChargesAsOf({ store: t.store, queries, database: t.database }, code, '2017-11', afterCorrection);
        expect(fromProjection).toEqual(b);
        expect(await engineerChargesAsOf({ store: t.store, queries, database: t.database }, code, '2017-11', afterCalls)).toEqual(a);
        const now = await engineerChargesAsOf({ store: t.store, queries }, code, '2017-11', new Date(Date.now() + 1000));
        const { asOf: _a, position: _p, ...same } = now;
        expect(same).toEqual(await engineerCharges(queries, code, '2017-11'));
      });

      it('diff names the figures that changed and the events that changed them', async () => {
        const d = await diffMonth({ store: t.store, queries }, code, '2017-11', afterCalls, new Date(Date.now() + 1000));
        const correction = d.events.find((e) => e.type === 'CallCorrected')!;
        expect(correction).toMatchObject({ callId: calls[0]!.data.callId, charge: { from: '8.00', to: '11.00' }, reason: 'carrier re-rated' });
        const moved = d.events.find((e) => e.type === 'OptionSubscribed')!;
        expect(moved.moved?.map((m) => [m.from, m.to]).sort()).toEqual([
          [OFFICE, REP],
          [BRANCH, REP],
        ]);
        expect(d.changed.map((c) => [c.number, c.category, c.normal.from, c.normal.to])).toEqual([
          [OFFICE, 'domestic', '8.00', '0.00'],
          [BRANCH, 'domestic', '16.00', '0.00'],
          [REP, 'domestic', '0.00', '27.00'],
        ].sort((x, y) => (x[0]! < y[0]! ? -1 : 1)));
        const none = await diffMonth({ store: t.store, queries }, code, '2017-11', afterCorrection, afterCorrection);
        expect(none.changed).toEqual([]);
        expect(none.events).toEqual([]);
      });
    });
  });
}
