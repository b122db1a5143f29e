// The engineer routes (SPEC §6) and /health, through app.request(), on every store target.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CALL_COLUMNS } from '../domain/call.ts';
import { testTargets } from './support/stores.ts';
import { A, B, json, openFixture, seedTwoContracts, type Fixture } from './api.support.ts';

const HEADER = CALL_COLUMNS.map((c) => c.header).join(',');
const csv = (...lines: string[]) => new TextEncoder().encode([HEADER, ...lines].join('\r\n') + '\r\n');

describe.each(testTargets)('engineer API on $name', (target) => {
  let f: Fixture;
  const admin = (method: string, path: string, init: { body?: string | Uint8Array; headers?: Record<string, string>; json?: unknown } = {}) =>
    f.request(method, path, { token: f.adminToken, ...init });

  beforeAll(async () => {
    f = await openFixture(target, { adminBodyLimit: 256 * 1024 });
    await seedTwoContracts(f);
  });
  afterAll(async () => {
    await f?.close();
  });

  describe('authorisation', () => {
    it.each([
      ['POST', '/api/v1/admin/imports/calls'],
      ['POST', '/api/v1/admin/imports/contracts'],
      ['POST', '/api/v1/admin/projections/rebuild'],
      ['GET', `/api/v1/admin/contracts/${A.code}/charges/2017-11`],
      ['GET', `/api/v1/admin/contracts/${A.code}/audit/2017-11`],
      ['GET', `/api/v1/admin/contracts/${A.code}/verify/2017-11`],
      ['POST', `/api/v1/admin/contracts/${A.code}/reconcile/2017-11`],
      ['POST', `/api/v1/admin/contracts/${A.code}/password-reset`],
      ['GET', `/api/v1/admin/streams/contract-${A.code}`],
      ['GET', '/api/v1/admin/no-such-route'],
    ])('%s %s → 401 without the admin token, with a wrong one, and with a customer session', async (method, path) => {
      const customer = await f.login(A.selfId, A.password);
      for (const token of [undefined, 'wrong', f.adminToken.slice(0, -1), customer]) {
        const res = await f.request(method, path, token ? { token } : {});
        expect(res.status).toBe(401);
        expect((await json(res)).error.code).toBe('NOT_AUTHORIZED');
      }
    });
  });

  describe('POST /api/v1/admin/imports/calls', () => {
    const good = [
      `${A.dialIn},2017/11/20,120000.0,03-5555-6666,東京,000200.0,外線,国内呼,8.00`,
      `${A.dialIn},2017/11/30,235959.0,03-5555-7777,東京,000010.0,外線,国内呼,8.00`, // ends in December (SPEC §3.2)
    ];

    it('imports a call-detail CSV through the importer and the projections show it', async () => {
      const res = await admin('POST', '/api/v1/admin/imports/calls', { body: csv(...good), headers: { 'content-type': 'text/csv' } });
      expect(res.status).toBe(200);
      expect(await json(res)).toMatchObject({ read: 2, imported: 2, alreadyPresent: 0 });
      const charges = await json(await admin('GET', `/api/v1/admin/contracts/${A.code}/charges/2017-11`));
      expect(charges.normal.domestic).toBe('64.00');
      const december = await json(await admin('GET', `/api/v1/admin/contracts/${A.code}/charges/2017-12`));
      expect(december.normal.domestic).toBe('16.00');
    });

    it('counts a re-delivered file as already present', async () => {
      const res = await admin('POST', '/api/v1/admin/imports/calls', { body: csv(...good), headers: { 'content-type': 'text/csv; charset=utf-8' } });
      expect(await json(res)).toMatchObject({ read: 2, imported: 0, alreadyPresent: 2 });
    });

    it('refuses a file with a bad row: 422 with line, field and message, and imports nothing', async () => {
      const head = await f.db.store.headPosition();
      const res = await admin('POST', '/api/v1/admin/imports/calls', {
        body: csv(`${A.dialIn},2017/11/21,120000.0,03-5555-6666,東京,000200.0,外線,国内呼,8.00`, `${A.dialIn},2017/11/21,130000.0,03-5555-6666,東京,000200.0,外線,国内呼,1e3`),
        headers: { 'content-type': 'text/csv' },
      });
      expect(res.status).toBe(422);
      const body = await json(res);
      expect(body.error.code).toBe('IMPORT_REJECTED');
      expect(body.error.details).toEqual([expect.objectContaining({ line: 3, field: '通話料', message: expect.any(String) })]);
      expect(await f.db.store.headPosition()).toBe(head);
    });

    it('refuses a call on a number no contract holds (422)', async () => {
      const res = await admin('POST', '/api/v1/admin/imports/calls', { body: csv('0399999999,2017/11/21,120000.0,03-5555-6666,東京,000200.0,外線,国内呼,8.00'), headers: { 'content-type': 'text/csv' } });
      expect(res.status).toBe(422);
      expect((await json(res)).error.details[0].line).toBe(2);
    });

    it('answers 415 to a JSON body and 413 to a body over the limit', async () => {
      expect((await admin('POST', '/api/v1/admin/imports/calls', { json: { a: 1 } })).status).toBe(415);
      const big = csv(...Array.from({ length: 4000 }, (_, i) => `${A.dialIn},2017/11/22,${String(100000 + i).padStart(6, '0')}.0,03-5555-6666,東京,000200.0,外線,国内呼,8.00`));
      const res = await admin('POST', '/api/v1/admin/imports/calls', { body: big, headers: { 'content-type': 'text/csv' } });
      expect(res.status).toBe(413);
      expect((await json(res)).error.message).toMatch(/CLI/);
    });
  });

  describe('POST /api/v1/admin/imports/contracts', () => {
    it('applies JSON Lines commands, and the initial password logs in', async () => {
      const lines = [
        { type: 'OpenContract', contractCode: 'd555555555', selfId: 'd555555555', initialPassword: 'init55', startDate: '2015-04-01', channels: 2, connectionType: 'ダイヤルイン接続', primaryDns: '192.0.2.1', secondaryDns: '192.0.2.2', basicNumber: '0120555555' },
        { type: 'AddNumber', contractCode: 'd555555555', dialInNumber: '0455555555', auMobileNumber: '09055555555', startDate: '2015-04-01' },
      ];
      const res = await admin('POST', '/api/v1/admin/imports/contracts', { body: lines.map((l) => JSON.stringify(l)).join('\n'), headers: { 'content-type': 'application/x-ndjson' } });
      expect(res.status).toBe(200);
      expect(await json(res)).toMatchObject({ read: 2, imported: 2 });
      const token = await f.login('d555555555', 'init55');
      expect((await json(await f.request('GET', '/api/v1/contract', { token }))).channels).toBe(2);
    });

    it('refuses a file with a bad line: 422 with details, nothing applied', async () => {
      const head = await f.db.store.headPosition();
      const body = [
        JSON.stringify({ type: 'ChangeChannels', contractCode: 'd555555555', channels: 3, effectiveFrom: '2016-01-01' }),
        JSON.stringify({ type: 'AddNumber', contractCode: 'd555555555', dialInNumber: A.dialIn, auMobileNumber: '09055555556', startDate: '2016-01-01' }),
        '{not json',
      ].join('\n');
      const res = await admin('POST', '/api/v1/admin/imports/contracts', { body, headers: { 'content-type': 'application/x-ndjson' } });
      expect(res.status).toBe(422);
      const details = (await json(res)).error.details;
      expect(details.map((d: { line: number }) => d.line)).toEqual([2, 3]);
      expect(await f.db.store.headPosition()).toBe(head);
    });

    it('answers 415 to a CSV content type', async () => {
      expect((await admin('POST', '/api/v1/admin/imports/contracts', { body: '{}', headers: { 'content-type': 'text/csv' } })).status).toBe(415);
    });
  });

  describe('GET /api/v1/admin/contracts/:code/charges/:month', () => {
    it('gives any month per number and category, normal and billed', async () => {
      const body = await json(await admin('GET', `/api/v1/admin/contracts/${B.code}/charges/2017-11`));
      expect(body).toEqual({
        contractCode: B.code,
        month: '2017-11',
        normal: { total: '16.00', domestic: '16.00', international: '0.00', mobile: '0.00', au: '0.00', otherMobile: '0.00' },
        billed: { total: '16.00', domestic: '16.00', international: '0.00', mobile: '0.00', au: '0.00', otherMobile: '0.00' },
        numbers: [{ number: B.dialIn, normal: expect.objectContaining({ total: '16.00' }), billed: expect.objectContaining({ total: '16.00' }), calls: 1 }],
      });
    });

    it('gives zeros and no numbers for a month without calls, even one the portal does not show', async () => {
      const body = await json(await admin('GET', `/api/v1/admin/contracts/${A.code}/charges/2001-01`));
      expect(body.normal.total).toBe('0.00');
      expect(body.numbers).toEqual([]);
    });

    it('answers 404 to an unknown contract and 400 to a bad month or code', async () => {
      expect((await admin('GET', '/api/v1/admin/contracts/d000000001/charges/2017-11')).status).toBe(404);
      expect((await admin('GET', `/api/v1/admin/contracts/${A.code}/charges/2017-13`)).status).toBe(400);
      expect((await admin('GET', '/api/v1/admin/contracts/x123/charges/2017-11')).status).toBe(400);
    });
  });

  describe('audit and verify', () => {
    it('lists the events behind a figure with a running total ending at the projected figure', async () => {
      const res = await admin('GET', `/api/v1/admin/contracts/${A.code}/audit/2017-11?number=${A.dialIn}&category=au`);
      expect(res.status).toBe(200);
      const body = await json(res);
      expect(body.entries.filter((e: { type: string }) => e.type === 'CallRecorded')).toHaveLength(2);
      expect(body.computed.normal).toBe('1000.00');
      expect(body.matches).toBe(true);
      expect((await admin('GET', `/api/v1/admin/contracts/${A.code}/audit/2017-11?category=phs`)).status).toBe(400);
      expect((await admin('GET', '/api/v1/admin/contracts/d000000001/audit/2017-11')).status).toBe(404);
    });

    it('verifies the projection against the events', async () => {
      const body = await json(await admin('GET', `/api/v1/admin/contracts/${A.code}/verify/2017-11`));
      expect(body).toMatchObject({ ok: true, differences: [] });
      expect((await admin('GET', '/api/v1/admin/contracts/d000000001/verify/2017-11')).status).toBe(404);
      expect((await admin('GET', `/api/v1/admin/contracts/${A.code}/verify/201711`)).status).toBe(400);
    });
  });

  describe('POST /api/v1/admin/projections/rebuild', () => {
    it('rebuilds and the figures stay the same', async () => {
      const before = await json(await admin('GET', `/api/v1/admin/contracts/${A.code}/charges/2017-11`));
      const res = await admin('POST', '/api/v1/admin/projections/rebuild');
      expect(res.status).toBe(200);
      expect((await json(res)).rebuilt.length).toBeGreaterThan(0);
      expect(await json(await admin('GET', `/api/v1/admin/contracts/${A.code}/charges/2017-11`))).toEqual(before);
    });

    it('answers 404 to an unknown projection', async () => {
      const res = await admin('POST', '/api/v1/admin/projections/rebuild?projection=nope');
      expect(res.status).toBe(404);
      expect((await json(res)).error.code).toBe('UNKNOWN_PROJECTION');
    });
  });

  describe('POST /api/v1/admin/contracts/:code/password-reset', () => {
    it('issues a new initial password, shown once; the old one stops working; the lockout is cleared; only the fact is recorded', async () => {
      const tokenB = await f.login(B.selfId, B.password);
      for (let i = 0; i < 5; i++) await f.request('POST', '/api/v1/session', { json: { selfId: B.selfId, password: 'bad000' } });
      expect((await f.request('POST', '/api/v1/session', { json: { selfId: B.selfId, password: B.password } })).status).toBe(429);
      const res = await admin('POST', `/api/v1/admin/contracts/${B.code}/password-reset`);
      expect(res.status).toBe(200);
      const { initialPassword } = await json(res);
      expect(initialPassword).toMatch(/^(?=.*[A-Za-z])(?=.*\d)[A-Za-z0-9]{4,8}$/);
      expect((await f.request('POST', '/api/v1/session', { json: { selfId: B.selfId, password: B.password } })).status).toBe(401);
      await f.login(B.selfId, initialPassword);
      expect((await f.request('GET', '/api/v1/contract', { token: tokenB })).status).toBe(401);
      const events = await f.db.store.readStream(`contract-${B.code}`);
      const reset = events.filter((e) => e.type === 'SelfPasswordReset');
      expect(reset).toHaveLength(1);
      expect(JSON.stringify(reset[0]!.data)).not.toContain(initialPassword);
      expect(f.logs.join('')).not.toContain(initialPassword);
      // A is untouched.
      await f.login(A.selfId, A.password);
    });

    it('answers 404 to an unknown contract', async () => {
      expect((await admin('POST', '/api/v1/admin/contracts/d000000001/password-reset')).status).toBe(404);
    });
  });

  describe('GET /api/v1/admin/streams/:streamId', () => {
    it('gives the raw events of a stream in order, positions as strings', async () => {
      const body = await json(await admin('GET', `/api/v1/admin/streams/contract-${A.code}`));
      expect(body.streamId).toBe(`contract-${A.code}`);
      expect(body.events.map((e: { type: string }) => e.type).slice(0, 3)).toEqual(['ContractOpened', 'NumberAdded', 'OptionSubscribed']);
      expect(body.events.map((e: { revision: number }) => e.revision)).toEqual(body.events.map((_: unknown, i: number) => i));
      expect(typeof body.events[0].position).toBe('string');
      const calls = await json(await admin('GET', `/api/v1/admin/streams/calls-${A.code}-2017-11`));
      expect(calls.events[0].data.charge).toBe('8.00');
    });

    it('answers 404 to a stream without events', async () => {
      expect((await admin('GET', '/api/v1/admin/streams/contract-d000000001')).status).toBe(404);
    });
  });

  describe('GET /health', () => {
    it('reports the event store and each projection’s position and lag', async () => {
      await f.catchUp();
      const res = await f.request('GET', '/health');
      expect(res.status).toBe(200);
      const body = await json(res);
      expect(body.status).toBe('ok');
      expect(body.eventStore).toBe(target.name);
      expect(Object.keys(body.projections).length).toBeGreaterThanOrEqual(3);
      for (const p of Object.values(body.projections) as { position: string; lag: number }[]) {
        expect(p.position).toMatch(/^\d+$/);
        expect(p.lag).toBe(0);
      }
    });
  });
});

