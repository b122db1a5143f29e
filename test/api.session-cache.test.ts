// Portal requests trust a session they resolved a moment ago (a short cache keyed by the token's
// hash, api/sessions.ts), so a page's parallel requests do not each read the session row. Ending
// a session must still take effect at once: every test below first uses the token, so that it is
// cached, and then ends the session in one of the ways a session ends.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Kysely } from 'kysely';
import { A, B, MID_DECEMBER_2017, openContract, openFixture, type Fixture } from './api.support.ts';
import { testTargets } from './support/stores.ts';
import { createSession, deleteSession, DEFAULT_SESSION_POLICY, resolveSession } from '../api/sessions.ts';

describe.each(testTargets)('a cached session ends at once on $name', (target) => {
  let f: Fixture;
  beforeAll(async () => {
    f = await openFixture(target);
    await openContract(f, A);
    await openContract(f, B);
    await f.catchUp();
  });
  afterAll(async () => {
    await f.close();
  });

  const contract = (token: string) => f.request('GET', '/api/v1/contract', { token });
  const cached = async (token: string) => {
    // twice: the second answer comes from the cache, if there is one
    expect((await contract(token)).status).toBe(200);
    expect((await contract(token)).status).toBe(200);
  };

  it('at logout: the same token answers 401 right after, while another of the contract\'s sessions stays', async () => {
    const token = await f.login(A.selfId, A.password);
    const other = await f.login(A.selfId, A.password);
    await cached(token);
    await cached(other);
    expect((await f.request('DELETE', '/api/v1/session', { token })).status).toBe(204);
    expect((await contract(token)).status).toBe(401);
    expect((await contract(other)).status).toBe(200);
  });

  it('at a password change: every other session of the contract answers 401 right after; the changer\'s and another contract\'s stay', async () => {
    const changer = await f.login(A.selfId, A.password);
    const other = await f.login(A.selfId, A.password);
    const tokenB = await f.login(B.selfId, B.password);
    for (const t of [changer, other, tokenB]) await cached(t);
    const changed = await f.request('PUT', '/api/v1/password', { token: changer, json: { currentPassword: A.password, newPassword: 'Neu9pass', newPasswordConfirmation: 'Neu9pass' } });
    expect(changed.status).toBe(204);
    expect((await contract(other)).status).toBe(401);
    expect((await contract(changer)).status).toBe(200);
    expect((await contract(tokenB)).status).toBe(200);
    // back, for the tests after this one
    const back = await f.request('PUT', '/api/v1/password', { token: changer, json: { currentPassword: 'Neu9pass', newPassword: A.password, newPasswordConfirmation: A.password } });
    expect(back.status).toBe(204);
  });

  it('at an engineer\'s password reset: every session of the contract answers 401 right after', async () => {
    const tokenB = await f.login(B.selfId, B.password);
    const otherA = await f.login(A.selfId, A.password);
    await cached(tokenB);
    await cached(otherA);
    const reset = await f.request('POST', `/api/v1/admin/contracts/${B.code}/password-reset`, { token: f.adminToken });
    expect(reset.status).toBe(200);
    expect((await contract(tokenB)).status).toBe(401);
    expect((await contract(otherA)).status).toBe(200);
  });

  it('at its idle and absolute expiry by the clock, cached or not', async () => {
    const token = await f.login(A.selfId, A.password);
    await cached(token);
    f.now = new Date(MID_DECEMBER_2017.getTime() + 31 * 60_000);
    try {
      expect((await contract(token)).status).toBe(401);
      f.now = MID_DECEMBER_2017;
      const busy = await f.login(A.selfId, A.password);
      // used every 20 minutes for 8 hours, so never idle; then past its absolute expiry
      for (let m = 20; m < 8 * 60; m += 20) {
        f.now = new Date(MID_DECEMBER_2017.getTime() + m * 60_000);
        await cached(busy);
      }
      f.now = new Date(MID_DECEMBER_2017.getTime() + 8 * 3_600_000 + 1000);
      expect((await contract(busy)).status).toBe(401);
    } finally {
      f.now = MID_DECEMBER_2017;
    }
  });
});

describe.each(testTargets)('session reads on $name', (target) => {
  let f: Fixture;
  beforeAll(async () => {
    f = await openFixture(target);
    await openContract(f, A);
  });
  afterAll(async () => {
    await f.close();
  });

  /** The fixture's database, counting the statements that read the sessions table. */
  function counting(): { db: Kysely<any>; reads: () => number } {
    let reads = 0;
    const db = f.db.database.db.withPlugin({
      transformQuery(args) {
        if (args.node.kind === 'RawNode' && args.node.sqlFragments.join('?').includes('from sessions where token_hash')) reads++;
        return args.node;
      },
      async transformResult(args) {
        return args.result;
      },
    });
    return { db, reads: () => reads };
  }

  it('many requests missing the cache at once read the session row once, and each gets the session', async () => {
    const { db, reads } = counting();
    const now = new Date();
    const { token } = await createSession(db, A.code, now, DEFAULT_SESSION_POLICY);
    const sessions = await Promise.all(Array.from({ length: 20 }, () => resolveSession(db, token, now, DEFAULT_SESSION_POLICY)));
    expect(sessions.map((s) => s?.contractCode)).toEqual(Array(20).fill(A.code));
    expect(reads()).toBe(1);
    // and the next request finds it cached
    expect((await resolveSession(db, token, now, DEFAULT_SESSION_POLICY))?.contractCode).toBe(A.code);
    expect(reads()).toBe(1);
  });

  it('a read under way when the session is logged out does not leave it usable', async () => {
    const { db } = counting();
    const now = new Date();
    const { token } = await createSession(db, A.code, now, DEFAULT_SESSION_POLICY);
    // the read starts before the logout's delete and may see the row; it must not cache it
    const reading = resolveSession(db, token, now, DEFAULT_SESSION_POLICY);
    await deleteSession(db, token);
    await reading;
    expect(await resolveSession(db, token, now, DEFAULT_SESSION_POLICY)).toBeUndefined();
  });
});
