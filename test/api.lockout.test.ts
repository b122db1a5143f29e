// The lockout (INTERFACE: 5 wrong passwords in a row lock a self ID for 15 minutes) against guesses
// truly in flight at once — through a real socket, many requests open together — and the password
// change: its current-password check counts toward the same limit, its new hash and its event
// commit together or not at all, and a login checked against the old password opens no session.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import { handleContractCommand, commandEventId } from '../domain/contract-service.ts';
import type { ChangeSelfPassword } from '../domain/contract.ts';
import { credentialsOfContract, hashPassword, LOCKOUT_MINUTES, MAX_FAILED_ATTEMPTS, recordSuccessfulAttempt, reserveAttempt, setInitialCredentials, verifyPassword, type ReservedAttempt } from '../projections/credentials.ts';
import { commitCredentialChange } from '../api/credential-change.ts';
import { createMemoryEventStore } from './support/memory-store.ts';
import { sessionForRightPassword, DEFAULT_SESSION_POLICY } from '../api/sessions.ts';
import { applyPasswordChange, checkPasswordChange } from '../api/routes/password.ts';
import { testTargets } from './support/stores.ts';
import { migrate } from '../eventstore/database.ts';
import { eventStoreMigrations } from '../eventstore/sql.ts';
import { projectionMigrations } from '../projections/index.ts';
import { apiMigrations } from '../api/migrations.ts';
import { listenOnLoopback, type LiveServer } from './support/http.ts';
import { json, MID_DECEMBER_2017, openBareContract, openFixture, unboundedPasswordChecks, type Fixture } from './api.support.ts';

let nextCustomer = 0;
/** These tests call the checks themselves, many at once, and are not about their turns. */
const unbounded = unboundedPasswordChecks();

/** A contract of its own for each test, so that no test's failures count in another's run. */
async function newCustomer(f: Fixture, password = 'abc123') {
  const n = ++nextCustomer;
  const customer = await openBareContract(f, `d5${String(n).padStart(8, '0')}`, `03500${String(n).padStart(5, '0')}`, password);
  await f.catchUp();
  return customer;
}

const statuses = (responses: readonly Response[]) => {
  const count = new Map<number, number>();
  for (const r of responses) count.set(r.status, (count.get(r.status) ?? 0) + 1);
  return count;
};

