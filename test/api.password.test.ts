// PUT /api/v1/password (SPEC §2) and the pure rules of domain/password.ts.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkNewPassword } from '../domain/password.ts';
import { testTargets } from './support/stores.ts';
import { A, B, json, openContract, openFixture, type Fixture } from './api.support.ts';

describe('the self password rules (SPEC §2)', () => {
  const check = (newPassword: string, confirmation = newPassword) =>
    checkNewPassword({ selfId: 'd123456789', newPassword, newPasswordConfirmation: confirmation }).map((v) => v.code);

  it('accepts 4 to 8 half-width letters and digits with at least one of each', () => {
    for (const ok of ['ab12', 'A1b2C3d4', '1a2b', 'Zz9Zz9Zz']) expect(check(ok)).toEqual([]);
  });
  it('refuses a password shorter than 4 or longer than 8 characters', () => {
    expect(check('a1b')).toEqual(['PASSWORD_LENGTH']);
    expect(check('a1b2c3d4e')).toEqual(['PASSWORD_LENGTH']);
    expect(check('')).toContain('PASSWORD_LENGTH');
  });
  it('refuses anything but half-width ASCII letters and digits', () => {
    expect(check('ab12!')).toEqual(['PASSWORD_CHARACTERS']);
    expect(check('ａｂ１２')).toEqual(['PASSWORD_CHARACTERS']);
    expect(check('ab 12')).toEqual(['PASSWORD_CHARACTERS']);
  });
  it('needs at least one letter and at least one digit', () => {
    expect(check('abcdef')).toEqual(['PASSWORD_LETTER_AND_DIGIT']);
    expect(check('123456')).toEqual(['PASSWORD_LETTER_AND_DIGIT']);
  });
  it('refuses the self ID itself (case-sensitively)', () => {
    expect(check('d123456789')[0]).toBe('PASSWORD_SAME_AS_SELF_ID');
    expect(check('D123456789')).not.toContain('PASSWORD_SAME_AS_SELF_ID');
  });
  it('needs the confirmation to be identical, case included', () => {
    expect(check('ab12', 'AB12')).toEqual(['PASSWORD_CONFIRMATION_MISMATCH']);
  });
});

describe.each(testTargets)('PUT /api/v1/password on $name', (target) => {
  let f: Fixture;
  beforeAll(async () => {
    f = await openFixture(target);
    await openContract(f, A);
    await openContract(f, B);
    await f.catchUp();
  });
  afterAll(async () => {
    await f?.close();
  });

  const change = (token: string, currentPassword: string, newPassword: string, newPasswordConfirmation = newPassword) =>
    f.request('PUT', '/api/v1/password', { token, json: { currentPassword, newPassword, newPasswordConfirmation } });

  it.each([
    ['abc', 'PASSWORD_LENGTH'],
    ['abc123456', 'PASSWORD_LENGTH'],
    ['abc12!', 'PASSWORD_CHARACTERS'],
    ['ａｂｃ１２', 'PASSWORD_CHARACTERS'],
    ['abcdef', 'PASSWORD_LETTER_AND_DIGIT'],
    ['123456', 'PASSWORD_LETTER_AND_DIGIT'],
    ['d123456789', 'PASSWORD_SAME_AS_SELF_ID'],
  ])('answers 422 %s → %s, and the password stays', async (newPassword, code) => {
    const token = await f.login(A.selfId, A.password);
    const res = await change(token, A.password, newPassword);
    expect(res.status).toBe(422);
    const body = await json(res);
    expect(body.error.code).toBe(code);
    expect(body.error.message).toBeTruthy();
    await f.login(A.selfId, A.password);
  });

  it('answers 422 PASSWORD_CONFIRMATION_MISMATCH when the two new passwords differ (case counts)', async () => {
    const token = await f.login(A.selfId, A.password);
    const res = await change(token, A.password, 'new123', 'NEW123');
    expect(res.status).toBe(422);
    expect((await json(res)).error.code).toBe('PASSWORD_CONFIRMATION_MISMATCH');
  });

  it('answers 422 CURRENT_PASSWORD_WRONG to a wrong current password', async () => {
    const token = await f.login(A.selfId, A.password);
    const res = await change(token, 'ABC123', 'new123');
    expect(res.status).toBe(422);
    expect((await json(res)).error.code).toBe('CURRENT_PASSWORD_WRONG');
  });

  it('answers 400 to a missing field and to malformed JSON, 415 to a form', async () => {
    const token = await f.login(A.selfId, A.password);
    expect((await f.request('PUT', '/api/v1/password', { token, json: { currentPassword: A.password, newPassword: 'x1y2' } })).status).toBe(400);
    expect((await f.request('PUT', '/api/v1/password', { token, body: '{', headers: { 'content-type': 'application/json' } })).status).toBe(400);
    expect((await f.request('PUT', '/api/v1/password', { token, body: 'a=b', headers: { 'content-type': 'application/x-www-form-urlencoded' } })).status).toBe(415);
  });

  it('changes the password (204), case-sensitively, records only the fact, ends the other sessions, and leaves B alone', async () => {
    const other = await f.login(A.selfId, A.password);
    const tokenB = await f.login(B.selfId, B.password);
    const token = await f.login(A.selfId, A.password);
    const res = await change(token, A.password, 'Neu9pass');
    expect(res.status).toBe(204);

    expect((await f.request('POST', '/api/v1/session', { json: { selfId: A.selfId, password: A.password } })).status).toBe(401);
    expect((await f.request('POST', '/api/v1/session', { json: { selfId: A.selfId, password: 'neu9pass' } })).status).toBe(401);
    await f.login(A.selfId, 'Neu9pass');

    expect((await f.request('GET', '/api/v1/contract', { token })).status).toBe(200);
    expect((await f.request('GET', '/api/v1/contract', { token: other })).status).toBe(401);
    expect((await f.request('GET', '/api/v1/contract', { token: tokenB })).status).toBe(200);
    await f.login(B.selfId, B.password);

    const events = await f.db.store.readStream(`contract-${A.code}`);
    const changed = events.filter((e) => e.type === 'SelfPasswordChanged');
    expect(changed).toHaveLength(1);
    expect(JSON.stringify({ data: changed[0]!.data, metadata: changed[0]!.metadata })).not.toMatch(/Neu9pass|abc123|scrypt/);
    expect((await f.db.store.readStream(`contract-${B.code}`)).some((e) => e.type === 'SelfPasswordChanged')).toBe(false);
  });
});
