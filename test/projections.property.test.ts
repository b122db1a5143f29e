// Property tests of the charges projection: random calls, corrections and representative-number
// changes, appended in a random interleaving of their streams (each stream keeps its own order),
// with the projection catching up at random moments in between. The figures must equal an
// independent fold written here (integer sen, no library code but the CSV-row parser that builds
// the events), whatever the arrival order.
import fc from 'fast-check';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CATEGORIES, streams, type Category, type LedgerEvent } from '../domain/events.ts';
import type { EventToAppend } from '../eventstore/port.ts';
import { createProjectionRunner, projectionMigrations } from '../projections/index.ts';
import type { ProjectionRunner } from '../projections/framework.ts';
import { createQueries } from '../projections/queries.ts';
import type { LedgerQueries } from '../projections/read-model.ts';
import { callRecorded, contractOpened, event, numberAdded } from './support/ledger-events.ts';
import { monthClosedIdOf } from '../domain/billing-service.ts';
import { chargesFromProjectionAt, chargesOfFold, engineerCharges, verifyMonth } from '../projections/engineering.ts';
import { figuresOf, foldLedger } from '../projections/fold.ts';
import { testTargets, type TestDatabase } from './support/stores.ts';

const NUMBERS = ['0120222333', '0312345678', '0312345679'];
const REPS = ['0399990000', '0388880000'];
const CALL_TYPES = ['国内呼', 'IP間呼', '携帯呼', 'PHS', '携帯呼(au)', '携帯呼(au 定額)', '国際呼', '番号案内'];
const DAY = 864_000; // tenths
const OCT_1_UTC_MS = Date.UTC(2017, 9, 1) - 9 * 3600_000; // 2017-10-01 00:00 +09:00
const DAYS = 92; // Oct, Nov, Dec
const MONTH_ENDS = [31, 61, 92].map((d) => d * DAY);

interface CallGen {
  using: number;
  start: number; // tenths after 2017-10-01 00:00 JST
  duration: number; // tenths; -1 = a directory-assistance count
  callType: number;
  inside: boolean;
  sen: number;
}
interface RepGen {
  subscribe: boolean;
  rep: number;
  day: number; // days after 2017-10-01 (negative: before)
}
interface AdjGen {
  call: number;
  void: boolean;
  sen: number;
}
interface Scenario {
  calls: CallGen[];
  reps: RepGen[];
  adjustments: AdjGen[];
  picks: number[];
  catchUps: boolean[];
  /** How many months, from 2017-10 on, are closed (their MonthClosed events arrive among the rest). */
  closes?: number;
}

const callArb: fc.Arbitrary<CallGen> = fc.record({
  using: fc.integer({ min: 0, max: NUMBERS.length - 1 }),
  start: fc.oneof(
    fc.integer({ min: 0, max: DAYS * DAY - 1 }),
    // around the end of a month, to cross midnight
    fc.tuple(fc.constantFrom(...MONTH_ENDS), fc.integer({ min: -7200, max: -1 })).map(([end, d]) => end + d),
  ),
  duration: fc.oneof(fc.integer({ min: 0, max: 72_000 }), fc.constant(-1)),
  callType: fc.integer({ min: 0, max: CALL_TYPES.length - 2 }),
  inside: fc.boolean(),
  sen: fc.integer({ min: 0, max: 99_999 }),
});

const scenarioArb: fc.Arbitrary<Scenario> = fc.record({
  calls: fc.array(callArb, { minLength: 1, maxLength: 60 }),
  reps: fc.array(fc.record({ subscribe: fc.boolean(), rep: fc.integer({ min: 0, max: 1 }), day: fc.integer({ min: -20, max: DAYS }) }), { maxLength: 5 }),
  adjustments: fc.array(fc.record({ call: fc.nat(), void: fc.boolean(), sen: fc.integer({ min: 0, max: 99_999 }) }), { maxLength: 10 }),
  picks: fc.array(fc.nat(), { minLength: 200, maxLength: 200 }),
  catchUps: fc.array(fc.boolean(), { minLength: 200, maxLength: 200 }),
});

