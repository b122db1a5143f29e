// The portal (customer) routes through app.request(), on every store target.
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Hono } from 'hono';
import { secureHeaders } from 'hono/secure-headers';
import { serve } from '@hono/node-server';
import { SECURITY_HEADERS } from '../api/app.ts';
import { Money } from '../domain/money.ts';
import { testTargets } from './support/stores.ts';
import { A, B, MID_DECEMBER_2017, json, openFixture, seedTwoContracts, type Fixture } from './api.support.ts';

describe.each(testTargets)('portal API on $name', (target) => {
  let f: Fixture;
  let tokenA: string;
  let tokenB: string;

  beforeAll(async () => {
    f = await openFixture(target, { portalOrigin: 'https://portal.example' });
    await seedTwoContracts(f);
    tokenA = await f.login(A.selfId, A.password);
    tokenB = await f.login(B.selfId, B.password);
  });
  afterAll(async () => {
    await f?.close();
  });

  describe('POST /api/v1/session', () => {
    it('gives an opaque token and an expiry in Japan time', async () => {
      const res = await f.request('POST', '/api/v1/session', { json: { selfId: A.selfId, password: A.password } });
      expect(res.status).toBe(200);
      const body = await json(res);
      expect(body.token).toMatch(/^[A-Za-z0-9_-]{40,}$/);
      expect(body.expiresAt).toMatch(/\+09:00$/);
      expect(new Date(body.expiresAt).getTime()).toBe(MID_DECEMBER_2017.getTime() + 30 * 60_000);
    });

    it('stores only the SHA-256 of the token', async () => {
      const token = await f.login(A.selfId, A.password);
      const { rows } = await f.db.database.db.executeQuery<{ token_hash: string }>({ sql: 'select token_hash from sessions', parameters: [], query: { kind: 'RawNode' } as never, queryId: { queryId: 'x' } as never });
      expect(rows.some((r) => r.token_hash === token)).toBe(false);
      expect(rows.every((r) => /^[0-9a-f]{64}$/.test(r.token_hash))).toBe(true);
    });

    it('answers 401 to a wrong password, an unknown self ID, and a case-changed password', async () => {
      for (const [selfId, password] of [[A.selfId, 'wrong1'], ['d000000000', A.password], [A.selfId, A.password.toUpperCase()]]) {
        const res = await f.request('POST', '/api/v1/session', { json: { selfId, password } });
        expect(res.status).toBe(401);
        expect((await json(res)).error.code).toBe('INVALID_CREDENTIALS');
      }
      await f.login(A.selfId, A.password); // resets A's run of failures
    });

    it('answers 400 to malformed JSON and to missing fields, 415 to another content type', async () => {
      const malformed = await f.request('POST', '/api/v1/session', { body: '{"selfId":', headers: { 'content-type': 'application/json' } });
      expect(malformed.status).toBe(400);
      expect((await json(malformed)).error.code).toBe('BAD_REQUEST');
      const missing = await f.request('POST', '/api/v1/session', { json: { selfId: A.selfId } });
      expect(missing.status).toBe(400);
      expect((await json(missing)).error.message).toMatch(/password/);
      const form = await f.request('POST', '/api/v1/session', { body: 'selfId=x', headers: { 'content-type': 'text/plain' } });
      expect(form.status).toBe(415);
      expect((await json(form)).error.code).toBe('UNSUPPORTED_MEDIA_TYPE');
    });

    it('accepts JSON with a charset parameter', async () => {
      const res = await f.request('POST', '/api/v1/session', { body: JSON.stringify({ selfId: A.selfId, password: A.password }), headers: { 'content-type': 'application/json; charset=UTF-8' } });
      expect(res.status).toBe(200);
    });

    it('answers 413 to a body over the limit', async () => {
      const res = await f.request('POST', '/api/v1/session', { json: { selfId: A.selfId, password: 'x'.repeat(70 * 1024) } });
      expect(res.status).toBe(413);
      expect((await json(res)).error.code).toBe('PAYLOAD_TOO_LARGE');
    });
  });

  describe('lockout after 5 failures in a row', () => {
    it('answers 429 for 15 minutes, even with the right password, counted in the database', async () => {
      const tryLogin = (password: string) => f.request('POST', '/api/v1/session', { json: { selfId: B.selfId, password } });
      for (let i = 0; i < 4; i++) expect((await tryLogin('nope99')).status).toBe(401);
      expect((await tryLogin(B.password)).status).toBe(200); // a success ends the run
      for (let i = 0; i < 5; i++) expect((await tryLogin('nope99')).status).toBe(401);
      const locked = await tryLogin(B.password);
      expect(locked.status).toBe(429);
      expect(locked.headers.get('retry-after')).toBe(String(15 * 60));
      expect((await json(locked)).error.code).toBe('TOO_MANY_ATTEMPTS');
      // The count lives in the credentials table: a fresh app on the same database still refuses.
      const { rows } = await f.db.database.db.executeQuery<{ locked_until: unknown }>({ sql: `select locked_until from credentials where self_id = '${B.selfId}'`, parameters: [], query: { kind: 'RawNode' } as never, queryId: { queryId: 'y' } as never });
      expect(rows[0]?.locked_until).not.toBeNull();
      // Another self ID is not affected.
      expect((await f.request('POST', '/api/v1/session', { json: { selfId: A.selfId, password: A.password } })).status).toBe(200);
      f.now = new Date(MID_DECEMBER_2017.getTime() + 14 * 60_000);
      expect((await tryLogin(B.password)).status).toBe(429);
      f.now = new Date(MID_DECEMBER_2017.getTime() + 15 * 60_000 + 1000);
      expect((await tryLogin(B.password)).status).toBe(200);
      f.now = MID_DECEMBER_2017;
    });
  });

  describe('session expiry and logout', () => {
    it('ends a session after 30 idle minutes and after 8 hours in any case', async () => {
      const token = await f.login(A.selfId, A.password);
      f.now = new Date(MID_DECEMBER_2017.getTime() + 29 * 60_000);
      expect((await f.request('GET', '/api/v1/contract', { token })).status).toBe(200);
      f.now = new Date(MID_DECEMBER_2017.getTime() + 58 * 60_000); // 29 min after the last request
      expect((await f.request('GET', '/api/v1/contract', { token })).status).toBe(200);
      f.now = new Date(MID_DECEMBER_2017.getTime() + 89 * 60_000); // 31 min idle
      const idle = await f.request('GET', '/api/v1/contract', { token });
      expect(idle.status).toBe(401);
      expect((await json(idle)).error.code).toBe('NOT_LOGGED_IN');

      f.now = MID_DECEMBER_2017;
      const busy = await f.login(A.selfId, A.password);
      for (let m = 20; m < 8 * 60; m += 20) {
        f.now = new Date(MID_DECEMBER_2017.getTime() + m * 60_000);
        expect((await f.request('GET', '/api/v1/contract', { token: busy })).status).toBe(200);
      }
      f.now = new Date(MID_DECEMBER_2017.getTime() + 8 * 3_600_000 + 1000);
      expect((await f.request('GET', '/api/v1/contract', { token: busy })).status).toBe(401);
      f.now = MID_DECEMBER_2017;
    });

    it('DELETE /api/v1/session logs out (204); the token no longer works; without a token 401', async () => {
      const token = await f.login(A.selfId, A.password);
      expect((await f.request('DELETE', '/api/v1/session', { token })).status).toBe(204);
      expect((await f.request('GET', '/api/v1/contract', { token })).status).toBe(401);
      expect((await f.request('DELETE', '/api/v1/session')).status).toBe(401);
      expect((await f.request('DELETE', '/api/v1/session', { token: 'made-up' })).status).toBe(401);
    });
  });

  describe('every portal route needs a session', () => {
    it.each([
      ['DELETE', '/api/v1/session'],
      ['PUT', '/api/v1/password'],
      ['GET', '/api/v1/contract'],
      ['GET', '/api/v1/contract/numbers'],
      ['GET', '/api/v1/charges'],
      ['GET', '/api/v1/charges/2017-11/numbers'],
      ['GET', `/api/v1/charges/2017-11/numbers/${A.dialIn}/calls`],
      ['GET', '/api/v1/charges/2017-11/telegrams'],
      ['POST', '/api/v1/exports'],
      ['GET', '/api/v1/exports/00000000-0000-4000-8000-000000000000'],
      ['GET', '/api/v1/exports/00000000-0000-4000-8000-000000000000/file'],
    ])('%s %s → 401 without a token', async (method, path) => {
      const res = await f.request(method, path, method === 'PUT' || method === 'POST' ? { json: {} } : {});
      expect(res.status).toBe(401);
      expect((await json(res)).error.code).toBe('NOT_LOGGED_IN');
      expect(res.headers.get('www-authenticate')).toBe('Bearer');
    });
  });

  describe('GET /api/v1/contract', () => {
    it('shows the SPEC §1 summary of the session’s contract', async () => {
      const res = await f.request('GET', '/api/v1/contract', { token: tokenA });
      expect(res.status).toBe(200);
      const body = await json(res);
      expect(body).toMatchObject({
        contractCode: A.code,
        selfId: A.selfId,
        startDate: '2010-11-15',
        channels: 1,
        connectionType: 'ダイヤルイン接続',
        primaryDns: '192.0.2.1',
        secondaryDns: '192.0.2.2',
        numberCount: 2,
        dialInNumberCount: 1,
      });
      expect(body.options.freecallNotification).toMatchObject({ subscribed: true, freecallNumbers: [A.basic] });
      expect(body.options.representativeNumber).toEqual({ subscribed: false });
      expect(Object.keys(body.options).sort()).toEqual(
        ['auIncomingDiscount', 'bulkForwarding', 'callRejection', 'dialIn', 'freecallNotification', 'numberNotificationRequest', 'representativeNumber'],
      );
    });

    it('shows B its own contract (tenant isolation)', async () => {
      const body = await json(await f.request('GET', '/api/v1/contract', { token: tokenB }));
      expect(body.contractCode).toBe(B.code);
    });
  });

  describe('GET /api/v1/contract/numbers', () => {
    it('pages one number at a time by default', async () => {
      const body = await json(await f.request('GET', '/api/v1/contract/numbers', { token: tokenA }));
      expect(body).toEqual({ items: [{ basicNumber: A.basic, dialInNumber: A.dialIn, auMobileNumber: A.mobile, startDate: '2010-11-15' }], page: 1, size: 1, total: 1 });
      const empty = await json(await f.request('GET', '/api/v1/contract/numbers?page=2', { token: tokenA }));
      expect(empty).toMatchObject({ items: [], page: 2, size: 1, total: 1 });
    });

    it('never shows another contract’s numbers', async () => {
      const body = await json(await f.request('GET', '/api/v1/contract/numbers?size=50', { token: tokenB }));
      expect(body.items.map((n: { dialInNumber: string }) => n.dialInNumber)).toEqual([B.dialIn]);
    });

    it.each(['0', '-1', 'abc', '1.5', ''])('answers 400 to page=%s', async (page) => {
      const res = await f.request('GET', `/api/v1/contract/numbers?page=${page}`, { token: tokenA });
      expect(res.status).toBe(400);
      expect((await json(res)).error.code).toBe('BAD_REQUEST');
    });
  });

  describe('GET /api/v1/charges', () => {
    it('shows the current month (provisional) and the last four months, newest first, amounts as strings', async () => {
      const body = await json(await f.request('GET', '/api/v1/charges', { token: tokenA }));
      expect(body.months.map((m: { month: string }) => m.month)).toEqual(['2017-12', '2017-11', '2017-10', '2017-09', '2017-08']);
      expect(body.months.map((m: { provisional: boolean }) => m.provisional)).toEqual([true, false, false, false, false]);
      const nov = body.months[1];
      expect(nov.period).toEqual({ from: '2017-11-01', to: '2017-11-30' });
      expect(nov.normal).toEqual({ total: '1928.50', domestic: '56.00', international: '0.00', mobile: '1872.50', au: '1000.00', otherMobile: '872.50' });
      expect(nov.billed).toEqual({ total: '928.50', domestic: '56.00', international: '0.00', mobile: '872.50', au: '0.00', otherMobile: '872.50' });
      expect(nov.yen).toEqual({ total: '1928', domestic: '56', international: '0', mobile: '1872' });
      expect(body.months[0].normal.total).toBe('8.00');
      expect(body.months[2].normal.total).toBe('0.00');
    });

    it('carries each month’s telegram total as `telegrams`, the same as the month’s 電報明細 and never in the call figures', async () => {
      const body = await json(await f.request('GET', '/api/v1/charges', { token: tokenA }));
      for (const m of body.months as { month: string; telegrams: string; normal: { total: string } }[]) {
        const details = await json(await f.request('GET', `/api/v1/charges/${m.month}/telegrams`, { token: tokenA }));
        expect(m.telegrams, m.month).toBe(details.total);
      }
      expect(body.months.map((m: { telegrams: string }) => m.telegrams)).toEqual(['0.00', '1230.00', '0.00', '0.00', '0.00']);
      expect(body.months[1].normal.total).toBe('1928.50');
      const b = await json(await f.request('GET', '/api/v1/charges', { token: tokenB }));
      expect(b.months[1].telegrams).toBe('990.00');
    });

    it('shows B only B’s figures (tenant isolation)', async () => {
      const body = await json(await f.request('GET', '/api/v1/charges', { token: tokenB }));
      expect(body.months[1].normal.total).toBe('16.00');
      expect(body.months[0].normal).toMatchObject({ total: '120.00', international: '120.00' });
    });

    it('moves the window with the clock', async () => {
      f.now = new Date('2018-03-10T00:00:00Z');
      const body = await json(await f.request('GET', '/api/v1/charges', { token: await f.login(A.selfId, A.password) }));
      expect(body.months.map((m: { month: string }) => m.month)).toEqual(['2018-03', '2018-02', '2018-01', '2017-12', '2017-11']);
      f.now = MID_DECEMBER_2017;
      // Logging in in 2018 swept A's sessions of 2017 as idle.
      tokenA = await f.login(A.selfId, A.password);
    });
  });

  describe('GET /api/v1/charges/:month/numbers', () => {
    it('lists each number with its figures', async () => {
      const body = await json(await f.request('GET', '/api/v1/charges/2017-11/numbers', { token: tokenA }));
      expect(body.month).toBe('2017-11');
      expect(body.items).toHaveLength(1);
      expect(body.items[0]).toMatchObject({ number: A.dialIn, total: '1928.50', domestic: '56.00', international: '0.00', mobile: '1872.50', au: '1000.00', otherMobile: '872.50' });
    });

    it('shows only the session’s contract (tenant isolation)', async () => {
      const body = await json(await f.request('GET', '/api/v1/charges/2017-11/numbers', { token: tokenB }));
      expect(body.items.map((i: { number: string }) => i.number)).toEqual([B.dialIn]);
    });

    it.each(['2017-13', '2017-00', '17-11', '2017-1', 'november'])('answers 400 to the month %s', async (month) => {
      const res = await f.request('GET', `/api/v1/charges/${month}/numbers`, { token: tokenA });
      expect(res.status).toBe(400);
    });

    it('answers 404 to a month outside the portal’s window', async () => {
      const res = await f.request('GET', '/api/v1/charges/2017-07/numbers', { token: tokenA });
      expect(res.status).toBe(404);
      expect((await json(res)).error.code).toBe('MONTH_NOT_AVAILABLE');
    });
  });

  describe('GET /api/v1/charges/:month/numbers/:number/calls', () => {
    it('gives 10 calls a page in start order, each page with the whole listing’s count and sum (ご利用金額合計)', async () => {
      const page1 = await json(await f.request('GET', `/api/v1/charges/2017-11/numbers/${A.dialIn}/calls`, { token: tokenA }));
      expect(page1).toMatchObject({ page: 1, pageSize: 10, total: 12 });
      expect(page1.items).toHaveLength(10);
      expect(page1.items[0]).toMatchObject({ seq: 1, destination: '03-1111-2222', area: '東京', duration: '000106.0', count: null, extensionType: '外線', callType: '国内呼', category: 'domestic', charge: '8.00' });
      expect(page1.items[0].startedAt).toBe('2017-11-01T10:12:00.500+09:00');
      const page2 = await json(await f.request('GET', `/api/v1/charges/2017-11/numbers/${A.dialIn}/calls?page=2`, { token: tokenA }));
      expect(page2.items.map((c: { seq: number }) => c.seq)).toEqual([11, 12]);
      const listed = [...page1.items, ...page2.items].reduce((acc: Money, c: { charge: string }) => acc.plus(Money.parse(c.charge)), Money.zero).toString();
      const { items } = await json(await f.request('GET', '/api/v1/charges/2017-11/numbers', { token: tokenA }));
      expect(listed).toBe(items[0].total);
      // Not the page's (928.50 on page 1, 1000.00 on page 2): the listing's, on both.
      expect([page1.total, page1.sum]).toEqual([12, listed]);
      expect([page2.total, page2.sum]).toEqual([12, listed]);
    });

    it('filters by category', async () => {
      const au = await json(await f.request('GET', `/api/v1/charges/2017-11/numbers/${A.dialIn}/calls?category=au`, { token: tokenA }));
      expect(au.total).toBe(2);
      expect(au.sum).toBe('1000.00');
      expect(au.items.every((c: { category: string }) => c.category === 'au')).toBe(true);
    });

    it('answers 404 to another contract’s number (tenant isolation)', async () => {
      const res = await f.request('GET', `/api/v1/charges/2017-11/numbers/${B.dialIn}/calls`, { token: tokenA });
      expect(res.status).toBe(404);
      expect((await json(res)).error.code).toBe('NUMBER_NOT_FOUND');
      const back = await f.request('GET', `/api/v1/charges/2017-11/numbers/${A.dialIn}/calls`, { token: tokenB });
      expect(back.status).toBe(404);
    });

    it('answers 400 to a bad category, page or number', async () => {
      for (const q of ['category=mobile', 'category=x', 'page=0', 'page=x']) {
        expect((await f.request('GET', `/api/v1/charges/2017-11/numbers/${A.dialIn}/calls?${q}`, { token: tokenA })).status).toBe(400);
      }
      expect((await f.request('GET', '/api/v1/charges/2017-11/numbers/03-1234/calls', { token: tokenA })).status).toBe(400);
      expect((await f.request('GET', `/api/v1/charges/2017-13/numbers/${A.dialIn}/calls`, { token: tokenA })).status).toBe(400);
    });
  });

  describe('GET /api/v1/charges/:month/telegrams', () => {
    it('lists the month’s telegrams, apart from the call totals', async () => {
      const body = await json(await f.request('GET', '/api/v1/charges/2017-11/telegrams', { token: tokenA }));
      expect(body.items).toEqual([{ telegramId: '5f9c0a3e-8f2b-4c1d-9e7a-1b2c3d4e5f60', receiptNumber: 'R-4e5f60', date: '2017-11-03', destination: '東京都千代田区', kind: '慶弔', charge: '1230.00', adjustment: null }]);
      expect(body.total).toBe('1230.00');
    });

    it('shows only the session’s contract (tenant isolation)', async () => {
      const body = await json(await f.request('GET', '/api/v1/charges/2017-11/telegrams', { token: tokenB }));
      expect(body.items.map((t: { charge: string }) => t.charge)).toEqual(['990.00']);
    });

    it('answers 400 to a bad month', async () => {
      expect((await f.request('GET', '/api/v1/charges/2017-13/telegrams', { token: tokenA })).status).toBe(400);
    });
  });

  describe('the HTTP edges', () => {
    it('answers unknown routes with a JSON 404', async () => {
      const res = await f.request('GET', '/api/v1/nope');
      expect(res.status).toBe(404);
      expect((await json(res)).error.code).toBe('NOT_FOUND');
    });

    it('sets security headers and a request id', async () => {
      const res = await f.request('GET', '/api/v1/contract', { token: tokenA });
      expect(res.headers.get('x-content-type-options')).toBe('nosniff');
      expect(res.headers.get('x-frame-options')).toBe('SAMEORIGIN');
      expect(res.headers.get('strict-transport-security')).toBeTruthy();
      expect(res.headers.get('x-request-id')).toBeTruthy();
    });

    it('answers with the same headers over a Node socket as through app.request(): those of hono’s secureHeaders() and a request id', async () => {
      const hono = await new Hono().use(secureHeaders()).get('/', (c) => c.body(null)).request('/');
      expect(SECURITY_HEADERS.map(([name, value]) => [name.toLowerCase(), value]).sort()).toEqual([...hono.headers].sort());
      const server = serve({ fetch: f.app.fetch, port: 0 });
      await once(server, 'listening');
      try {
        const port = (server.address() as AddressInfo).port;
        const cases: [string, string, Record<string, string>][] = [
          ['GET', '/api/v1/contract', { authorization: `Bearer ${tokenA}` }],
          ['GET', '/api/v1/charges', { authorization: `Bearer ${tokenA}`, 'x-request-id': 'given-id_1=' }],
          ['GET', '/api/v1/charges', { 'x-request-id': 'not a plain id' }],
          ['GET', '/api/v1/nope', {}],
          ['GET', '/', {}],
          ['OPTIONS', '/api/v1/session', { origin: 'https://portal.example', 'access-control-request-method': 'POST' }],
        ];
        const transport = new Set(['date', 'connection', 'keep-alive', 'content-length', 'transfer-encoding']);
        for (const [method, path, headers] of cases) {
          const viaSocket = await fetch(`http://127.0.0.1:${port}${path}`, { method, headers, redirect: 'manual' });
          const viaApp = await f.app.request(path, { method, headers });
          expect(viaSocket.status, path).toBe(viaApp.status);
          const names = (res: Response) => [...res.headers].filter(([name]) => !transport.has(name) && name !== 'x-request-id').sort();
          expect(names(viaSocket), `${method} ${path}`).toEqual(names(viaApp));
          for (const res of [viaSocket, viaApp]) {
            for (const [name, value] of SECURITY_HEADERS) expect(res.headers.get(name), name).toBe(value);
            const id = res.headers.get('x-request-id');
            if (headers['x-request-id'] === 'given-id_1=') expect(id).toBe('given-id_1=');
            else expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
          }
          await viaSocket.arrayBuffer();
        }
      } finally {
        server.close();
      }
    });

    it('allows the configured portal origin (CORS) and no other', async () => {
      const pre = await f.request('OPTIONS', '/api/v1/session', { headers: { origin: 'https://portal.example', 'access-control-request-method': 'POST' } });
      expect(pre.headers.get('access-control-allow-origin')).toBe('https://portal.example');
      const other = await f.request('OPTIONS', '/api/v1/session', { headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST' } });
      expect(other.headers.get('access-control-allow-origin')).not.toBe('https://evil.example');
    });

    it('serves the OpenAPI document generated from the route schemas', async () => {
      const res = await f.request('GET', '/api/v1/openapi.json');
      expect(res.status).toBe(200);
      const doc = await json(res);
      expect(doc.openapi).toBe('3.1.0');
      for (const path of ['/api/v1/session', '/api/v1/password', '/api/v1/contract', '/api/v1/contract/numbers', '/api/v1/charges', '/api/v1/charges/{month}/numbers',
        '/api/v1/charges/{month}/numbers/{number}/calls', '/api/v1/charges/{month}/telegrams', '/api/v1/exports', '/api/v1/exports/{id}', '/api/v1/exports/{id}/file',
        '/api/v1/admin/imports/calls', '/api/v1/admin/imports/contracts', '/api/v1/admin/projections/rebuild', '/api/v1/admin/contracts/{code}/charges/{month}',
        '/api/v1/admin/contracts/{code}/audit/{month}', '/api/v1/admin/contracts/{code}/verify/{month}', '/api/v1/admin/contracts/{code}/reconcile/{month}',
        '/api/v1/admin/contracts/{code}/password-reset', '/api/v1/admin/streams/{streamId}', '/health']) {
        expect(doc.paths, path).toHaveProperty([path]);
      }
      expect(doc.paths['/api/v1/session'].post.requestBody.content['application/json'].schema.properties).toHaveProperty('selfId');
    });

    it('never logs a password or a token', async () => {
      const secret = 'Zq9secret';
      await f.request('POST', '/api/v1/session', { json: { selfId: A.selfId, password: secret } });
      const token = await f.login(A.selfId, A.password);
      await f.request('GET', '/api/v1/contract', { token });
      await f.request('GET', '/api/v1/admin/streams/contract-d123456789', { token: f.adminToken });
      const all = f.logs.join('');
      expect(f.logs.length).toBeGreaterThan(5);
      for (const s of [secret, A.password, B.password, token, tokenA, f.adminToken]) expect(all).not.toContain(s);
    });
  });
});
