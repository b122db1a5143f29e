// A contract holds at most MAX_SESSIONS_PER_CONTRACT live sessions (api/sessions.ts): the login
// beyond ends its least recently seen ones, at once in this process, whether the logins come one
// after another or all together, and never another contract's.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import { reserveAttempt } from '../projections/credentials.ts';
import { DEFAULT_SESSION_POLICY, hashToken, MAX_SESSIONS_PER_CONTRACT, sessionForRightPassword } from '../api/sessions.ts';
import { ContractRequestGate } from '../api/fairness.ts';
import { json, MID_DECEMBER_2017, openBareContract, openFixture, type Fixture } from './api.support.ts';
import { postgresTarget, testTargets } from './support/stores.ts';

let nextCustomer = 0;

describe.each(testTargets)('live sessions per contract on $name', (target) => {
  let f: Fixture;
  let atOnce: ReturnType<Fixture['appWith']>;
  beforeAll(async () => {
    f = await openFixture(target);
    // Up to 3 logins of a self ID at once reach the database together. Not 5: the lockout counts an
    // attempt from its reservation on, so 5 reserved at once lock the self ID even with the right
    // password (the default gate checks one at a time per self ID).
    atOnce = f.appWith({ passwordChecks: new ContractRequestGate({ inFlight: 3, waiting: 100, total: 100, waitingTotal: 1_000, perSecond: Number.POSITIVE_INFINITY }) });
  });
  afterAll(async () => {
    await f?.close();
  });

  /** A contract of its own for each test. */
  async function newCustomer() {
    const n = ++nextCustomer;
    const { code } = await openBareContract(f, `d6${String(n).padStart(8, '0')}`, `03600${String(n).padStart(5, '0')}`);
    await f.catchUp();
    return {
      code,
      login: () => f.login(code, 'abc123'),
      /** 20 logins sent together. */
      async twentyAtOnce(): Promise<string[]> {
        const answers = await Promise.all(
          Array.from({ length: 20 }, () =>
            atOnce.request('/api/v1/session', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ selfId: code, password: 'abc123' }) }),
          ),
        );
        expect(answers.map((r) => r.status)).toEqual(Array(20).fill(200));
        return Promise.all(answers.map(async (r) => (await json<{ token: string }>(r)).token));
      },
    };
  }
  const answers = async (token: string) => (await f.request('GET', '/api/v1/contract', { token })).status;
  const rowsOf = async (code: string) => {
    const { rows } = await sql<{ token_hash: string }>`select token_hash from sessions where contract_code = ${code}`.execute(f.db.database.db);
    return new Set(rows.map((r) => r.token_hash));
  };

  it('is 10', () => {
    expect(MAX_SESSIONS_PER_CONTRACT).toBe(10);
  });

  it('12 logins in a row: the 2 oldest sessions end at once (401, though just used), the newest 10 answer, 10 rows', async () => {
    f.now = MID_DECEMBER_2017;
    const a = await newCustomer();
    const tokens: string[] = [];
    for (let i = 0; i < 10; i++) tokens.push(await a.login());
    // The two oldest are in this process's session cache now, as a page's requests leave them.
    expect(await answers(tokens[0]!)).toBe(200);
    expect(await answers(tokens[1]!)).toBe(200);
    tokens.push(await a.login(), await a.login());
    expect(await answers(tokens[0]!)).toBe(401);
    expect(await answers(tokens[1]!)).toBe(401);
    for (const token of tokens.slice(2)) expect(await answers(token)).toBe(200);
    expect((await rowsOf(a.code)).size).toBe(MAX_SESSIONS_PER_CONTRACT);
  });

  it('ends the least recently seen session, not the oldest login', async () => {
    f.now = MID_DECEMBER_2017;
    const a = await newCustomer();
    const tokens: string[] = [];
    for (let i = 0; i < 10; i++) tokens.push(await a.login());
    f.now = new Date(MID_DECEMBER_2017.getTime() + 5 * 60_000);
    expect(await answers(tokens[0]!)).toBe(200); // seen now: no longer the least recently seen
    tokens.push(await a.login());
    expect(await answers(tokens[0]!)).toBe(200);
    expect(await answers(tokens[1]!)).toBe(401);
    expect((await rowsOf(a.code)).size).toBe(MAX_SESSIONS_PER_CONTRACT);
    f.now = MID_DECEMBER_2017;
  });

  it('20 logins at once leave at most 10 rows, and every token that answers is one of them', async () => {
    f.now = MID_DECEMBER_2017;
    const a = await newCustomer();
    const tokens = await a.twentyAtOnce();
    const rows = await rowsOf(a.code);
    expect(rows.size).toBeLessThanOrEqual(MAX_SESSIONS_PER_CONTRACT);
    const answering = [];
    for (const token of tokens) if ((await answers(token)) === 200) answering.push(token);
    for (const token of answering) expect(rows.has(hashToken(token))).toBe(true);
    expect(answering.length).toBe(rows.size);
    expect(answering.length).toBeGreaterThan(0);
  });

  it("leaves another contract's sessions alone", async () => {
    f.now = MID_DECEMBER_2017;
    const a = await newCustomer();
    const b = await newCustomer();
    const ofB = [await b.login(), await b.login(), await b.login()];
    for (const token of ofB) expect(await answers(token)).toBe(200);
    for (let i = 0; i < 12; i++) await a.login();
    await a.twentyAtOnce();
    for (const token of ofB) expect(await answers(token)).toBe(200);
    expect(await rowsOf(b.code)).toEqual(new Set(ofB.map(hashToken)));
    expect((await rowsOf(a.code)).size).toBe(MAX_SESSIONS_PER_CONTRACT);
  });
});