/**
 * In-memory PGlite answers in microtasks, so a property run never returns to the event loop, and
 * vitest's own messages to the worker (answered within 60 s) wait until the loop turns.
 */
const letTheRunnerIn = () => new Promise<void>((resolve) => setImmediate(resolve));

const pad = (n: number, w = 2) => String(n).padStart(w, '0');
const yen = (sen: number) => `${Math.floor(sen / 100)}.${pad(sen % 100)}`;
/** Japan wall-clock fields of an instant, by hand: +09:00, no DST. */
function japan(tenths: number): { y: number; mo: number; d: number; time: string } {
  const ms = OCT_1_UTC_MS + tenths * 100 + 9 * 3600_000;
  const date = new Date(ms);
  const tod = Math.floor((ms % 86_400_000) / 100);
  const h = Math.floor(tod / 36_000);
  const mi = Math.floor((tod % 36_000) / 600);
  const s = Math.floor((tod % 600) / 10);
  return { y: date.getUTCFullYear(), mo: date.getUTCMonth() + 1, d: date.getUTCDate(), time: `${pad(h)}${pad(mi)}${pad(s)}.${tod % 10}` };
}
function hhmmss(tenths: number): string {
  const h = Math.floor(tenths / 36_000);
  const mi = Math.floor((tenths % 36_000) / 600);
  const s = Math.floor((tenths % 600) / 10);
  return `${pad(h)}${pad(mi)}${pad(s)}.${tenths % 10}`;
}
function dayDate(day: number): string {
  const date = new Date(Date.UTC(2017, 9, 1 + day));
  return `${date.getUTCFullYear()}-${pad(date.getUTCMonth() + 1)}-${pad(date.getUTCDate())}`;
}
function categoryOf(callType: string): Category {
  if (callType.includes('国際')) return 'international';
  if (callType.startsWith('携帯呼(au')) return 'au';
  if (callType.startsWith('携帯') || callType.startsWith('PHS')) return 'otherMobile';
  return 'domestic';
}

interface Figure {
  normal: number;
  billed: number;
  calls: number;
}
type Expected = Map<string, Map<string, Map<Category, Figure>>>; // month → number → category

/** The independent fold: what the figures must be, from the scenario alone. */
function expectedOf(s: Scenario): Expected {
  // The representative-number timeline: changes sorted by date, recording order kept on a date; the last one on or before a date rules it.
  const timeline = s.reps.map((r, i) => ({ ...r, i, date: dayDate(r.day) })).sort((a, b) => (a.date < b.date ? -1 : a.date > b.date ? 1 : a.i - b.i));
  const out: Expected = new Map();
  s.calls.forEach((c, index) => {
    const callType = c.duration < 0 ? '番号案内' : CALL_TYPES[c.callType]!;
    const start = japan(c.start);
    const startDate = `${start.y}-${pad(start.mo)}-${pad(start.d)}`;
    const end = japan(c.start + Math.max(0, c.duration));
    const month = `${end.y}-${pad(end.mo)}`;
    let number = NUMBERS[c.using]!;
    const rule = timeline.filter((r) => r.date <= startDate).at(-1);
    if (rule?.subscribe) number = REPS[rule.rep]!;
    const adjustments = s.adjustments.filter((a) => a.call % s.calls.length === index);
    if (adjustments.some((a) => a.void)) return;
    const corrected = adjustments.filter((a) => !a.void).at(-1);
    const normal = corrected ? corrected.sen : c.sen;
    const free = c.inside || callType.includes('定額');
    const category = categoryOf(callType);
    const byNumber = out.get(month) ?? new Map<string, Map<Category, Figure>>();
    out.set(month, byNumber);
    const byCategory = byNumber.get(number) ?? new Map<Category, Figure>();
    byNumber.set(number, byCategory);
    const f = byCategory.get(category) ?? { normal: 0, billed: 0, calls: 0 };
    byCategory.set(category, { normal: f.normal + normal, billed: f.billed + (free ? 0 : normal), calls: f.calls + 1 });
  });
  return out;
}

