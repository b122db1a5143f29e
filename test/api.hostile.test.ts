// Odd requests at the HTTP edge, each once answered 500 (or with an empty body): text the database
// cannot store, JSON in another charset or not UTF-8 at all, and what Node's own HTTP parser turns
// away before any route. Every answer is a 4xx with the error body, and nothing is logged as an
// unhandled error.
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testTargets } from './support/stores.ts';
import { listenOnLoopback, rawRequest, type LiveServer } from './support/http.ts';
import { A, json, openContract, openFixture, type Fixture } from './api.support.ts';

/** What a client sends when it writes bytes itself: nothing checks they make HTTP. */
function rawExchange(port: number, bytes: string | Buffer): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => socket.end(bytes));
    const chunks: Buffer[] = [];
    socket.on('data', (c) => chunks.push(c));
    socket.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    socket.on('error', reject);
  });
}

function parseAnswer(text: string): { status: number; headers: Map<string, string>; body: string } {
  const [head = '', body = ''] = text.split('\r\n\r\n');
  const [statusLine = '', ...lines] = head.split('\r\n');
  return {
    status: Number(statusLine.split(' ')[1]),
    headers: new Map(lines.map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()])),
    body,
  };
}

describe.each(testTargets)('hostile requests on $name', (target) => {
  let f: Fixture;
  let live: LiveServer;
  let token: string;
  beforeAll(async () => {
    f = await openFixture(target);
    await openContract(f, A);
    await f.catchUp();
    token = await f.login(A.selfId, A.password);
    live = await listenOnLoopback(f.app.fetch);
  });
  afterAll(async () => {
    await live?.close();
    await f?.close();
  });

  const expectError = async (res: Response, status: number, code?: string) => {
    expect(res.status).toBe(status);
    const body = await json(res);
    expect(body.error.message).toEqual(expect.any(String));
    if (code) expect(body.error.code).toBe(code);
    return body;
  };
  const noUnhandledErrors = () => expect(f.logs.filter((l) => l.includes('unhandled error'))).toEqual([]);

  describe('text the database cannot store', () => {
    it('answers 400 to a NUL (U+0000) in a self ID, without a login', async () => {
      const body = await expectError(await f.request('POST', '/api/v1/session', { json: { selfId: 'd12345\u00006789', password: 'x' } }), 400, 'BAD_REQUEST');
      expect(body.error.message).toContain('selfId');
      noUnhandledErrors();
    });

    it('answers 400 to a lone surrogate in a password, and a 4-byte character is just a wrong password', async () => {
      await expectError(await f.request('POST', '/api/v1/session', { body: '{"selfId":"d123456789","password":"ab\\ud800c"}', headers: { 'content-type': 'application/json' } }), 400, 'BAD_REQUEST');
      await expectError(await f.request('POST', '/api/v1/session', { json: { selfId: 'd123456789', password: 'ab😀c' } }), 401, 'INVALID_CREDENTIALS');
    });

    it('answers 400 to a NUL in a stream id and to an overlong one (engineer routes)', async () => {
      await expectError(await f.request('GET', '/api/v1/admin/streams/%00', { token: f.adminToken }), 400, 'BAD_REQUEST');
      await expectError(await f.request('GET', `/api/v1/admin/streams/${'s'.repeat(201)}`, { token: f.adminToken }), 400, 'BAD_REQUEST');
      await expectError(await f.request('POST', '/api/v1/admin/projections/rebuild?projection=%00', { token: f.adminToken }), 400, 'BAD_REQUEST');
      noUnhandledErrors();
    });

    it('answers 400 to a NUL in a password change and in an export id', async () => {
      await expectError(await f.request('PUT', '/api/v1/password', { token, json: { currentPassword: '\u0000', newPassword: 'a1b2', newPasswordConfirmation: 'a1b2' } }), 400);
      await expectError(await f.request('GET', '/api/v1/exports/%00', { token }), 400);
      noUnhandledErrors();
    });

    it('the portal’s login form with a NUL is a wrong login (401), not an error page', async () => {
      const page = await f.request('GET', '/login');
      const csrf = /name="_csrf" value="([^"]+)"/.exec(await page.text())![1]!;
      const cookie = page.headers.getSetCookie().map((c) => c.split(';')[0]).join('; ');
      const res = await f.request('POST', '/login', {
        body: new URLSearchParams({ _csrf: csrf, selfId: 'd1234\u000056789', password: 'abc123' }).toString(),
        headers: { 'content-type': 'application/x-www-form-urlencoded', cookie },
      });
      expect(res.status).toBe(401);
      noUnhandledErrors();
    });
  });

  describe('JSON is UTF-8', () => {
    const login = JSON.stringify({ selfId: A.selfId, password: A.password });

    it('answers 415 to JSON declared in another charset, whatever the bytes', async () => {
      for (const charset of ['utf-16', 'UTF-16LE', 'iso-8859-1', '"shift_jis"']) {
        const res = await f.request('POST', '/api/v1/session', { body: login, headers: { 'content-type': `application/json; charset=${charset}` } });
        await expectError(res, 415, 'UNSUPPORTED_MEDIA_TYPE');
      }
      const utf16 = Buffer.from(`\ufeff${login}`, 'utf16le');
      await expectError(await f.request('POST', '/api/v1/session', { body: new Uint8Array(utf16), headers: { 'content-type': 'application/json; charset=utf-16' } }), 415);
      await expectError(await f.request('PUT', '/api/v1/password', { token, body: '{}', headers: { 'content-type': 'application/json; charset=latin1' } }), 415);
      await expectError(await f.request('POST', '/api/v1/exports', { token, body: '{}', headers: { 'content-type': 'application/json;charset=utf-32' } }), 415);
    });

    it('answers 415 on an engineer route too (closing a month), after the token, and closes nothing', async () => {
      const before = await f.db.store.headPosition();
      const body = JSON.stringify({ contracts: [A.code] });
      for (const charset of ['iso-8859-1', 'utf-16']) {
        const res = await f.request('POST', '/api/v1/admin/months/2017-10/close', { token: f.adminToken, body, headers: { 'content-type': `application/json; charset=${charset}` } });
        await expectError(res, 415, 'UNSUPPORTED_MEDIA_TYPE');
      }
      await expectError(await f.request('POST', '/api/v1/admin/months/2017-10/close', { body, headers: { 'content-type': 'application/json; charset=utf-16' } }), 401);
      expect(await f.db.store.headPosition()).toBe(before);
    });

    it('reads JSON declared as UTF-8 in any spelling', async () => {
      for (const charset of ['utf-8', 'UTF8', '"UTF-8"']) {
        const res = await f.request('POST', '/api/v1/session', { body: login, headers: { 'content-type': `application/json; charset=${charset}` } });
        expect(res.status, charset).toBe(200);
      }
    });

    it('answers 400 to a body that is not UTF-8, instead of reading U+FFFD into it', async () => {
      const bytes = new Uint8Array([...Buffer.from('{"selfId":"d123456789","password":"ab'), 0xff, 0xfe, ...Buffer.from('"}')]);
      const body = await expectError(await f.request('POST', '/api/v1/session', { body: bytes, headers: { 'content-type': 'application/json' } }), 400, 'BAD_REQUEST');
      expect(body.error.message).toContain('UTF-8');
    });
  });

  describe('what Node’s HTTP parser refuses', () => {
    it('answers a header block over 16 KiB with 431 and the error body', async () => {
      const res = await rawRequest(live.port, 'GET', '/api/v1/charges', { authorization: `Bearer ${token}`, 'x-padding': 'a'.repeat(20 * 1024) });
      expect(res.status).toBe(431);
      expect(res.headers['content-type']).toBe('application/json; charset=utf-8');
      expect(JSON.parse(res.body)).toEqual({ error: { code: 'HEADERS_TOO_LARGE', message: expect.stringContaining('16 KiB') } });
      expect(res.headers['x-content-type-options']).toBe('nosniff');
    });

    it('answers a malformed request line with 400 and the error body', async () => {
      for (const line of ['GET /api/v1/charges HTTP/1.1 extra\r\n\r\n', 'G@T / HTTP/1.1\r\nHost: x\r\n\r\n', 'GET /\u0001 HTTP/1.1\r\n\r\n']) {
        const answer = parseAnswer(await rawExchange(live.port, line));
        expect(answer.status, JSON.stringify(line)).toBe(400);
        expect(answer.headers.get('content-type')).toBe('application/json; charset=utf-8');
        expect(JSON.parse(answer.body).error.code).toBe('BAD_REQUEST');
        expect(answer.headers.get('connection')).toBe('close');
      }
    });

    it('still answers ordinary requests on the same server afterwards', async () => {
      expect((await live.fetch('/api/v1/charges', { headers: { authorization: `Bearer ${token}` } })).status).toBe(200);
    });
  });
});
