// Password checks take turns (api/password-checks.ts): at most `total` scrypt runs at once in the
// server, one at a time per claimed self ID, the rest waiting briefly or refused — 429 for a self
// ID's own queue, 503 for the server's — before any attempt is counted toward the lockout.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import { ContractRequestGate, type GateRefusal, type LanePlace } from '../api/fairness.ts';
import { MALFORMED_SELF_ID, passwordCheckGate, passwordCheckKey } from '../api/password-checks.ts';
import { A, B, json, openFixture, seedTwoContracts, type Fixture } from './api.support.ts';
import { testTargets } from './support/stores.ts';

describe('the key of a password check', () => {
  it('is the self ID itself when it has the self ID form', () => {
    expect(passwordCheckKey('d123456789')).toBe('d123456789');
  });

  it.each([
    ['a NUL inside', 'd12345\u00006789'],
    ['a NUL after', 'd123456789\u0000'],
    ['10 kB', `d${'1'.repeat(10_000)}`],
    ['10 kB of anything', 'x'.repeat(10_240)],
    ['a private-use character', 'd12345678\uE000'],
    ['private-use characters only', '\uE000\uF8FF\u{F0000}'],
    ['a trailing newline', 'd123456789\n'],
    ['a capital D', 'D123456789'],
    ['full-width digits', 'd１２３４５６７８９'],
    ['nothing', ''],
  ])('is the one shared key for malformed input: %s', (_, claimed) => {
    expect(passwordCheckKey(claimed)).toBe(MALFORMED_SELF_ID);
  });

  it('shares no key with any self ID', () => {
    expect(passwordCheckKey(MALFORMED_SELF_ID)).toBe(MALFORMED_SELF_ID);
    expect(MALFORMED_SELF_ID).not.toMatch(/^d\d{9}$/);
  });
});

describe('the default bound', () => {
  it('runs one check at a time per self ID, fewer at once than there are cores (at least one), a small rate per self ID', () => {
    const { limits } = passwordCheckGate();
    expect(limits.inFlight).toBe(1);
    expect(limits.total).toBeGreaterThanOrEqual(1);
    expect(limits.perSecond).toBeLessThanOrEqual(2);
    expect(Number.isFinite(limits.waitingTotal)).toBe(true);
  });
});

const placed = async (entering: Promise<LanePlace | GateRefusal>): Promise<LanePlace> => {
  const place = await entering;
  if (typeof place === 'string') throw new Error(`no place: ${place}`);
  return place;
};

/** Lets whatever can run run (the login's requests to the database included), then says whether the promise settled. */
async function settledSoon(p: Promise<unknown>, ms = 150): Promise<boolean> {
  let settled = false;
  void p.then(
    () => (settled = true),
    () => (settled = true),
  );
  await new Promise((r) => setTimeout(r, ms));
  return settled;
}

