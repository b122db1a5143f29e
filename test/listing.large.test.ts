// A number with 100,000 calls in a month (a representative number gathers a contract's calls): every
// page of its call details costs what page 2 does, and the portal's page links stay a handful.
// The work of a request is measured by what PostgreSQL's executor reads (EXPLAIN ANALYZE), not by
// time, which the test machine cannot promise.
import { randomUUID } from 'node:crypto';
import { CompiledQuery, sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { callRecordedData, parseCallRow } from '../domain/call.ts';
import { streams } from '../domain/events.ts';
import { ALL_CATEGORIES } from '../projections/charges.ts';
import { callPageStatement } from '../projections/queries.ts';
import { testTargets } from './support/stores.ts';
import { A, B, json, openContract, recordCalls, row, type Fixture, openFixture } from './api.support.ts';

const MONTH = '2017-11';

/** Call i of the month: spread over the days, one every 20 seconds, every fifth a mobile call. */
function callRow(i: number) {
  const day = 1 + (i % 28);
  const second = Math.floor(i / 28) * 20;
  const hh = String(Math.floor(second / 3600)).padStart(2, '0');
  const mm = String(Math.floor((second % 3600) / 60)).padStart(2, '0');
  const ss = String(second % 60).padStart(2, '0');
  const mobile = i % 5 === 0;
  return row(A.dialIn, `2017/11/${String(day).padStart(2, '0')}`, `${hh}${mm}${ss}.0`, mobile ? '携帯呼' : '国内呼', mobile ? '16.00' : '8.00', mobile ? { destination: '080-1234-5678', area: '携帯' } : {});
}

/** Rows each plan node produced, summed: what the executor read and passed on for one request. */
function rowsProduced(plan: { 'Actual Rows'?: number; 'Actual Loops'?: number; Plans?: unknown[] }): number {
  const own = (plan['Actual Rows'] ?? 0) * (plan['Actual Loops'] ?? 1);
  return own + (plan.Plans ?? []).reduce<number>((a, p) => a + rowsProduced(p as typeof plan), 0);
}

/** Calls arriving late, inside the month (out of start order), one of the existing ones voided and one corrected; returns how many calls came. */
async function recordLate(f: Fixture, offset: number): Promise<number> {
  const rows = Array.from({ length: 30 }, (_, k) => row(A.dialIn, `2017/11/${String(2 + (k % 20)).padStart(2, '0')}`, `0000${String(k).padStart(2, '0')}.5`, '国内呼', '8.00'));
  await recordCalls(f, A.code, rows);
  const { rows: some } = await sql<{ id: string }>`
    select call_id::text as id from proj_call_details where contract_code = ${A.code} and billing_month = ${MONTH} order by started_at, call_id offset ${offset} limit 2`.execute(f.db.database.db);
  await f.db.store.append(streams.calls(A.code, MONTH), [
    { id: randomUUID(), type: 'CallVoided', data: { callId: some[0]!.id, reason: 'duplicate' } },
    { id: randomUUID(), type: 'CallCorrected', data: { callId: some[1]!.id, charge: '4.00', reason: 'carrier correction' } },
  ]);
  return rows.length;
}

// 100,000 on PostgreSQL (the server's store). PGlite runs its statements on the test's own thread,
// where minutes of bulk work starve the test runner: the same paths there with 3,000.
describe.each(testTargets)('a large listing on $name', (target) => {
  const CALLS = target.name === 'PostgreSQL' ? 100_000 : 3_000;
  const LAST_PAGE = CALLS / 10;
  let f: Fixture;
  let tokenA: string;
  let tokenB: string;

  beforeAll(async () => {
    f = await openFixture(target);
    await openContract(f, A);
    await openContract(f, B);
    const events = [];
    for (let i = 0; i < CALLS; i++) {
      const parsed = parseCallRow(callRow(i));
      if (!parsed.ok) throw new Error(JSON.stringify(parsed.problems));
      const data = callRecordedData(parsed.call, A.code);
      events.push({ id: data.callId, type: 'CallRecorded', data });
    }
    for (let i = 0; i < events.length; i += 10_000) {
      await f.db.store.appendMany([{ streamId: streams.calls(A.code, MONTH), events: events.slice(i, i + 10_000) }]);
    }
    await recordCalls(f, B.code, [row(B.dialIn, '2017/11/20', '100000.0', '国内呼', '16.00')]);
    await f.catchUp();
    tokenA = await f.login(A.selfId, A.password);
    tokenB = await f.login(B.selfId, B.password);
  }, 600_000);
  afterAll(async () => {
    await f?.close();
  });

  const calls = (token: string, page: number, category?: string) =>
    f.request('GET', `/api/v1/charges/${MONTH}/numbers/${A.dialIn}/calls?page=${page}${category ? `&category=${category}` : ''}`, { token });

  /** Each page through the API, against the oracle: the same calls by a plain sort of the listing. */
  async function expectPages(pages: readonly number[], total: number): Promise<void> {
    for (const page of pages) {
      const res = await calls(tokenA, page);
      expect(res.status).toBe(200);
      const text = await res.text();
      expect(text.length).toBeLessThan(8_000);
      const body = JSON.parse(text);
      expect(body.total).toBe(total);
      const { rows } = await sql<{ id: string }>`
        select call_id::text as id from proj_call_details
        where contract_code = ${A.code} and billing_month = ${MONTH} and attributed_number = ${A.dialIn} and not voided
        order by started_at, call_id offset ${(page - 1) * 10} limit 10`.execute(f.db.database.db);
      expect(rows.length).toBeGreaterThan(0);
      expect(body.items.map((i: { seq: number }) => i.seq)).toEqual(rows.map((_, k) => (page - 1) * 10 + k + 1));
      expect(body.items.map((i: { callId: string }) => i.callId)).toEqual(rows.map((r) => r.id));
    }
  }

  it('answers page 1 and the last page with their ten calls, in start order, in a small body', async () => {
    await expectPages([1, 2, LAST_PAGE], CALLS);
    const after = await json(await calls(tokenA, LAST_PAGE + 1));
    expect(after.items).toEqual([]);
    expect(after.total).toBe(CALLS);
  });

  it('reads about one page of rows for any page, of the listing or of a category (no OFFSET over the calls before it)', async () => {
    const db = f.db.database.db;
    const cases = [
      { category: undefined, page: 2 },
      { category: undefined, page: LAST_PAGE },
      { category: 'otherMobile', page: 2 },
      { category: 'otherMobile', page: CALLS / 5 / 10 },
    ];
    for (const c of cases) {
      const statement = callPageStatement(c.category !== undefined);
      const values = [A.code, MONTH, A.dialIn, c.category ?? ALL_CATEGORIES, c.page];
      const { rows } = await db.executeQuery<{ 'QUERY PLAN': unknown }>(CompiledQuery.raw(`explain (analyze, format json) ${statement.text}`, values));
      const raw = rows[0]!['QUERY PLAN'];
      const plan = (typeof raw === 'string' ? JSON.parse(raw) : raw) as [{ Plan: Parameters<typeof rowsProduced>[0] }];
      expect(rowsProduced(plan[0].Plan), `${c.category ?? 'all'} page ${c.page}`).toBeLessThan(100);
      // And the page is the right one.
      const page = await f.queries.callDetails(A.code, MONTH, A.dialIn, c.category as never, c.page);
      expect(page.items).toHaveLength(10);
      expect(page.items[0]!.seq).toBe((c.page - 1) * 10 + 1);
    }
  });

  it('draws a handful of page links on the portal, first, last and around the current page, whatever the size', async () => {
    const middle = LAST_PAGE / 2;
    for (const [page, links] of [
      [1, [1, 2, 3, LAST_PAGE]],
      [middle, [1, middle - 2, middle - 1, middle, middle + 1, middle + 2, LAST_PAGE]],
      [LAST_PAGE, [1, LAST_PAGE - 2, LAST_PAGE - 1, LAST_PAGE]],
    ] as const) {
      const res = await f.app.request(`/charges/${MONTH}/numbers/${A.dialIn}/calls?page=${page}`, { headers: { cookie: `ledger_session=${tokenA}` } });
      expect(res.status).toBe(200);
      const html = await res.text();
      expect(html.length).toBeLessThan(40_000);
      const pager = /<nav class="pager" aria-label="明細のページ">([\s\S]*?)<\/nav>/.exec(html)![1]!;
      const shown = [...pager.matchAll(/>(\d+)</g)].map((m) => Number(m[1]));
      expect(shown).toEqual(links);
      expect(pager.match(/…/g)?.length ?? 0).toBe(page === 1 || page === LAST_PAGE ? 1 : 2);
    }
  });

  it('redraws the pages after a late call, a void and a correction as a rebuild draws them (live path, at size)', async () => {
    const late = await recordLate(f, CALLS / 20);
    await f.catchUp();
    const db = f.db.database.db;
    // The oracle: every page start by a window over the calls, written here.
    const { rows } = await sql<{ missing: string; extra: string }>`
      with expected as (
        select contract_code, billing_month, attributed_number as number, listing, (n - 1) / 10 + 1 as page, started_at, call_id
        from (
          select c.*, l.listing, row_number() over (partition by c.contract_code, c.billing_month, c.attributed_number, l.listing order by c.started_at, c.call_id) as n
          from proj_call_details c cross join lateral (values ('all'), (c.category)) as l(listing)
          where not c.voided
        ) x where (n - 1) % 10 = 0
      ), actual as (select contract_code, billing_month, number, listing, page, started_at, call_id from proj_call_pages)
      select (select count(*) from (select * from expected except select * from actual) e)::text as missing,
             (select count(*) from (select * from actual except select * from expected) a)::text as extra`.execute(db);
    expect(rows[0]).toEqual({ missing: '0', extra: '0' });
    const total = CALLS + late - 1;
    await expectPages([1, Math.floor(total / 20), Math.ceil(total / 10)], total);
  }, 120_000);

  it('keeps every other customer to their own calls', async () => {
    const mine = await json(await f.request('GET', `/api/v1/charges/${MONTH}/numbers/${B.dialIn}/calls`, { token: tokenB }));
    expect(mine.total).toBe(1);
    expect((await calls(tokenB, LAST_PAGE)).status).toBe(404);
  });
});