// On PostgreSQL two logins of a contract can wait at once behind its credential row (another
// process's login holding it, say). Each statement's snapshot is taken before that wait, so the
// ending of extra sessions must be a statement of its own after the insert, in the same transaction.
describe.skipIf(!postgresTarget)('live sessions per contract, logins released together on PostgreSQL', () => {
  let f: Fixture;
  beforeAll(async () => {
    f = await openFixture(postgresTarget!);
  });
  afterAll(async () => {
    await f?.close();
  });

  it('two logins that waited together for the credential row leave 10 sessions, not 11', async () => {
    const { code } = await openBareContract(f, 'd6' + '9'.repeat(8), '0360099999');
    for (let i = 0; i < MAX_SESSIONS_PER_CONTRACT - 1; i++) await f.login(code, 'abc123');
    const db = f.db.database.db;
    const reserve = async () => {
      const r = await reserveAttempt(db, { selfId: code }, f.now);
      if (r.outcome !== 'reserved') throw new Error(r.outcome);
      return r.attempt;
    };
    const [first, second] = [await reserve(), await reserve()];
    const opened = await db.connection().execute(async (holder) => {
      await sql`begin`.execute(holder);
      await sql`select 1 from credentials where contract_code = ${code} for update`.execute(holder);
      const logins = [first, second].map((attempt) => sessionForRightPassword(db, attempt, f.now, DEFAULT_SESSION_POLICY));
      // Asked on another connection: a transaction sees one snapshot of pg_stat_activity.
      const waiting = async () => {
        const { rows } = await sql<{ n: number }>`
          select count(*)::int as n from pg_stat_activity
          where datname = current_database() and wait_event_type = 'Lock' and query like '%insert into sessions%'`.execute(db);
        return Number(rows[0]!.n);
      };
      for (let i = 0; i < 200 && (await waiting()) < 2; i++) await new Promise((r) => setTimeout(r, 10));
      expect(await waiting()).toBe(2);
      await sql`commit`.execute(holder);
      return Promise.all(logins);
    });
    expect(opened.every((o) => o !== undefined)).toBe(true);
    const { rows } = await sql<{ n: number }>`select count(*)::int as n from sessions where contract_code = ${code}`.execute(db);
    expect(Number(rows[0]!.n)).toBe(MAX_SESSIONS_PER_CONTRACT);
  });
});