describe.each(testTargets)('POST /api/v1/admin/contracts/:code/reconcile/:month on $name', (target) => {
  let f: Fixture;
  const NUMBERS_HEADER = 'ご利用電話番号,合計料金,国内通話,国際通話,au通話,その他移動体';
  const post = (path: string, body: string, type = 'text/csv') =>
    f.request('POST', path, { token: f.adminToken, body: new TextEncoder().encode(body), headers: { 'content-type': type } });

  beforeAll(async () => {
    f = await openFixture(target);
    await seedTwoContracts(f);
  });
  afterAll(async () => {
    await f?.close();
  });

  it('agrees with a carrier file equal to the projection', async () => {
    const res = await post(`/api/v1/admin/contracts/${A.code}/reconcile/2017-11`, `${NUMBERS_HEADER}\r\n${A.dialIn},1928.50,56.00,0.00,1000.00,872.50\r\n`);
    expect(res.status).toBe(200);
    expect(await json(res)).toEqual({ ok: true, differences: [] });
  });

  it('lists the differences per number and category, amounts as strings', async () => {
    const res = await post(`/api/v1/admin/contracts/${A.code}/reconcile/2017-11`, `${NUMBERS_HEADER}\r\n${A.dialIn},1936.50,64.00,0.00,1000.00,872.50\r\n`);
    const body = await json(res);
    expect(body.ok).toBe(false);
    expect(body.differences).toEqual(
      expect.arrayContaining([{ number: A.dialIn, category: 'domestic', carrier: '64.00', ours: '56.00', difference: '8.00' }]),
    );
  });

  it('answers 422 with details to a malformed carrier file, 415 to JSON, 404 to an unknown contract, 400 to a bad month', async () => {
    const bad = await post(`/api/v1/admin/contracts/${A.code}/reconcile/2017-11`, `${NUMBERS_HEADER}\r\n${A.dialIn},abc,56.00,0.00,1000.00,872.50\r\n`);
    expect(bad.status).toBe(422);
    expect((await json(bad)).error.details[0]).toMatchObject({ line: 2 });
    expect((await post(`/api/v1/admin/contracts/${A.code}/reconcile/2017-11`, '{}', 'application/json')).status).toBe(415);
    expect((await post('/api/v1/admin/contracts/d000000001/reconcile/2017-11', `${NUMBERS_HEADER}\r\n`)).status).toBe(404);
    expect((await post(`/api/v1/admin/contracts/${A.code}/reconcile/2017-13`, `${NUMBERS_HEADER}\r\n`)).status).toBe(400);
  });
});

describe.each(testTargets)('an unexpected failure on $name', (target) => {
  let f: Fixture;
  beforeAll(async () => {
    f = await openFixture(target, {
      engineer: (base) => ({
        ...base,
        verify: async () => {
          throw new Error('connection reset at /work/main/secret/path.ts:12');
        },
      }),
    });
    await seedTwoContracts(f);
  });
  afterAll(async () => {
    await f?.close();
  });

  it('answers 500 with a request id and no stack trace or internal message; the log has the details', async () => {
    const res = await f.request('GET', `/api/v1/admin/contracts/${A.code}/verify/2017-11`, { token: f.adminToken });
    expect(res.status).toBe(500);
    const text = await res.text();
    expect(JSON.parse(text).error.code).toBe('INTERNAL_ERROR');
    expect(text).toContain(res.headers.get('x-request-id')!);
    expect(text).not.toMatch(/secret|\.ts:|at /);
    expect(f.logs.join('')).toContain('connection reset');
  });
});