describe.each(testTargets)('the lockout on $name', (target) => {
  let f: Fixture;
  let live: LiveServer;
  beforeAll(async () => {
    f = await openFixture(target);
    live = await listenOnLoopback(f.app.fetch);
  });
  afterAll(async () => {
    await live?.close();
    await f?.close();
  });

  const login = (selfId: string, password: string) =>
    live.fetch('/api/v1/session', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ selfId, password }) });
  const changePassword = (token: string, currentPassword: string, newPassword = 'Next42ab') =>
    live.fetch('/api/v1/password', {
      method: 'PUT',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({ currentPassword, newPassword, newPasswordConfirmation: newPassword }),
    });
  const tokenOf = async (res: Response) => ((await res.json()) as { token: string }).token;

  describe('guesses sent at once', () => {
    it('judges 5 of 20 wrong guesses in flight together (401) and refuses the other 15 before hashing (429); then the right password is refused too', async () => {
      const c = await newCustomer(f);
      const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => login(c.selfId, `wrong${i}`)));
      const count = statuses(answers);
      expect(count.get(401)).toBe(MAX_FAILED_ATTEMPTS);
      expect(count.get(429)).toBe(20 - MAX_FAILED_ATTEMPTS);
      for (const r of answers.filter((r) => r.status === 429)) {
        expect(Number(r.headers.get('retry-after'))).toBeGreaterThan(0);
        expect((await json(r)).error.code).toBe('TOO_MANY_ATTEMPTS');
      }
      expect((await login(c.selfId, c.password)).status).toBe(429);
    });

    it('after 3 failures judges only 2 more of a burst', async () => {
      const c = await newCustomer(f);
      for (let i = 0; i < 3; i++) expect((await login(c.selfId, 'nope99')).status).toBe(401);
      const count = statuses(await Promise.all(Array.from({ length: 12 }, () => login(c.selfId, 'nope98'))));
      expect(count.get(401)).toBe(2);
      expect(count.get(429)).toBe(10);
    });

    it('lets the customer’s own right password through a burst of wrong ones without resetting the guesses counted after it', async () => {
      const c = await newCustomer(f);
      const answers = await Promise.all([...Array.from({ length: 15 }, () => login(c.selfId, 'nope97')), login(c.selfId, c.password)]);
      const count = statuses(answers);
      // At most the 4 wrong guesses placed before the right one (its success ends that run) and 5 after it.
      expect(count.get(401) ?? 0).toBeLessThanOrEqual(2 * MAX_FAILED_ATTEMPTS - 1);
      expect((count.get(401) ?? 0) + (count.get(429) ?? 0) + (count.get(200) ?? 0)).toBe(16);
    });

    it('answers the 4th wrong guess with a warning and the 5th with the lock’s end', async () => {
      const c = await newCustomer(f);
      for (let i = 0; i < 3; i++) expect((await json(await login(c.selfId, 'nope99'))).error.message).toBe('the self ID or the password is wrong');
      const fourth = await login(c.selfId, 'nope99');
      expect((await json(fourth)).error.message).toContain('one more failure locks this self ID for 15 minutes');
      const fifth = await json(await login(c.selfId, 'nope99'));
      expect(fifth.error.code).toBe('INVALID_CREDENTIALS');
      expect(fifth.error.message).toContain('until 2017-12-15T12:15:00.000+09:00');
    });
  });

  describe('a right password among guesses in flight', () => {
    // Order of events made explicit: the reservations are taken in one order, the answers come in another.
    it('ends only the run reserved before it: a lock completed by guesses it precedes is lifted, and they stay counted', async () => {
      const c = await newCustomer(f);
      const at = f.now;
      const reserve = async () => {
        const r = await reserveAttempt(f.db.database.db, { selfId: c.selfId }, at);
        if (r.outcome !== 'reserved') throw new Error(`not reserved: ${r.outcome}`);
        return r.attempt;
      };
      const right = await reserve();
      const wrong: ReservedAttempt[] = [];
      for (let i = 0; i < 4; i++) wrong.push(await reserve());
      // The 5th reservation in a row locked the self ID while all five were in flight.
      expect(wrong[3]!.lockedUntil).toEqual(new Date(at.getTime() + LOCKOUT_MINUTES * 60_000));
      expect((await reserveAttempt(f.db.database.db, { selfId: c.selfId }, at)).outcome).toBe('locked');
      // The right one answers last: its success lifts the lock, as its 4 followers are not 5 failures…
      expect(await recordSuccessfulAttempt(f.db.database.db, right)).toBe(true);
      // …but those 4 wrong guesses still count: one more locks.
      const next = await reserve();
      expect(next.inRun).toBe(MAX_FAILED_ATTEMPTS);
      expect(next.lockedUntil).toBeDefined();
    });

    it('a success answering after wrong guesses reserved before it ends their run', async () => {
      const c = await newCustomer(f);
      const at = f.now;
      for (let i = 0; i < 4; i++) await reserveAttempt(f.db.database.db, { selfId: c.selfId }, at);
      const r = await reserveAttempt(f.db.database.db, { selfId: c.selfId }, at);
      if (r.outcome !== 'reserved') throw new Error(r.outcome);
      expect(await recordSuccessfulAttempt(f.db.database.db, r.attempt)).toBe(true);
      const after = await reserveAttempt(f.db.database.db, { selfId: c.selfId }, at);
      expect(after.outcome === 'reserved' && after.attempt.inRun).toBe(1);
    });
  });

  describe('the current password of a change', () => {
    it('counts toward the same limit: 5 wrong current passwords answer 422, then 429 — to the change and to a login', async () => {
      const c = await newCustomer(f);
      const token = await tokenOf(await login(c.selfId, c.password));
      const codes: string[] = [];
      for (let i = 0; i < MAX_FAILED_ATTEMPTS; i++) {
        const res = await changePassword(token, `bad${i}xx`);
        expect(res.status).toBe(422);
        const body = await json(res);
        codes.push(body.error.code);
        if (i === 3) expect(body.error.message).toContain('one more wrong password locks this self ID');
        if (i === 4) expect(body.error.message).toContain('locked until 2017-12-15T12:15:00.000+09:00');
      }
      expect(codes).toEqual(Array(MAX_FAILED_ATTEMPTS).fill('CURRENT_PASSWORD_WRONG'));
      const locked = await changePassword(token, c.password);
      expect(locked.status).toBe(429);
      expect((await json(locked)).error.code).toBe('TOO_MANY_ATTEMPTS');
      expect((await login(c.selfId, c.password)).status).toBe(429);
      // The session itself goes on: the lock is on password checks, not on reading.
      expect((await live.fetch('/api/v1/contract', { headers: { authorization: `Bearer ${token}` } })).status).toBe(200);
    });

    it('judges at most 5 of 20 wrong current passwords sent at once', async () => {
      const c = await newCustomer(f);
      const token = await tokenOf(await login(c.selfId, c.password));
      const count = statuses(await Promise.all(Array.from({ length: 20 }, (_, i) => changePassword(token, `bad${i}yy`))));
      expect(count.get(422)).toBe(MAX_FAILED_ATTEMPTS);
      expect(count.get(429)).toBe(20 - MAX_FAILED_ATTEMPTS);
    });
  });

  describe('a password change is one commit with its event', () => {
    const changeEvents = async (code: string) => (await f.db.store.readStream(`contract-${code}`)).filter((e) => e.type === 'SelfPasswordChanged');

    it('when the event cannot be stored, answers the error and leaves the old password in force and the other sessions open', async () => {
      const c = await newCustomer(f);
      const other = await tokenOf(await login(c.selfId, c.password));
      const token = await tokenOf(await login(c.selfId, c.password));
      // The change's event id is taken by another event: the event store refuses the append.
      const command: ChangeSelfPassword = { type: 'ChangeSelfPassword', contractCode: c.code, now: f.now.toISOString() };
      await f.db.store.append('squatter-1', [{ id: commandEventId(command, 0), type: 'Squatter', data: { x: 1 } }]);
      const res = await changePassword(token, c.password, 'Lost42ab');
      expect(res.status).toBe(409);
      expect((await json(res)).error.code).toBe('EVENT_ID_CONFLICT');
      expect(await changeEvents(c.code)).toHaveLength(0);
      expect((await login(c.selfId, 'Lost42ab')).status).toBe(401);
      expect((await login(c.selfId, c.password)).status).toBe(200);
      expect((await live.fetch('/api/v1/contract', { headers: { authorization: `Bearer ${other}` } })).status).toBe(200);
    });

    it('when the credential cannot be written, stores no event (an engineer’s reset as well)', async () => {
      const c = await newCustomer(f);
      const token = await tokenOf(await login(c.selfId, c.password));
      const db = f.db.database.db;
      await sql`create function refuse_credential_write() returns trigger language plpgsql as $$ begin raise exception 'credential writes refused by the test'; end $$`.execute(db);
      await sql.raw(`create trigger refuse_credential_write before update on credentials for each row when (new.password_hash is distinct from old.password_hash) execute function refuse_credential_write()`).execute(db);
      try {
        const change = await changePassword(token, c.password, 'Kept42ab');
        expect(change.status, await change.clone().text()).toBe(500);
        const reset = await live.fetch(`/api/v1/admin/contracts/${c.code}/password-reset`, { method: 'POST', headers: { authorization: `Bearer ${f.adminToken}` } });
        expect(reset.status).toBe(500);
      } finally {
        await sql`drop trigger refuse_credential_write on credentials`.execute(db);
        await sql`drop function refuse_credential_write()`.execute(db);
      }
      const events = await f.db.store.readStream(`contract-${c.code}`);
      expect(events.filter((e) => e.type === 'SelfPasswordChanged' || e.type === 'SelfPasswordReset')).toHaveLength(0);
      expect((await login(c.selfId, c.password)).status).toBe(200);
    });

    it('refuses (409) a change checked against a password replaced before it commits, and stores nothing of it', async () => {
      const c = await newCustomer(f);
      const token = await tokenOf(await login(c.selfId, c.password));
      const check = await checkPasswordChange({ db: f.db.database.db, passwordChecks: unbounded }, c.code, { currentPassword: c.password, newPassword: 'Mine42ab', newPasswordConfirmation: 'Mine42ab' }, f.now);
      expect(check.problems).toEqual([]);
      const reset = await live.fetch(`/api/v1/admin/contracts/${c.code}/password-reset`, { method: 'POST', headers: { authorization: `Bearer ${f.adminToken}` } });
      const { initialPassword } = await json(reset);
      await expect(
        applyPasswordChange({ db: f.db.database.db, store: f.db.store, clock: () => f.now, passwordChecks: unbounded }, { contractCode: c.code, selfId: c.selfId, keepSession: token, source: 'test', verifiedEpoch: check.verifiedEpoch! }, 'Mine42ab'),
      ).rejects.toMatchObject({ status: 409, code: 'PASSWORD_CHANGED_MEANWHILE' });
      expect(await changeEvents(c.code)).toHaveLength(0);
      expect((await login(c.selfId, 'Mine42ab')).status).toBe(401);
      expect((await login(c.selfId, initialPassword)).status).toBe(200);
    });
  });

  describe('on an event store without a shared transaction (EventStoreDB’s case)', () => {
    it('keeps the credential transaction open over the append: a refused append leaves the old password, a stored one the new', async () => {
      const events = createMemoryEventStore();
      const code = 'd700000001';
      await handleContractCommand(events, { type: 'OpenContract', contractCode: code, selfId: code, startDate: '2010-11-15', channels: 1, connectionType: 'ダイヤルイン接続', primaryDns: '192.0.2.1', secondaryDns: '192.0.2.2', basicNumber: '0357000001' });
      const db = f.db.database.db;
      await setInitialCredentials(db, { contractCode: code, selfId: code, password: 'old123' });
      const change = async (password: string, at: string) =>
        commitCredentialChange({ db, store: events }, { command: { type: 'ChangeSelfPassword', contractCode: code, now: at }, hash: await hashPassword(password), source: 'test' });
      events.beforeAppend = () => {
        throw new Error('the event store is unreachable');
      };
      await expect(change('new123', '2017-12-15T03:00:00.000Z')).rejects.toThrow('unreachable');
      const hashOf = async () => (await credentialsOfContract(db, code))!.password_hash;
      expect(await verifyPassword('old123', await hashOf())).toBe(true);
      events.beforeAppend = undefined;
      await change('new456', '2017-12-15T03:00:01.000Z');
      expect(await verifyPassword('new456', await hashOf())).toBe(true);
      expect((await events.readStream(`contract-${code}`)).map((e) => e.type)).toEqual(['ContractOpened', 'SelfPasswordChanged']);
    });
  });

  describe('an old password does not outlive its change', () => {
    it('a login whose password was checked before the change committed opens no session', async () => {
      const c = await newCustomer(f);
      const token = await tokenOf(await login(c.selfId, c.password));
      // A login with the old password is between its reservation (hash read) and its session…
      const r = await reserveAttempt(f.db.database.db, { selfId: c.selfId }, f.now);
      if (r.outcome !== 'reserved') throw new Error(r.outcome);
      // …when the change commits.
      expect((await changePassword(token, c.password, 'Fresh4ab')).status).toBe(204);
      expect(await sessionForRightPassword(f.db.database.db, r.attempt, f.now, DEFAULT_SESSION_POLICY)).toBeUndefined();
      const { rows } = await sql<{ n: number }>`select count(*)::int as n from sessions where contract_code = ${c.code}`.execute(f.db.database.db);
      expect(rows[0]!.n).toBe(1); // the changing session only
    });

    it('no token from the old password answers once a change made during a burst of logins has returned', async () => {
      for (let round = 0; round < 3; round++) {
        const c = await newCustomer(f);
        const token = await tokenOf(await login(c.selfId, c.password));
        // Four logins and the change: five password checks in flight, as many as a run allows.
        const [change, ...answers] = await Promise.all([changePassword(token, c.password, 'Burst4ab'), ...Array.from({ length: 4 }, () => login(c.selfId, c.password))]);
        expect(change.status).toBe(204);
        const oldTokens = await Promise.all(answers.filter((r) => r.status === 200).map(tokenOf));
        for (const t of oldTokens) expect((await live.fetch('/api/v1/contract', { headers: { authorization: `Bearer ${t}` } })).status).toBe(401);
        expect((await live.fetch('/api/v1/contract', { headers: { authorization: `Bearer ${token}` } })).status).toBe(200);
      }
    });
  });

  it('a store written before attempts were reserved keeps a run in progress and a lock in force', async () => {
    const earlier = Object.fromEntries(Object.entries({ ...projectionMigrations, ...apiMigrations }).filter(([name]) => name < '0210'));
    const db = await target.open([earlier]);
    try {
      const x = db.database.db;
      await setInitialCredentials(x, { contractCode: 'd600000001', selfId: 'd600000001', password: 'abc123' });
      await setInitialCredentials(x, { contractCode: 'd600000002', selfId: 'd600000002', password: 'abc123' });
      const until = new Date(MID_DECEMBER_2017.getTime() + 10 * 60_000);
      await sql`update credentials set failed_attempts = 4 where contract_code = 'd600000001'`.execute(x);
      await sql`update credentials set failed_attempts = 0, locked_until = ${until.toISOString()}::timestamptz where contract_code = 'd600000002'`.execute(x);
      await migrate(db.database, eventStoreMigrations, projectionMigrations, apiMigrations);
      const fifth = await reserveAttempt(x, { selfId: 'd600000001' }, MID_DECEMBER_2017);
      expect(fifth.outcome === 'reserved' && fifth.attempt.inRun).toBe(MAX_FAILED_ATTEMPTS);
      expect(await reserveAttempt(x, { selfId: 'd600000002' }, MID_DECEMBER_2017)).toEqual({ outcome: 'locked', until });
    } finally {
      await db.cleanup();
    }
  });

  it('leaves the clock where the fixture set it', () => {
    expect(f.now).toEqual(MID_DECEMBER_2017);
  });
});
