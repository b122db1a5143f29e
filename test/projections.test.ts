import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { streams } from '../domain/events.ts';
import { auditFigure, engineerCharges, verifyMonth } from '../projections/engineering.ts';
import { ProjectionRunner, resetProjection, type Projection } from '../projections/framework.ts';
import { chargesProjection } from '../projections/charges.ts';
import { createProjectionRunner, projectionMigrations, projections } from '../projections/index.ts';
import { telegramsProjection } from '../projections/telegrams.ts';
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
  representativeCancelled,
  representativeSubscribed,
  type CallSpec,
} from './support/ledger-events.ts';
import { testTargets, type TestDatabase } from './support/stores.ts';

const BASIC = '0120222333';
const OFFICE = '0312345678';
const BRANCH = '0312345679';
const REP = '0399990000';

let contractSeq = 100000000;
const nextContract = () => `d${++contractSeq}`;

for (const target of testTargets) {
  describe(`projections on ${target.name}`, () => {
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

    async function newContract(...extra: Parameters<typeof appendContract>[2][]): Promise<string> {
      const code = nextContract();
      await appendContract(t.store, code, contractOpened(code, BASIC), numberAdded(code, OFFICE), numberAdded(code, BRANCH), ...extra);
      return code;
    }

    const totals = async (code: string, month: string) => {
      await runner.catchUp();
      return engineerCharges(queries, code, month);
    };

    describe('the billing month', () => {
      it('a call ending after midnight on the 31st is billed in the next month', async () => {
        const code = await newContract();
        await appendCalls(t.store, code, [{ usingNumber: OFFICE, startDate: '2017/10/31', startTime: '235950.0', duration: '000020.0', charge: '8.00' }]);
        expect((await totals(code, '2017-11')).normal.total).toBe('8.00');
        expect((await totals(code, '2017-10')).normal.total).toBe('0.00');
      });

      it('a call ending exactly at 00:00:00.0 on the 1st belongs to the new month', async () => {
        const code = await newContract();
        await appendCalls(t.store, code, [
          { usingNumber: OFFICE, startDate: '2017/11/30', startTime: '235959.0', duration: '000001.0', charge: '3.00' },
          { usingNumber: OFFICE, startDate: '2017/11/30', startTime: '235958.9', duration: '000001.0', charge: '5.00' },
        ]);
        expect((await totals(code, '2017-12')).normal.total).toBe('3.00');
        expect((await totals(code, '2017-11')).normal.total).toBe('5.00');
      });
    });

    describe('the manual’s November 2017', () => {
      it('adds up to 1,928.50: domestic 56.00, mobile/PHS 1,872.50, whole yen cut off in the summary', async () => {
        const code = await newContract();
        const domestic: CallSpec[] = Array.from({ length: 7 }, (_, i) => ({ usingNumber: OFFICE, startDate: '2017/11/01', startTime: `20${10 + i}21.5`, charge: '8.00' }));
        const mobile: CallSpec[] = [
          { usingNumber: OFFICE, startDate: '2017/11/02', startTime: '101010.0', callType: '携帯呼', charge: '500.00' },
          { usingNumber: OFFICE, startDate: '2017/11/02', startTime: '111010.0', callType: 'PHS', charge: '500.00' },
          { usingNumber: OFFICE, startDate: '2017/11/03', startTime: '101010.0', callType: '携帯呼(au)', charge: '872.50' },
        ];
        await appendCalls(t.store, code, [...domestic, ...mobile]);
        const charges = await totals(code, '2017-11');
        expect(charges.normal).toEqual({ total: '1928.50', domestic: '56.00', international: '0.00', mobile: '1872.50', au: '872.50', otherMobile: '1000.00' });
        expect(charges.numbers).toHaveLength(1);
        expect(charges.numbers[0]!.number).toBe(OFFICE);
        const m = await queries.monthCharges(code, '2017-11');
        expect([m.normal.total.toWholeYen(), m.normal.domestic.toWholeYen(), m.normal.international.toWholeYen(), m.normal.mobile.toWholeYen()]).toEqual(['1928', '56', '0', '1872']);
      });
    });

    describe('the representative number (拠点代表番号)', () => {
      it('shows and totals every call under the representative number while the option is in effect at the call’s start', async () => {
        const code = await newContract();
        await appendContract(t.store, code, representativeSubscribed(code, REP, '2017-11-10'));
        await appendCalls(t.store, code, [
          { usingNumber: OFFICE, startDate: '2017/11/09', startTime: '235900.0', duration: '000200.0', charge: '8.00' },
          { usingNumber: BRANCH, startDate: '2017/11/10', startTime: '000000.0', charge: '10.00' },
        ]);
        const charges = await totals(code, '2017-11');
        expect(charges.numbers.map((n) => [n.number, n.normal.total])).toEqual([
          [OFFICE, '8.00'],
          [REP, '10.00'],
        ]);
        const page = await queries.callDetails(code, '2017-11', REP, undefined, 1);
        expect(page.items.map((c) => [c.usingNumber, c.attributedNumber])).toEqual([[BRANCH, REP]]);
      });

      it('a representative number subscribed late re-attributes earlier calls', async () => {
        const code = await newContract();
        await appendCalls(t.store, code, [
          { usingNumber: OFFICE, startDate: '2017/11/05', startTime: '100000.0', charge: '8.00' },
          { usingNumber: OFFICE, startDate: '2017/11/15', startTime: '100000.0', charge: '8.00' },
          { usingNumber: BRANCH, startDate: '2017/12/01', startTime: '100000.0', charge: '20.00' },
        ]);
        expect((await totals(code, '2017-11')).numbers.map((n) => n.number)).toEqual([OFFICE]);
        await appendContract(t.store, code, representativeSubscribed(code, REP, '2017-11-10'));
        const nov = await totals(code, '2017-11');
        expect(nov.numbers.map((n) => [n.number, n.normal.total])).toEqual([
          [OFFICE, '8.00'],
          [REP, '8.00'],
        ]);
        expect((await totals(code, '2017-12')).numbers.map((n) => [n.number, n.normal.total])).toEqual([[REP, '20.00']]);
        expect((await verifyMonth({ database: t.database, store: t.store, queries }, code, '2017-11')).ok).toBe(true);
      });

      it('a cancellation recorded late returns the calls after it to their own numbers', async () => {
        const code = await newContract();
        await appendContract(t.store, code, representativeSubscribed(code, REP, '2017-01-01'));
        await appendCalls(t.store, code, [
          { usingNumber: OFFICE, startDate: '2017/11/05', startTime: '100000.0', charge: '8.00' },
          { usingNumber: BRANCH, startDate: '2017/11/25', startTime: '100000.0', charge: '9.00' },
        ]);
        expect((await totals(code, '2017-11')).numbers.map((n) => n.number)).toEqual([REP]);
        await appendContract(t.store, code, representativeCancelled(code, '2017-11-20'));
        expect((await totals(code, '2017-11')).numbers.map((n) => [n.number, n.normal.total])).toEqual([
          [BRANCH, '9.00'],
          [REP, '8.00'],
        ]);
      });
    });

    describe('free calls (無料呼)', () => {
      it('are billed 0 and shown at their normal charge', async () => {
        const code = await newContract();
        await appendCalls(t.store, code, [
          { usingNumber: OFFICE, startDate: '2017/11/05', startTime: '100000.0', callType: '携帯呼(au 定額)', charge: '30.00' },
          { usingNumber: OFFICE, startDate: '2017/11/05', startTime: '110000.0', extensionType: '内線', charge: '4.00' },
          { usingNumber: OFFICE, startDate: '2017/11/05', startTime: '120000.0', charge: '8.00' },
        ]);
        const charges = await totals(code, '2017-11');
        expect(charges.normal.total).toBe('42.00');
        expect(charges.billed.total).toBe('8.00');
        expect(charges.billed.au).toBe('0.00');
        const page = await queries.callDetails(code, '2017-11', OFFICE, 'au', 1);
        expect(page.items.map((c) => [c.charge.toString(), c.billed.toString()])).toEqual([['30.00', '0.00']]);
      });
    });

    describe('corrections', () => {
      it('a corrected call counts at its new charge, as if the corrected record had arrived first', async () => {
        const code = await newContract();
        const [call] = await appendCalls(t.store, code, [{ usingNumber: OFFICE, startDate: '2017/11/05', startTime: '100000.0', charge: '8.00' }]);
        await runner.catchUp();
        await appendCorrection(t.store, call!, '6.50');
        const charges = await totals(code, '2017-11');
        expect(charges.normal.total).toBe('6.50');
        expect(charges.billed.total).toBe('6.50');
        const page = await queries.callDetails(code, '2017-11', OFFICE, undefined, 1);
        expect(page.items[0]!.charge.toString()).toBe('6.50');
        expect(page.sum.toString()).toBe('6.50');
        expect((await verifyMonth({ database: t.database, store: t.store, queries }, code, '2017-11')).ok).toBe(true);
      });

      it('a voided call leaves the totals and the call details', async () => {
        const code = await newContract();
        const [a] = await appendCalls(t.store, code, [
          { usingNumber: OFFICE, startDate: '2017/11/05', startTime: '100000.0', charge: '8.00' },
          { usingNumber: OFFICE, startDate: '2017/11/06', startTime: '100000.0', charge: '5.00' },
        ]);
        await appendVoid(t.store, a!);
        const charges = await totals(code, '2017-11');
        expect(charges.numbers.map((n) => [n.number, n.normal.total, n.calls])).toEqual([[OFFICE, '5.00', 1]]);
        const page = await queries.callDetails(code, '2017-11', OFFICE, undefined, 1);
        expect([page.total, page.sum.toString()]).toEqual([1, '5.00']);
      });

      it('a correction read before its call still applies', async () => {
        const code = await newContract();
        const spec: CallSpec = { usingNumber: OFFICE, startDate: '2017/11/05', startTime: '100000.0', charge: '8.00' };
        const { callRecorded } = await import('./support/ledger-events.ts');
        const call = callRecorded(code, spec);
        await t.store.append(`corrections-${code}`, [event({ type: 'CallCorrected', data: { callId: call.data.callId, charge: '1.00', reason: 'early' } })]);
        await runner.catchUp();
        await t.store.append(streams.calls(code, '2017-11'), [event(call, call.data.callId)]);
        expect((await totals(code, '2017-11')).normal.total).toBe('1.00');
      });
    });

    describe('telegrams (電報)', () => {
      it('are listed per month and never in the call totals', async () => {
        const code = await newContract();
        await appendCalls(t.store, code, [{ usingNumber: OFFICE, startDate: '2017/11/05', startTime: '100000.0', charge: '8.00' }]);
        await t.store.append(streams.telegrams(code), [
          event({ type: 'TelegramRecorded', data: { telegramId: randomUUID(), contractCode: code, date: '2017-11-03', month: '2017-11', receiptNumber: 'R0001', destination: '東京都千代田区', kind: '慶弔', charge: '1230.00' } }),
        ]);
        expect((await totals(code, '2017-11')).normal.total).toBe('8.00');
        const telegrams = await queries.telegrams(code, '2017-11');
        expect(telegrams.map((x) => [x.date, x.charge.toString()])).toEqual([['2017-11-03', '1230.00']]);
        expect(await queries.telegrams(code, '2017-12')).toEqual([]);
      });
    });

    describe('call details', () => {
      it('come in start order, 10 per page, each page headed by the whole listing’s count and sum (the number’s total)', async () => {
        const code = await newContract();
        const specs: CallSpec[] = Array.from({ length: 23 }, (_, i) => ({
          usingNumber: OFFICE,
          startDate: `2017/11/${String(23 - i).padStart(2, '0')}`,
          startTime: '090000.0',
          charge: `${i + 1}.25`,
        }));
        await appendCalls(t.store, code, specs);
        await runner.catchUp();
        const pages = await Promise.all([1, 2, 3].map((p) => queries.callDetails(code, '2017-11', OFFICE, undefined, p)));
        expect(pages.map((p) => p.items.length)).toEqual([10, 10, 3]);
        expect(pages[0]!.total).toBe(23);
        expect(pages.flatMap((p) => p.items.map((i) => i.seq))).toEqual(Array.from({ length: 23 }, (_, i) => i + 1));
        const starts = pages.flatMap((p) => p.items.map((i) => i.startedAt));
        expect([...starts].sort()).toEqual(starts);
        expect(pages[0]!.items[0]!.startedAt).toBe('2017-11-01T09:00:00.000+09:00');
        const listed = pages.flatMap((p) => p.items.map((i) => i.charge)).reduce((acc, c) => acc.plus(c));
        const m = await queries.monthCharges(code, '2017-11');
        expect(listed.toString()).toBe(m.numbers[0]!.normal.total.toString());
        expect(pages.map((p) => [p.total, p.sum.toString()])).toEqual(pages.map(() => [23, listed.toString()]));
        const all: string[] = [];
        for await (const c of queries.allCalls(code, '2017-11')) all.push(c.callId);
        expect(all).toEqual(pages.flatMap((p) => p.items.map((i) => i.callId)));
      });

      it('keep a directory-assistance count instead of a duration', async () => {
        const code = await newContract();
        await appendCalls(t.store, code, [{ usingNumber: OFFICE, startDate: '2017/11/05', startTime: '100000.0', duration: '1件', callType: '番号案内', destination: '104', charge: '60.00' }]);
        await runner.catchUp();
        const page = await queries.callDetails(code, '2017-11', OFFICE, 'domestic', 1);
        expect(page.items.map((c) => [c.duration, c.count, c.charge.toString()])).toEqual([[null, 1, '60.00']]);
      });
    });

    describe('engineer totals', () => {
      it('a month without calls gives zeros and no numbers', async () => {
        const code = await newContract();
        const charges = await totals(code, '2017-11');
        expect(charges).toEqual({
          contractCode: code,
          month: '2017-11',
          normal: { total: '0.00', domestic: '0.00', international: '0.00', mobile: '0.00', au: '0.00', otherMobile: '0.00' },
          billed: { total: '0.00', domestic: '0.00', international: '0.00', mobile: '0.00', au: '0.00', otherMobile: '0.00' },
          numbers: [],
        });
      });

      it('an unknown contract is not found', async () => {
        await expect(totals('d999999999', '2017-11')).rejects.toMatchObject({ code: 'CONTRACT_NOT_FOUND' });
      });
    });

    describe('the contract view', () => {
      it('shows the summary, options with parameters and the numbers as of a date', async () => {
        const code = await newContract();
        await appendContract(t.store, code, representativeSubscribed(code, REP, '2017-11-10'), { type: 'NumberRemoved', data: { contractCode: code, dialInNumber: BRANCH, endDate: '2017-12-31' } });
        await runner.catchUp();
        expect(await queries.contractExists(code)).toBe(true);
        const view = await queries.contract(code, '2017-11-15');
        expect(view).toMatchObject({ contractCode: code, selfId: code, startDate: '2010-11-15', channels: 1, basicNumber: BASIC, numberCount: 3, dialInNumberCount: 2 });
        expect(view!.options.representativeNumber).toEqual({ subscribed: true, effectiveFrom: '2017-11-10', representativeNumber: REP });
        expect(view!.options.dialIn.subscribed).toBe(false);
        expect((await queries.contract(code, '2017-11-01'))!.options.representativeNumber.subscribed).toBe(false);
        const first = await queries.contractNumbers(code, '2017-11-15', 1, 1);
        const second = await queries.contractNumbers(code, '2017-11-15', 2, 1);
        expect(first.total).toBe(2);
        expect([first.items[0]!.dialInNumber, second.items[0]!.dialInNumber].sort()).toEqual([OFFICE, BRANCH]);
        expect((await queries.contractNumbers(code, '2018-01-01', 1, 10)).items.map((n) => n.dialInNumber)).toEqual([OFFICE]);
        expect(await queries.contract('d999999998', '2017-11-15')).toBeUndefined();
      });
    });

    describe('audit and verify', () => {
      it('audit lists the events behind a figure with a running total ending at the projected figure', async () => {
        const code = await newContract();
        const [a, b] = await appendCalls(t.store, code, [
          { usingNumber: OFFICE, startDate: '2017/11/05', startTime: '100000.0', charge: '8.00' },
          { usingNumber: OFFICE, startDate: '2017/11/06', startTime: '100000.0', charge: '5.00' },
          { usingNumber: OFFICE, startDate: '2017/11/07', startTime: '100000.0', callType: '国際呼', charge: '100.00' },
          { usingNumber: BRANCH, startDate: '2017/11/07', startTime: '100000.0', charge: '7.00' },
        ]);
        await appendCorrection(t.store, a!, '9.00');
        await appendVoid(t.store, b!);
        await runner.catchUp();
        const audit = await auditFigure({ store: t.store, queries }, code, '2017-11', { number: OFFICE, category: 'domestic' });
        expect(audit.entries.map((e) => [e.type, e.normal, e.runningNormal])).toEqual([
          ['CallRecorded', '8.00', '8.00'],
          ['CallRecorded', '5.00', '13.00'],
          ['CallCorrected', '1.00', '14.00'],
          ['CallVoided', '-5.00', '9.00'],
        ]);
        expect(audit.projected.normal).toBe('9.00');
        expect(audit.matches).toBe(true);
        const whole = await auditFigure({ store: t.store, queries }, code, '2017-11');
        expect(whole.computed.normal).toBe('116.00');
        expect(whole.matches).toBe(true);
      });

      it('verify finds a projection that differs from the events', async () => {
        const code = await newContract();
        await appendCalls(t.store, code, [{ usingNumber: OFFICE, startDate: '2017/11/05', startTime: '100000.0', charge: '8.00' }]);
        await runner.catchUp();
        const deps = { database: t.database, store: t.store, queries };
        expect(await verifyMonth(deps, code, '2017-11')).toMatchObject({ ok: true, differences: [] });
        // Damage the read model behind the projection's back, as a bug would.
        await sql`update proj_monthly_charges set normal = 7.99 where contract_code = ${code}`.execute(t.database.db);
        const result = await verifyMonth(deps, code, '2017-11');
        expect(result.ok).toBe(false);
        expect(result.differences).toEqual([{ number: OFFICE, category: 'domestic', field: 'normal', projected: '7.99', computed: '8.00' }]);
        await runner.rebuild(['charges']);
        expect((await verifyMonth(deps, code, '2017-11')).ok).toBe(true);
      });
    });

    describe('checkpoints', () => {
      it('a batch failing in the middle is applied exactly once after resuming: no double count, nothing lost', async () => {
        const code = await newContract();
        await runner.catchUp();
        const specs: CallSpec[] = Array.from({ length: 40 }, (_, i) => ({ usingNumber: i % 2 ? OFFICE : BRANCH, startDate: '2017/11/05', startTime: `1000${String(i).padStart(2, '0')}.0`, charge: '1.10' }));
        const calls = await appendCalls(t.store, code, specs);
        await appendCorrection(t.store, calls[3]!, '2.20');
        let seen = 0;
        const failing: Projection = {
          ...chargesProjection,
          async apply(trx, events, ctx) {
            await chargesProjection.apply(trx, events, ctx);
            seen += events.length;
            // Fail after the writes of the third batch, before its commit.
            if (seen > 14) throw new Error('boom in the middle of a batch');
          },
        };
        const crashing = new ProjectionRunner(t.database, t.store, [failing], { batchSize: 7 });
        // The failing projection stalls (framework.ts) rather than failing the catch-up: at the first
        // event it cannot apply, the two batches before it kept.
        await crashing.catchUp();
        expect((await crashing.stalls()).map((s) => [s.projection, s.error])).toEqual([['charges', 'boom in the middle of a batch']]);
        const partial = await engineerCharges(queries, code, '2017-11');
        expect(partial.numbers.reduce((n, x) => n + x.calls, 0)).toBe(14);
        await runner.catchUp();
        await runner.catchUp();
        expect(await runner.stalls()).toEqual([]);
        const charges = await engineerCharges(queries, code, '2017-11');
        expect(charges.normal.total).toBe('45.10');
        expect(charges.numbers.reduce((n, x) => n + x.calls, 0)).toBe(40);
        expect((await verifyMonth({ database: t.database, store: t.store, queries }, code, '2017-11')).ok).toBe(true);
      });

      it.skipIf(target.name === 'PGlite')('two runners racing (server and CLI) never apply a batch twice', async () => {
        // PGlite is one connection in one process: there is no second process to race with.
        const code = await newContract();
        const specs: CallSpec[] = Array.from({ length: 120 }, (_, i) => ({ usingNumber: OFFICE, startDate: '2017/11/06', startTime: `10${String(Math.floor(i / 60)).padStart(2, '0')}${String(i % 60).padStart(2, '0')}.0`, charge: '0.10' }));
        await appendCalls(t.store, code, specs);
        const a = createProjectionRunner(t.database, t.store, { batchSize: 5 });
        const b = createProjectionRunner(t.database, t.store, { batchSize: 3 });
        await Promise.all([a.catchUp(), b.catchUp(), a.catchUp(), b.catchUp()]);
        const charges = await engineerCharges(queries, code, '2017-11');
        expect(charges.normal.total).toBe('12.00');
        expect(charges.numbers[0]!.calls).toBe(120);
      });

      it('reports position and lag, and a follower picks new events up within a second', async () => {
        await runner.catchUp();
        const status = await runner.status();
        const head = await t.store.headPosition();
        for (const p of projections) expect(status[p.name]).toMatchObject({ position: head.toString(), lag: 0 });
        const code = await newContract();
        const controller = new AbortController();
        const following = runner.follow(controller.signal);
        try {
          await appendCalls(t.store, code, [{ usingNumber: OFFICE, startDate: '2017/11/05', startTime: '100000.0', charge: '8.00' }]);
          const deadline = Date.now() + 1000;
          let total = '0.00';
          while (Date.now() < deadline) {
            if (await queries.contractExists(code)) {
              total = (await engineerCharges(queries, code, '2017-11')).normal.total;
              if (total === '8.00') break;
            }
            await new Promise((r) => setTimeout(r, 20));
          }
          expect(total).toBe('8.00');
        } finally {
          controller.abort();
          await following;
        }
        expect((await queries.status()).charges!.lag).toBe(0);
      });
    });

    /** Every table of the three projections, in a stable order. */
    async function snapshot() {
      const rows = async (query: ReturnType<typeof sql<Record<string, unknown>>>) => (await query.execute(t.database.db)).rows;
      return {
        monthly: await rows(sql`select contract_code, billing_month, number, category, normal::text, billed::text, calls from proj_monthly_charges order by 1, 2, 3, 4`),
        calls: await rows(sql`select call_id::text, position::text, attributed_number, started_at::text, charge::text, billed::text, corrected, voided from proj_call_details order by call_id`),
        adjustments: await rows(sql`select position::text, event_id, call_id::text, kind, charge::text, reason from proj_call_adjustments order by 1`),
        intervals: await rows(sql`select contract_code, from_t::text, to_t::text, number from proj_rep_intervals order by 1, 2`),
        contractEvents: await rows(sql`select contract_code, revision, position::text, type, data from proj_contract_events order by 1, 2`),
        chargeContractEvents: await rows(sql`select contract_code, revision, position::text, type, data from proj_charge_contract_events order by 1, 2`),
        telegrams: await rows(sql`select telegram_id, position::text, contract_code, month, date, destination, kind, charge::text from proj_telegrams order by 1`),
      };
    }

    describe('rebuild', () => {
      it('produces exactly what the incremental path produced, and swaps it in with the checkpoint', async () => {
        const code = await newContract();
        const calls = await appendCalls(t.store, code, [
          { usingNumber: OFFICE, startDate: '2017/11/05', startTime: '100000.0', charge: '8.00' },
          { usingNumber: BRANCH, startDate: '2017/11/15', startTime: '100000.0', callType: '携帯呼', charge: '12.34' },
        ]);
        await appendContract(t.store, code, representativeSubscribed(code, REP, '2017-11-10'));
        await appendCorrection(t.store, calls[0]!, '7.00');
        await t.store.append(streams.telegrams(code), [
          event({ type: 'TelegramRecorded', data: { telegramId: randomUUID(), contractCode: code, date: '2017-11-03', month: '2017-11', receiptNumber: 'R0001', destination: '東京都千代田区', kind: '慶弔', charge: '1230' } }),
        ]);
        await runner.catchUp();
        const before = await snapshot();
        expect(before.telegrams.map((x) => x.charge)).toContain('1230.00');
        expect(before.contractEvents.length).toBeGreaterThan(0);
        const reports = await runner.rebuild();
        expect(reports.map((r) => r.projection)).toEqual(projections.map((p) => p.name));
        expect(await snapshot()).toEqual(before);
        expect((await runner.checkpoint('charges'))!.position).toBe(await t.store.headPosition());
        const leftovers = await sql<{ n: string }>`select count(*)::text as n from information_schema.tables where table_schema = current_schema() and table_name like '%\\_next'`.execute(t.database.db);
        expect(leftovers.rows[0]!.n).toBe('0');
      });

      it('keeps answering queries from the current tables while it rebuilds, with the same figures', async () => {
        const code = await newContract();
        await appendCalls(
          t.store,
          code,
          Array.from({ length: 300 }, (_, i): CallSpec => ({ usingNumber: OFFICE, startDate: '2017/09/03', startTime: `1${String(Math.floor(i / 60)).padStart(3, '0')}${String(i % 60).padStart(2, '0')}.0`, charge: '1.25' })),
        );
        await runner.catchUp();
        const before = await engineerCharges(queries, code, '2017-09');
        expect(before.normal.total).toBe('375.00');
        let rebuilding = true;
        const rebuild = runner.rebuild().finally(() => {
          rebuilding = false;
        });
        const seenDuring: string[] = [];
        while (rebuilding) {
          const during = await engineerCharges(queries, code, '2017-09');
          if (rebuilding) seenDuring.push(during.normal.total);
          await new Promise((r) => setTimeout(r, 1));
        }
        await rebuild;
        expect(seenDuring.length).toBeGreaterThan(0);
        expect(new Set(seenDuring)).toEqual(new Set(['375.00']));
        expect(await engineerCharges(queries, code, '2017-09')).toEqual(before);
      });

      it('leaves tables of the shape the migrations declare: column types, not-null, defaults, keys and indexes', async () => {
        const code = await newContract();
        const calls = await appendCalls(t.store, code, [
          { usingNumber: OFFICE, startDate: '2017/11/05', startTime: '100000.0', charge: '8.00' },
          { usingNumber: BRANCH, startDate: '2017/11/15', startTime: '100000.0', charge: '2.00' },
        ]);
        await appendContract(t.store, code, representativeSubscribed(code, REP, '2017-11-10'));
        await appendCorrection(t.store, calls[0]!, '7.00');
        await appendVoid(t.store, calls[1]!);
        await runner.rebuild();
        const shapeOf = async (table: string) => ({
          columns: (
            await sql`
              select a.attname, format_type(a.atttypid, a.atttypmod) as type, a.attnotnull, pg_get_expr(d.adbin, d.adrelid) as default_expr
              from pg_attribute a left join pg_attrdef d on d.adrelid = a.attrelid and d.adnum = a.attnum
              where a.attrelid = ${table}::regclass and a.attnum > 0 and not a.attisdropped order by a.attnum`.execute(t.database.db)
          ).rows,
          constraints: (
            await sql`select contype, pg_get_constraintdef(oid) as def from pg_constraint where conrelid = ${table}::regclass order by 1, 2`.execute(t.database.db)
          ).rows,
          indexes: (
            await sql`
              select x.indisunique, x.indisprimary, regexp_replace(pg_get_indexdef(x.indexrelid), '^.* USING ', '') as def
              from pg_index x where x.indrelid = ${table}::regclass order by 3`.execute(t.database.db)
          ).rows,
          persistence: (await sql`select relpersistence from pg_class where oid = ${table}::regclass`.execute(t.database.db)).rows,
        });
        for (const p of projections) {
          await p.createTables(t.database.db, '_declared');
          try {
            for (const table of p.tables) expect(await shapeOf(table), table).toEqual(await shapeOf(`${table}_declared`));
          } finally {
            for (const table of [...p.tables].reverse()) await sql`drop table ${sql.table(`${table}_declared`)}`.execute(t.database.db);
          }
        }
      });

      it('reads no event through the store when the set-based part reached the head (a read filtered by stream may scan the log)', async () => {
        const code = await newContract();
        await appendContract(t.store, code, representativeSubscribed(code, REP, '2017-11-10'));
        let reads = 0;
        const counting = new Proxy(t.store, {
          get(target, key) {
            const value: unknown = Reflect.get(target, key);
            if (key === 'readAll') reads++;
            return typeof value === 'function' ? value.bind(target) : value;
          },
        });
        const [report] = await createProjectionRunner(t.database, counting).rebuild(['contracts']);
        expect(reads).toBe(0);
        expect(report!.position).toBe((await t.store.headPosition()).toString());
        expect(report!.events).toBeGreaterThan(0);
      });

      it('keeps the first of a call recorded twice, as the incremental path does', async () => {
        const code = await newContract();
        const [call] = await appendCalls(t.store, code, [{ usingNumber: OFFICE, startDate: '2017/11/05', startTime: '100000.0', charge: '8.00' }]);
        // The same call id again under another event id, with another charge.
        await t.store.append(streams.calls(code, '2017-11'), [event({ ...call!, data: { ...call!.data, charge: '9.00' } })]);
        const before = await totals(code, '2017-11');
        expect(before.normal.total).toBe('8.00');
        await runner.rebuild(['charges']);
        expect(await engineerCharges(queries, code, '2017-11')).toEqual(before);
        const { rows } = await sql<{ n: string }>`select count(*)::text as n from proj_call_details where call_id = ${call!.data.callId}::uuid`.execute(t.database.db);
        expect(rows[0]!.n).toBe('1');
      });

      it('rebuilds calls from before 1952 event by event, not set-based (Japan had daylight saving time then), to the same figures', async () => {
        // A store of its own: the other tests rebuild everything.
        const own = await target.open([projectionMigrations]);
        try {
          const ownRunner = createProjectionRunner(own.database, own.store);
          const ownQueries = createQueries(own.database, own.store);
          const code = nextContract();
          await appendContract(own.store, code, contractOpened(code, BASIC, '1950-01-01'), numberAdded(code, OFFICE, '1950-01-01'));
          await appendCalls(own.store, code, [
            { usingNumber: OFFICE, startDate: '1951/07/01', startTime: '100000.0', charge: '1.00' },
            { usingNumber: OFFICE, startDate: '2017/11/05', startTime: '100000.0', charge: '8.00' },
          ]);
          await ownRunner.catchUp();
          const before = [await engineerCharges(ownQueries, code, '1951-07'), await engineerCharges(ownQueries, code, '2017-11')];
          expect(before.map((m) => m.normal.total)).toEqual(['1.00', '8.00']);
          // The set-based rebuild refuses them; the runner then rebuilds event by event (framework.ts).
          const [report] = await ownRunner.rebuild(['charges']);
          expect(report!.events).toBe(4);
          expect([await engineerCharges(ownQueries, code, '1951-07'), await engineerCharges(ownQueries, code, '2017-11')]).toEqual(before);
        } finally {
          await own.cleanup();
        }
      });

      it('catches a projection far behind up by a set-based rebuild, to the same rows as batch by batch', async () => {
        const code = await newContract();
        const calls = await appendCalls(
          t.store,
          code,
          Array.from({ length: 30 }, (_, i): CallSpec => ({ usingNumber: i % 3 ? OFFICE : BRANCH, startDate: `2017/11/${String(1 + (i % 28)).padStart(2, '0')}`, startTime: '235950.0', duration: '000030.0', charge: `${i}.25` })),
        );
        await appendContract(t.store, code, representativeSubscribed(code, REP, '2017-11-20'));
        await appendCorrection(t.store, calls[4]!, '0.99');
        await appendVoid(t.store, calls[5]!);
        await new ProjectionRunner(t.database, t.store, projections, { batchSize: 7, catchUpByRebuild: false }).catchUp();
        const batched = await snapshot();

        // Everything behind again: empty tables, checkpoints at 0.
        for (const p of projections) await resetProjection(t.database.db, p);
        let bulkLoads = 0;
        const counting = projections.map((p): Projection => {
          const bulk = p.bulkRebuild?.bind(p);
          return bulk ? { ...p, bulkRebuild: (...args) => (bulkLoads++, bulk(...args)) } : p;
        });
        await new ProjectionRunner(t.database, t.store, counting, { catchUpByRebuild: { share: 0.5, minEvents: 1 } }).catchUp();
        expect(bulkLoads).toBe(projections.filter((p) => p.bulkRebuild).length);
        expect(await snapshot()).toEqual(batched);
        for (const p of projections) expect((await runner.checkpoint(p.name))!.position).toBe(await t.store.headPosition());
      });

      it.skipIf(target.name === 'PGlite')('two runners far behind at once (server and CLI) rebuild one after the other, never swapping in a half-built projection', async () => {
        // PGlite is one connection in one process: there is no second process to race with.
        const code = await newContract();
        await appendCalls(
          t.store,
          code,
          Array.from({ length: 40 }, (_, i): CallSpec => ({ usingNumber: i % 2 ? OFFICE : BRANCH, startDate: `2017/12/${String(1 + (i % 28)).padStart(2, '0')}`, startTime: '120000.0', charge: `${i}.50` })),
        );
        await runner.catchUp();
        const expected = await snapshot();
        for (const p of projections) await resetProjection(t.database.db, p);
        const farBehind = () => createProjectionRunner(t.database, t.store, { catchUpByRebuild: { share: 0.5, minEvents: 1 } });
        await Promise.all([farBehind().catchUp(), farBehind().catchUp(), farBehind().rebuild()]);
        expect(await snapshot()).toEqual(expected);
      });

      it('a projection of another version is rebuilt when caught up', async () => {
        await runner.catchUp();
        await sql`update projection_checkpoints set version = 0, position = 0 where name = 'telegrams'`.execute(t.database.db);
        await runner.catchUp();
        expect(await runner.checkpoint('telegrams')).toEqual({ position: await t.store.headPosition(), version: telegramsProjection.version });
      });
    });
  });
}