/** The scenario's streams, each in its own order. */
function streamsOf(code: string, s: Scenario): { streamId: string; events: EventToAppend[] }[] {
  const contract: LedgerEvent[] = [contractOpened(code, NUMBERS[0]!, '2017-01-01'), numberAdded(code, NUMBERS[1]!, '2017-01-01'), numberAdded(code, NUMBERS[2]!, '2017-01-01')];
  for (const r of s.reps) {
    contract.push(
      r.subscribe
        ? { type: 'OptionSubscribed', data: { contractCode: code, option: 'representativeNumber', effectiveFrom: dayDate(r.day), representativeNumber: REPS[r.rep]! } }
        : { type: 'OptionCancelled', data: { contractCode: code, option: 'representativeNumber', effectiveFrom: dayDate(r.day) } },
    );
  }
  const byStream = new Map<string, EventToAppend[]>([[streams.contract(code), contract.map((e) => event(e))]]);
  if (s.closes) {
    const months = ['2017-10', '2017-11', '2017-12'].slice(0, s.closes);
    byStream.set(
      streams.billing(code),
      months.map((month) => event({ type: 'MonthClosed', data: { contractCode: code, month, closedAt: '2018-01-05T10:00:00+09:00' } }, monthClosedIdOf(code, month))),
    );
  }
  const recorded = s.calls.map((c, i) => {
    const start = japan(c.start);
    const call = callRecorded(code, {
      usingNumber: NUMBERS[c.using]!,
      startDate: `${start.y}/${pad(start.mo)}/${pad(start.d)}`,
      startTime: start.time,
      duration: c.duration < 0 ? '1件' : hhmmss(c.duration),
      callType: c.duration < 0 ? '番号案内' : CALL_TYPES[c.callType]!,
      extensionType: c.inside ? '内線' : '外線',
      destination: `0${code.slice(1)}-${i}`,
      charge: yen(c.sen),
    });
    const streamId = streams.calls(code, call.data.billingMonth);
    byStream.set(streamId, [...(byStream.get(streamId) ?? []), event(call, call.data.callId)]);
    return { call, streamId };
  });
  for (const a of s.adjustments) {
    const { call, streamId } = recorded[a.call % recorded.length]!;
    const e: LedgerEvent = a.void
      ? { type: 'CallVoided', data: { callId: call.data.callId, reason: 'test' } }
      : { type: 'CallCorrected', data: { callId: call.data.callId, charge: yen(a.sen), reason: 'test' } };
    byStream.get(streamId)!.push(event(e));
  }
  return [...byStream.entries()].map(([streamId, events]) => ({ streamId, events }));
}

let contractSeq = 200000000;