describe.each(testTargets)('password checks in turns on $name', (target) => {
  let f: Fixture;
  let gate: ContractRequestGate;
  beforeAll(async () => {
    f = await openFixture(target);
    await seedTwoContracts(f);
  });
  afterAll(async () => {
    await f?.close();
  });

  /** The app with a gate of its own: one check at a time in all, and the given queues. */
  const withGate = (limits: { waiting: number; waitingTotal: number }) => {
    gate = new ContractRequestGate({ inFlight: 1, total: 1, perSecond: Number.POSITIVE_INFINITY, ...limits });
    return f.appWith({ passwordChecks: gate });
  };
  const logIn = async (app: ReturnType<Fixture['appWith']>, selfId: string, password: string): Promise<Response> =>
    app.request('/api/v1/session', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ selfId, password }) });
  const attemptsOf = async (selfId: string) => {
    const { rows } = await sql<{ attempts: number }>`select attempts from credentials where self_id = ${selfId}`.execute(f.db.database.db);
    return Number(rows[0]!.attempts);
  };

  it('makes a second self ID wait while a check is in progress, and refuses one beyond the queues with 503 and the error body', async () => {
    const app = withGate({ waiting: 1, waitingTotal: 1 });
    const held = await placed(gate.enter('d111111111'));
    const waiting = logIn(app, A.selfId, A.password);
    expect(await settledSoon(waiting)).toBe(false);
    const before = await attemptsOf(B.selfId);
    const refused = await logIn(app, B.selfId, B.password);
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).toBe('1');
    expect((await json(refused)).error).toMatchObject({ code: 'SERVER_BUSY', message: expect.stringContaining('password checks') });
    expect(await attemptsOf(B.selfId)).toBe(before);
    held.release();
    expect((await waiting).status).toBe(200);
    expect((await logIn(app, B.selfId, B.password)).status).toBe(200);
  });

  it('drops a login whose client went away while it waited for its turn: no password check, no attempt counted', async () => {
    const app = withGate({ waiting: 4, waitingTotal: 100 });
    const held = await placed(gate.enter(A.selfId));
    const before = await attemptsOf(A.selfId);
    const dropped = new AbortController();
    const gone = Promise.resolve(app.request('/api/v1/session', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ selfId: A.selfId, password: 'wrong0' }), signal: dropped.signal }));
    const waiting = logIn(app, A.selfId, A.password);
    expect(await settledSoon(gone)).toBe(false);
    expect(gate.waiting).toBe(2);
    dropped.abort();
    expect((await json(await gone)).error.code).toBe('CLIENT_GONE');
    expect(gate.waiting).toBe(1);
    held.release();
    expect((await waiting).status).toBe(200);
    // The dropped wrong guess was never checked: the one attempt counted is the right password's.
    expect(await attemptsOf(A.selfId)).toBe(before + 1);
  });

  it('refuses a self ID beyond its own queue with 429 TOO_MANY_PASSWORD_CHECKS, counting no attempt toward the lockout', async () => {
    const app = withGate({ waiting: 1, waitingTotal: 100 });
    const held = await placed(gate.enter(A.selfId));
    const before = await attemptsOf(A.selfId);
    const waiting = logIn(app, A.selfId, 'wrong0');
    expect(await settledSoon(waiting)).toBe(false);
    // More wrong guesses than the lockout allows, all refused before they were counted.
    for (let i = 1; i <= 6; i++) {
      const refused = await logIn(app, A.selfId, `wrong${i}`);
      expect(refused.status).toBe(429);
      expect(refused.headers.get('retry-after')).toBe('1');
      expect((await json(refused)).error.code).toBe('TOO_MANY_PASSWORD_CHECKS');
    }
    expect(await attemptsOf(A.selfId)).toBe(before);
    held.release();
    expect((await waiting).status).toBe(401);
    expect(await attemptsOf(A.selfId)).toBe(before + 1);
    expect((await logIn(app, A.selfId, A.password)).status).toBe(200);
  });

  it('refuses a current-password check beyond its self ID queue (429) and changes and counts nothing', async () => {
    const app = withGate({ waiting: 0, waitingTotal: 100 });
    const { token } = await json<{ token: string }>(await logIn(app, B.selfId, B.password));
    const held = await placed(gate.enter(B.selfId));
    const before = await attemptsOf(B.selfId);
    const res = await app.request('/api/v1/password', {
      method: 'PUT',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({ currentPassword: B.password, newPassword: 'Next42ab', newPasswordConfirmation: 'Next42ab' }),
    });
    expect(res.status).toBe(429);
    expect((await json(res)).error.code).toBe('TOO_MANY_PASSWORD_CHECKS');
    expect(await attemptsOf(B.selfId)).toBe(before);
    held.release();
    expect((await logIn(app, B.selfId, B.password)).status).toBe(200);
  });

  it('gives a freed place to a fresh self ID before one that keeps checking', async () => {
    const app = withGate({ waiting: 4, waitingTotal: 100 });
    // A has been checking for a while (its place held), B not at all.
    const busy = await placed(gate.enter(A.selfId));
    await new Promise((r) => setTimeout(r, 50));
    const done: string[] = [];
    const again = logIn(app, A.selfId, A.password).then((r) => (done.push('A'), r));
    expect(await settledSoon(again, 50)).toBe(false);
    const fresh = logIn(app, B.selfId, B.password).then((r) => (done.push('B'), r));
    expect(await settledSoon(fresh, 50)).toBe(false);
    busy.release();
    expect((await fresh).status).toBe(200);
    expect((await again).status).toBe(200);
    expect(done).toEqual(['B', 'A']);
  });

  it('gives the server its handler place back while a password change waits for its check: another contract is answered meanwhile', async () => {
    const checks = new ContractRequestGate({ inFlight: 1, total: 1, waiting: 4, waitingTotal: 100, perSecond: Number.POSITIVE_INFINITY });
    // One handler place in all: a change waiting for its password check must not hold it.
    const requests = new ContractRequestGate({ inFlight: 4, total: 1, perSecond: Number.POSITIVE_INFINITY });
    const app = f.appWith({ passwordChecks: checks, requestGate: requests });
    const tokenA = await f.login(A.selfId, A.password);
    const tokenB = await f.login(B.selfId, B.password);
    const held = await placed(checks.enter(A.selfId));
    const change = Promise.resolve(
      app.request('/api/v1/password', {
        method: 'PUT',
        headers: { authorization: `Bearer ${tokenA}`, 'content-type': 'application/json' },
        body: JSON.stringify({ currentPassword: 'wrong0', newPassword: 'abc999', newPasswordConfirmation: 'abc999' }),
      }),
    );
    expect(await settledSoon(change)).toBe(false);
    const other = Promise.resolve(app.request('/api/v1/charges', { headers: { authorization: `Bearer ${tokenB}` } }));
    expect(await settledSoon(other, 1_000)).toBe(true);
    expect((await other).status).toBe(200);
    held.release();
    expect((await change).status).toBe(422);
    expect(requests.working).toBe(0);
    expect(requests.inFlight(A.code)).toBe(0);
  });

  it('answers the portal login with しばらくしてから when the check gets no turn', async () => {
    const app = withGate({ waiting: 1, waitingTotal: 0 });
    const held = await placed(gate.enter('d111111111'));
    const form = await app.request('/login');
    const cookie = form.headers
      .getSetCookie()
      .map((c) => c.split(';')[0])
      .join('; ');
    const csrf = /name="_csrf" value="([^"]+)"/.exec(await form.text())![1]!;
    const before = await attemptsOf(A.selfId);
    const res = await app.request('/login', {
      method: 'POST',
      headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ _csrf: csrf, selfId: A.selfId, password: A.password }).toString(),
    });
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBe('1');
    const page = await res.text();
    expect(page).toContain('しばらくしてから');
    expect(page).toContain('混み合っています');
    expect(await attemptsOf(A.selfId)).toBe(before);
    held.release();
  });
});