for (const target of testTargets) {
  describe(`charges projection properties on ${target.name}`, () => {
    let t: TestDatabase;
    let queries: LedgerQueries;

    beforeAll(async () => {
      t = await target.open([projectionMigrations]);
      queries = createQueries(t.database, t.store);
    });
    afterAll(async () => {
      await t?.cleanup();
    });

    /** Append the scenario in a random interleaving, catching up at random moments. */
    async function play(s: Scenario, runner: ProjectionRunner): Promise<string> {
      const code = `d${++contractSeq}`;
      const queues = streamsOf(code, s).map((q) => ({ ...q, next: 0 }));
      let step = 0;
      for (;;) {
        const open = queues.filter((q) => q.next < q.events.length);
        if (open.length === 0) break;
        const q = open[s.picks[step % s.picks.length]! % open.length]!;
        await t.store.append(q.streamId, [q.events[q.next++]!]);
        if (s.catchUps[step % s.catchUps.length]) await runner.catchUp();
        await letTheRunnerIn();
        step++;
      }
      await runner.catchUp();
      return code;
    }

    async function checkAgainstFold(code: string, s: Scenario): Promise<void> {
      const expected = expectedOf(s);
      for (const month of ['2017-10', '2017-11', '2017-12', '2018-01']) {
        await letTheRunnerIn();
        const m = await queries.monthCharges(code, month);
        const want = expected.get(month) ?? new Map<string, Map<Category, Figure>>();
        const got = new Map(m.numbers.map((n) => [n.number, n]));
        expect([...got.keys()].sort(), month).toEqual([...want.keys()].sort());
        let monthSen = 0;
        for (const [number, byCategory] of want) {
          const n = got.get(number)!;
          for (const category of CATEGORIES) {
            const f = byCategory.get(category) ?? { normal: 0, billed: 0, calls: 0 };
            monthSen += f.normal;
            expect([n.normal[category].toString(), n.billed[category].toString()], `${month} ${number} ${category}`).toEqual([yen(f.normal), yen(f.billed)]);
          }
          expect(n.calls).toBe([...byCategory.values()].reduce((a, f) => a + f.calls, 0));

          // The calls on every call-detail page of the number, and of each category, add up to its
          // figure, and every page heads the listing with that same count and sum (ご利用金額合計).
          for (const category of [undefined, ...CATEGORIES]) {
            const figure = (category ? n.normal[category] : n.normal.total).toString();
            let listed = n.normal.total.minus(n.normal.total);
            let items = 0;
            const listedIds: string[] = [];
            for (let page = 1; ; page++) {
              const p = await queries.callDetails(code, month, number, category, page);
              for (const call of p.items) listed = listed.plus(call.charge);
              items += p.items.length;
              expect(p.sum.toString(), `${month} ${number} ${category ?? 'all'} page ${page} sum`).toBe(figure);
              listedIds.push(...p.items.map((i) => i.callId));
              expect(p.items.map((i) => i.seq)).toEqual(p.items.map((_, k) => (page - 1) * p.pageSize + k + 1));
              if (p.items.length < p.pageSize) {
                expect(items).toBe(p.total);
                break;
              }
            }
            expect(listed.toString(), `${month} ${number} ${category ?? 'all'} pages`).toBe(figure);
            // The pages, one after the other, are the listing in start order (sorted here by SQL, no page index).
            const { rows: ordered } = await sql<{ id: string }>`
              select call_id::text as id from proj_call_details
              where contract_code = ${code} and billing_month = ${month} and attributed_number = ${number} and not voided
                and (${category ?? null}::text is null or category = ${category ?? null})
              order by started_at, call_id`.execute(t.database.db);
            expect(listedIds, `${month} ${number} ${category ?? 'all'} order`).toEqual(ordered.map((r) => r.id));
          }
        }
        expect(m.normal.total.toString()).toBe(yen(monthSen));
      }
    }

    it('figures equal an independent fold, whatever the arrival order across streams', async () => {
      await fc.assert(
        fc.asyncProperty(scenarioArb, fc.integer({ min: 1, max: 40 }), async (s, batchSize) => {
          const runner = createProjectionRunner(t.database, t.store, { batchSize });
          const code = await play(s, runner);
          await checkAgainstFold(code, s);
        }),
        { numRuns: 30 },
      );
    }, 240_000);

    it('a rebuild equals the incremental path on the same events', async () => {
      const snapshot = async () => ({
        monthly: (await sql`select contract_code, billing_month, number, category, normal::text, billed::text, calls from proj_monthly_charges order by 1, 2, 3, 4`.execute(t.database.db)).rows,
        calls: (await sql`select call_id::text, contract_code, billing_month, using_number, attributed_number, started_at::text, charge::text, billed::text, voided, corrected from proj_call_details order by call_id`.execute(t.database.db)).rows,
        intervals: (await sql`select contract_code, from_t::text, to_t::text, number from proj_rep_intervals order by 1, 2`.execute(t.database.db)).rows,
        pages: (await sql`select contract_code, billing_month, number, listing, page, started_at::text, call_id::text from proj_call_pages order by 1, 2, 3, 4, 5`.execute(t.database.db)).rows,
      });
      await fc.assert(
        // Both rebuilds: set-based from the events table, and batch by batch (events in another store).
        fc.asyncProperty(scenarioArb, fc.integer({ min: 1, max: 40 }), fc.boolean(), async (s, batchSize, bulkRebuild) => {
          const runner = createProjectionRunner(t.database, t.store, { batchSize, rebuildBatchSize: 64, bulkRebuild });
          const code = await play(s, runner);
          const incremental = await snapshot();
          await runner.rebuild(['charges']);
          expect(await snapshot()).toEqual(incremental);
          await checkAgainstFold(code, s);
        }),
        { numRuns: 12 },
      );
    }, 240_000);

    it('with months closing at random moments: live, rebuild and the fold agree; a closed month never changes; money is carried, never made', async () => {
      const MONTHS = ['2017-10', '2017-11', '2017-12', '2018-01'];
      const snapshot = async (code: string) => ({
        monthly: (await sql`select billing_month, number, category, normal::text, billed::text, calls from proj_monthly_charges where contract_code = ${code} order by 1, 2, 3`.execute(t.database.db)).rows,
        calls: (await sql`select call_id::text, billing_month, attributed_number, charge::text, billed::text, voided, carried_from, carry, adjusted_call_id::text from proj_call_details where contract_code = ${code} order by call_id`.execute(t.database.db)).rows,
      });
      await fc.assert(
        fc.asyncProperty(
          scenarioArb.chain((s) => fc.integer({ min: 1, max: 3 }).map((closes) => ({ ...s, closes }))),
          fc.integer({ min: 1, max: 40 }),
          fc.boolean(),
          async (s, batchSize, bulkRebuild) => {
            const runner = createProjectionRunner(t.database, t.store, { batchSize, rebuildBatchSize: 64, bulkRebuild });
            const code = await play(s, runner);
            const deps = { database: t.database, store: t.store, queries };
            for (const month of MONTHS) expect(await verifyMonth(deps, code, month), month).toMatchObject({ ok: true });

            // A closed month shows what it showed when it closed: the fold up to its close.
            const events = [
              ...(await t.store.readStream(streams.contract(code))),
              ...(await t.store.readStream(streams.billing(code))),
              ...(await Promise.all(MONTHS.map((m) => t.store.readStream(streams.calls(code, m))))).flat(),
            ];
            const all = foldLedger(events);
            for (const [month, position] of all.closes) {
              const then = figuresOf(foldLedger(events, position), month);
              const now = figuresOf(all, month);
              expect(JSON.stringify([...now].map(([n, c]) => [n, [...c]])), `${month} after its close`).toBe(JSON.stringify([...then].map(([n, c]) => [n, [...c]])));
            }

            // Carrying moves amounts between months, never makes them: the months add up to every call's final value.
            let finalSen = 0;
            s.calls.forEach((c, index) => {
              const adjustments = s.adjustments.filter((a) => a.call % s.calls.length === index);
              if (adjustments.some((a) => a.void)) return;
              finalSen += adjustments.filter((a) => !a.void).at(-1)?.sen ?? c.sen;
            });
            let projectedSen = 0;
            for (const month of MONTHS) {
              const total = (await engineerCharges(queries, code, month)).normal.total;
              const [whole, cents] = total.replace('-', '').split('.');
              projectedSen += (total.startsWith('-') ? -1 : 1) * (Number(whole) * 100 + Number(cents));
            }
            expect(projectedSen).toBe(finalSen);

            // As-of from the projection's history equals the fold up to the same position, at any position.
            const positions = [...new Set(events.map((e) => e.position))].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
            const step = Math.max(1, Math.floor(positions.length / 6));
            for (let k = 0; k < positions.length; k += step) {
              const at = positions[k]!;
              const folded = foldLedger(events, at);
              for (const month of MONTHS) {
                expect(await chargesFromProjectionAt(t.store, t.database, code, month, at), `${month} at ${at}`).toEqual(chargesOfFold(code, month, folded));
              }
            }

            const incremental = await snapshot(code);
            await runner.rebuild(['charges']);
            expect(await snapshot(code)).toEqual(incremental);
          },
        ),
        { numRuns: 15 },
      );
    }, 300_000);
  });
}
