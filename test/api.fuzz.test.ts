// A fuzz suite of our own (issue 12): every operation the OpenAPI document lists is driven through
// the real HTTP server (api/http-server.ts on a loopback port, as `ledger serve` listens) with
// hostile requests, class by class — NUL, lone surrogates, 4-byte characters, huge numbers,
// traversal, SQL-looking and formula text, control and private-use characters, random text, wrong
// JSON types, missing fields, wrong content types and charsets, malformed and oversize bodies,
// other tenants' ids, garbage tokens, the wrong role, oversize headers — as the customer of
// contract A, as an engineer and anonymous. Every answer must be:
//   - never a 5xx;
//   - a status the document lists for that operation, a 4xx with the error body
//     {"error":{"code","message"}} as application/json;
//   - free of contract B's data when A (or nobody) asked: B's codes, numbers, call and telegram
//     ids, receipt number, export id and session never appear unless the request itself carried
//     them, and never in a 2xx answer to A.
// The operations come from the document itself, so a route added later is fuzzed without a change
// here. Each class of each operation gets its own seeded fast-check run (LEDGER_FUZZ_SEED,
// LEDGER_FUZZ_ROUNDS requests per class and operation), so that every class reaches every slot
// of every operation in a bounded time; a failure names the operation, the class and the request.
import { Agent, request as httpRequest } from 'node:http';
import fc from 'fast-check';
import iconv from 'iconv-lite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ContractRequestGate } from '../api/fairness.ts';
import { streams } from '../domain/events.ts';
import { hashPassword, replacePasswordHash } from '../projections/credentials.ts';
import { listenOnLoopback, type LiveServer } from './support/http.ts';
import { testTargets } from './support/stores.ts';
import { A, B, json, openFixture, seedTwoContracts, type Fixture } from './api.support.ts';

const SEED = Number(process.env.LEDGER_FUZZ_SEED ?? 20261127);
const ROUNDS = Number(process.env.LEDGER_FUZZ_ROUNDS ?? 3);
/** Small body limits, so that an oversize body costs little to send. */
const BODY_LIMIT = 8 * 1024;
const ADMIN_BODY_LIMIT = 96 * 1024;
const ADMIN_TOKEN = 'test-admin-token-0123456789';
const METHODS = ['get', 'put', 'post', 'delete', 'patch'] as const;

type Actor = 'customer' | 'engineer' | 'anonymous' | 'garbage token';

interface Parameter {
  readonly name: string;
  readonly in: 'path' | 'query' | 'header' | 'cookie';
  readonly required: boolean;
  readonly schema: any;
}
interface Operation {
  readonly id: string;
  readonly method: string;
  readonly path: string;
  readonly needs: 'session' | 'admin' | 'none';
  readonly parameters: readonly Parameter[];
  readonly body?: { readonly mediaType: string; readonly schema: any; readonly json: boolean; readonly properties: Record<string, any> };
  readonly statuses: ReadonlySet<number>;
}

/** One request as sent: the path and query already encoded, the body as bytes. */
interface FuzzRequest {
  readonly actor: Actor;
  readonly cls: string;
  readonly path: string;
  readonly headers: Record<string, string>;
  readonly body?: Buffer;
  /** What the request carried, decoded, for the tenant check (an echo of it is no leak). */
  readonly carried: string;
  /** The one status the request must get, where the issue says which. */
  readonly mustGet?: number;
}

// ---- hostile values ------------------------------------------------------------------------------

const HOSTILE: Record<string, readonly string[]> = {
  NUL: ['\u0000', 'd123456789\u0000', '2017-11\u0000', '\u0000\u0000\u0000'],
  'lone surrogate': ['\ud800', '\udfff', 'a\udc00b', '\ud83d'],
  '4-byte character': ['😀', '𠮷野家', '2017-1😀', '\u{10FFFF}', '\u{1F468}\u200d\u{1F469}'],
  'huge number': ['99999999999999999999', '1e309', '-1', '0', '-0', '18446744073709551616', '9'.repeat(400), '99999-12', '2017-13', 'NaN', 'Infinity', '0x10', '1.5', '99999999.99'],
  traversal: ['..', '.', '../..', '../../../etc/passwd', '..\\..\\windows', '%2e%2e', '..%2f..%2fadmin', '/..;/', '....//', '~root', '/'],
  'SQL-looking': ["' OR '1'='1", "'; drop table events; --", "d123456789' --", '$1', "\\'", '1 union select * from credentials', "' || pg_sleep(5) || '", '%', '_'],
  formula: ["=cmd|' /C calc'!A1", '@SUM(1+1)', '+1+1', '-2+3', '\t=1', '\r=1'],
  control: ['\u0001', '\u001b[2J', '\u007f', '\u0085', '\u0080', '\ue000', '\uf8ff', '\u{F0000}', '\u202e', '\ufeff', '\u200b', 'a\r\nb', '\n'],
  'odd spelling': ['２０１７-１１', ' 2017-11', '2017-11 ', '2017/11', 'D123456789', 'ｄ123456789', '0312-345-678', '+81312345678', 'DOMESTIC', 'true', 'null', '[]', '{}'],
  long: ['x'.repeat(65), 's'.repeat(201), '9'.repeat(1000), 'y'.repeat(5000)],
  empty: [''],
};
/** Inserted into an otherwise valid value too. */
const INSERTED = new Set(['NUL', 'lone surrogate', '4-byte character', 'control', 'SQL-looking']);

const anyUnits = fc.string({ unit: fc.integer({ min: 0, max: 0xffff }).map((n) => String.fromCharCode(n)), maxLength: 24 });
const anyCodePoints = fc.string({ unit: 'binary', minLength: 1, maxLength: 24 });

/** Classes of a value in a parameter, a JSON field or a file's field. */
const VALUE_CLASSES = [...Object.keys(HOSTILE), 'random UTF-16', 'random code points'];
/** Classes of a JSON field only. */
const FIELD_CLASSES = ['wrong JSON type', 'missing field'];
const TENANT_CLASS = "another tenant's id";
/** A path parameter sent unencoded: dot segments and slashes that a client generator would have escaped. */
const RAW_PATH = 'raw traversal in the path';
const RAW_PATHS = ['..', '../..', `../../admin/streams/contract-${B.code}`, `../../../api/v1/admin/contracts/${B.code}/charges/2017-11`, '%2e%2e/%2e%2e', './', '..;/', '.%2e/x', `..%2f..%2f${B.code}`, '//', '%2F'];
const BODY_CLASSES = ['wrong content type', 'malformed body', 'oversize body'];
/** JSON declared in a charset other than UTF-8: 415, never read as UTF-8 (issue 12). */
const OTHER_CHARSET = 'JSON in another charset';
const OTHER_CHARSETS = ['utf-16', 'UTF-16LE', 'iso-8859-1', '"shift_jis"', 'utf-32', 'latin1', 'us-ascii'];
const REQUEST_CLASSES = ['oversize headers', 'odd header', 'odd query'];
const ACTOR_CLASSES = ['anonymous', 'garbage token', 'wrong role'];
/**
 * A customer's request when the contract's lane is full (api/fairness.ts: a burst of the same
 * customer's requests beyond those in work and waiting), sent to a second server over the same
 * store whose lane admits none, so that the answer is certain.
 */
const LANE_FULL = 'lane full';

function hostileValue(cls: string, valid: readonly string[]): fc.Arbitrary<string> {
  if (cls === 'random UTF-16') return anyUnits;
  if (cls === 'random code points') return anyCodePoints;
  const whole = fc.constantFrom(...HOSTILE[cls]!);
  if (!INSERTED.has(cls)) return whole;
  const base = valid.length > 0 ? valid : ['x'];
  const inside = fc.tuple(fc.constantFrom(...base), whole, fc.nat()).map(([v, bad, at]) => {
    const i = at % (v.length + 1);
    return v.slice(0, i) + bad + v.slice(i);
  });
  return fc.oneof(whole, inside);
}

const WRONG_TYPES: readonly unknown[] = [1e308, -1, 2 ** 64, 0.1, true, false, null, [], {}, { $gt: '' }, ['2017-11'], JSON.parse('['.repeat(200) + ']'.repeat(200))];

// ---- encoding --------------------------------------------------------------------------------------

/**
 * A value as a path segment or query value, percent-encoded as a client generator would; a lone
 * surrogate, which encodeURIComponent refuses, goes as the three bytes UTF-8 would give it were it
 * a character (invalid UTF-8, as an attacker sends it).
 */
function encodeValue(value: string): string {
  let out = '';
  for (let i = 0; i < value.length; i++) {
    const unit = value.charCodeAt(i);
    const next = value.charCodeAt(i + 1);
    if (unit >= 0xd800 && unit <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) {
      out += encodeURIComponent(value.slice(i, i + 2));
      i++;
    } else if (unit >= 0xd800 && unit <= 0xdfff) {
      out += [0xe0 | (unit >> 12), 0x80 | ((unit >> 6) & 0x3f), 0x80 | (unit & 0x3f)].map((b) => `%${b.toString(16).toUpperCase()}`).join('');
    } else {
      out += encodeURIComponent(value[i]!);
    }
  }
  return out;
}

// ---- the document as operations ----------------------------------------------------------------------

/** A JSON body's fields: an object's properties, or those of the first object among its alternatives. */
function propertiesOf(schema: any, resolve: (s: any) => any): Record<string, any> {
  if (schema?.properties) return schema.properties;
  for (const alternative of [...(schema?.anyOf ?? []), ...(schema?.oneOf ?? [])].map(resolve)) if (alternative?.properties) return alternative.properties;
  return {};
}

function operationsOf(doc: any): Operation[] {
  const resolve = (schema: any): any =>
    schema && typeof schema === 'object' && typeof schema.$ref === 'string' ? resolve(doc.components.schemas[schema.$ref.replace('#/components/schemas/', '')]) : schema;
  const ops: Operation[] = [];
  for (const [path, item] of Object.entries(doc.paths as Record<string, Record<string, any>>)) {
    for (const method of METHODS) {
      const op = item[method];
      if (!op) continue;
      const security: Record<string, unknown>[] = op.security ?? doc.security ?? [];
      const needs = security.some((s) => 'admin' in s) ? 'admin' : security.some((s) => 'session' in s) ? 'session' : 'none';
      const content = op.requestBody?.content as Record<string, { schema?: unknown }> | undefined;
      const mediaType = content ? Object.keys(content)[0] : undefined;
      const schema = mediaType ? (resolve(content![mediaType]!.schema) ?? {}) : undefined;
      ops.push({
        id: op.operationId,
        method: method.toUpperCase(),
        path,
        needs,
        parameters: [...(item.parameters ?? []), ...(op.parameters ?? [])].map((p: any) => ({ name: p.name, in: p.in, required: !!p.required, schema: resolve(p.schema) ?? {} })),
        ...(mediaType ? { body: { mediaType, schema, json: /[/+]json$/.test(mediaType), properties: propertiesOf(schema, resolve) } } : {}),
        statuses: new Set(Object.keys(op.responses).map(Number)),
      });
    }
  }
  return ops;
}

// ---- what the fuzz knows of the two contracts ----------------------------------------------------------

interface Known {
  exportOfA: string;
  exportOfB: string;
  tokenOfA: string;
  /** Everything of contract B that must never reach A or an anonymous caller. */
  markersOfB: string[];
  /** Everything of contract A that must never reach an anonymous caller. */
  markersOfA: string[];
}

/** Values a parameter or field of that name takes when well-formed: A's own, and B's (another tenant). */
function poolsOf(known: Known): { own: Record<string, readonly string[]>; other: Record<string, readonly string[]> } {
  return {
    own: {
      month: ['2017-11', '2017-12', '2017-10', '2017-08'],
      number: [A.dialIn, A.basic],
      category: ['domestic', 'international', 'au', 'otherMobile'],
      page: ['1', '2'],
      size: ['1', '5'],
      id: [known.exportOfA],
      code: [A.code],
      contracts: [A.code],
      streamId: [streams.contract(A.code), streams.telegrams(A.code), streams.calls(A.code, '2017-11')],
      projection: ['charges', 'telegrams', 'contracts'],
      selfId: [A.selfId],
      password: [A.password],
      currentPassword: [A.password],
      newPassword: ['abc124'],
      newPasswordConfirmation: ['abc124'],
      kind: ['numbers', 'calls'],
      encoding: ['sjis', 'utf-8'],
    },
    other: {
      number: [B.dialIn, B.basic, B.mobile],
      id: [known.exportOfB],
      code: [B.code],
      streamId: [streams.contract(B.code), streams.telegrams(B.code)],
      selfId: [B.selfId],
    },
  };
}

const CALL_HEADER = ['ご利用電話番号', '通話開始日時', '通話開始時刻', '着信電話番号', '地域名', '通話時間', '内線区分', '呼種別', '通話料'];
const CALL_ROW = [A.dialIn, '2017/12/06', '101010.0', '03-1111-2222', '東京', '000106.0', '外線', '国内呼', '8.00'];
const NUMBERS_HEADER = ['ご利用電話番号', '合計料金', '国内通話', '国際通話', 'au通話', 'その他移動体'];
const NUMBERS_ROW = [A.dialIn, '56.00', '56.00', '0.00', '0.00', '0.00'];
const CONTRACT_LINES: readonly Record<string, unknown>[] = [
  { type: 'SubscribeOption', contractCode: A.code, option: 'callRejection', effectiveFrom: '2017-12-01' },
  { type: 'AddNumber', contractCode: A.code, dialInNumber: '0312340000', auMobileNumber: '09000001111', startDate: '2017-12-01', commandId: 'ORD-1' },
  { type: 'OpenContract', contractCode: 'd555555555', selfId: 'd555555555', initialPassword: 'abc123', startDate: '2017-12-01', channels: 1, connectionType: 'ダイヤルイン接続', primaryDns: '192.0.2.1', secondaryDns: '192.0.2.2', basicNumber: '0120555555' },
];

/** Where a value goes: a parameter, a field of a JSON body, or a field of a file (CSV, JSON Lines). */
type Slot = { readonly kind: 'param'; readonly p: Parameter } | { readonly kind: 'field'; readonly name: string; readonly schema: any } | { readonly kind: 'file' };

function slotsOf(op: Operation): Slot[] {
  const slots: Slot[] = op.parameters.filter((p) => p.in === 'path' || p.in === 'query').map((p) => ({ kind: 'param', p }));
  if (op.body?.json) for (const [name, schema] of Object.entries(op.body.properties)) slots.push({ kind: 'field', name, schema });
  else if (op.body) slots.push({ kind: 'file' });
  return slots;
}

const slotName = (slot: Slot) => (slot.kind === 'param' ? slot.p.name : slot.kind === 'field' ? slot.name : '');

/** The classes that apply to an operation, each with the slots it can go to. */
function classesOf(op: Operation, pools: ReturnType<typeof poolsOf>): { cls: string; slots: Slot[] }[] {
  const slots = slotsOf(op);
  const out: { cls: string; slots: Slot[] }[] = [{ cls: 'valid', slots: [] }];
  if (slots.length > 0) for (const cls of VALUE_CLASSES) out.push({ cls, slots });
  const fields = slots.filter((s) => s.kind === 'field');
  if (fields.length > 0) for (const cls of FIELD_CLASSES) out.push({ cls, slots: fields });
  const tenant = slots.filter((s) => s.kind !== 'file' && (pools.other[slotName(s)]?.length ?? 0) > 0);
  if (op.needs !== 'admin' && tenant.length > 0) out.push({ cls: TENANT_CLASS, slots: tenant });
  const inPath = slots.filter((s) => s.kind === 'param' && s.p.in === 'path');
  if (inPath.length > 0) out.push({ cls: RAW_PATH, slots: inPath });
  if (op.body) for (const cls of BODY_CLASSES) out.push({ cls, slots: [] });
  if (op.body?.json) out.push({ cls: OTHER_CHARSET, slots: [] });
  for (const cls of [...REQUEST_CLASSES, ...ACTOR_CLASSES]) out.push({ cls, slots: [] });
  if (op.needs === 'session') out.push({ cls: LANE_FULL, slots: [] });
  return out;
}

function validValues(name: string, schema: any, pools: ReturnType<typeof poolsOf>): string[] {
  const values = [...(pools.own[name] ?? []), ...(schema?.enum ?? []), ...(schema?.example !== undefined ? [schema.example] : [])].map(String);
  return values.length > 0 ? [...new Set(values)] : ['x'];
}

function garbageToken(known: Known): fc.Arbitrary<string> {
  return fc.oneof(
    fc.string({ unit: fc.integer({ min: 0x21, max: 0x7e }).map((n) => String.fromCharCode(n)), maxLength: 80 }).map((t) => `Bearer ${t}`),
    fc.string({ unit: fc.integer({ min: 0x80, max: 0xff }).map((n) => String.fromCharCode(n)), minLength: 1, maxLength: 20 }).map((t) => `Bearer ${t}`),
    fc.constantFrom(
      'Bearer',
      'Bearer ',
      `Bearer ${known.tokenOfA.slice(0, -1)}`,
      `Bearer ${known.tokenOfA}x`,
      `Bearer ${known.tokenOfA} ${known.tokenOfA}`,
      `bearer\t${ADMIN_TOKEN.slice(1)}`,
      `Basic ${Buffer.from(`${A.selfId}:${A.password}`).toString('base64')}`,
      `Bearer ${'t'.repeat(8000)}`,
      `Bearer ${ADMIN_TOKEN}\u00a0x`,
      `Bearer ' OR '1'='1`,
      'Bearer null',
      `Bearer %00${known.tokenOfA.slice(3)}`,
    ),
  );
}

const MALFORMED_JSON: readonly (string | Buffer)[] = [
  'not json',
  '',
  '{',
  '{"selfId":',
  '[]',
  'null',
  '"text"',
  '1e999',
  '['.repeat(20_000) + ']'.repeat(20_000),
  '{"a":'.repeat(3000) + '1' + '}'.repeat(3000),
  '{"month":"2017-11","month":"2017-12","kind":"calls","kind":"numbers"}',
  '\ufeff{}',
  Buffer.from([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0x22, 0x7d]),
  Buffer.concat([Buffer.from('{"selfId":"'), Buffer.from([0xed, 0xa0, 0x80]), Buffer.from('","password":"x"}')]),
  Buffer.from('\ufeff{"month":"2017-11","kind":"calls"}', 'utf16le'),
];
const MALFORMED_FILE: readonly Buffer[] = [
  Buffer.alloc(0),
  Buffer.from([0xff, 0xfe, 0x00, 0x80, 0x81, 0x0a]),
  Buffer.concat([Buffer.from(CALL_HEADER.join(',') + '\r\n'), Buffer.from([0x80]), Buffer.from(CALL_ROW.slice(1).join(',') + '\r\n')]),
  Buffer.concat([iconv.encode(CALL_HEADER.join(',') + '\r\n' + CALL_ROW.slice(0, 4).join(',') + ',', 'cp932'), Buffer.from([0xf0, 0x40]), iconv.encode(',' + CALL_ROW.slice(5).join(',') + '\r\n', 'cp932')]),
  Buffer.from('a,b\u0000,c\r\n'),
  Buffer.from(CALL_HEADER.join(',') + '\r\n'),
  Buffer.from('{"type":\n'),
  Buffer.from('"unterminated,quote\r\n'),
  Buffer.from(',,,,,,,,\r\n'.repeat(50)),
];

const WRONG_CONTENT_TYPES = (mediaType: string): (string | undefined)[] => [
  undefined,
  'text/plain',
  'application/xml',
  'application/x-www-form-urlencoded',
  'multipart/form-data; boundary=zzz',
  `${mediaType}; charset=utf-16`,
  `${mediaType}; charset=iso-8859-1`,
  `${mediaType}; charset="shift_jis"`,
  `${mediaType}; charset=utf-8; charset=utf-16`,
  'application/vnd.api+json',
  '*/*',
  ';;;',
  `${mediaType}\u00ff`,
];

const ODD_HEADERS: readonly Record<string, string>[] = [
  { 'x-request-id': "<script>alert('x')</script>" },
  { 'x-request-id': 'r'.repeat(300) },
  { accept: 'text/html;q=0.1, */*;q=0' },
  { 'accept-encoding': 'br;q=2, gzip;q=-1' },
  { origin: 'https://evil.example' },
  { cookie: 'session=../../etc; __Host-x=\u00ff' },
  { 'x-forwarded-for': '127.0.0.1, ::1' },
  { 'x-http-method-override': 'DELETE' },
  { range: 'bytes=0-0,-1' },
  { 'if-none-match': '*' },
];
const ODD_QUERIES = ['__proto__=1&constructor=x', 'page=1&page=2', `a=${'b'.repeat(3000)}`, 'x=%', 'x=%zz&y=%ff', '%00=%00', 'page[]=1', 'size=0&page=0'];

/** Requests of one class for one operation. */
function requestArb(op: Operation, cls: string, slots: readonly Slot[], known: Known): fc.Arbitrary<FuzzRequest> {
  const pools = poolsOf(known);
  const proper: Actor = op.needs === 'admin' ? 'engineer' : op.needs === 'session' ? 'customer' : 'anonymous';
  const actor: Actor = cls === 'anonymous' ? 'anonymous' : cls === 'garbage token' ? 'garbage token' : cls === 'wrong role' ? (proper === 'engineer' ? 'customer' : 'engineer') : proper;
  const limit = op.path.startsWith('/api/v1/admin/') ? ADMIN_BODY_LIMIT : BODY_LIMIT;
  const target = slots.length > 0 ? fc.constantFrom(...slots) : fc.constant(undefined);
  return fc
    .record({
      target,
      seedOfValues: fc.array(fc.nat(), { minLength: 16, maxLength: 16 }),
      present: fc.array(fc.boolean(), { minLength: 16, maxLength: 16 }),
      auth: actor === 'garbage token' ? garbageToken(known) : fc.constant(undefined),
    })
    .chain(({ target, seedOfValues, present, auth }) => {
      const name = target ? slotName(target) : '';
      const schema = target?.kind === 'param' ? target.p.schema : target?.kind === 'field' ? target.schema : undefined;
      const valid = validValues(name, schema, pools);
      const special: Record<string, fc.Arbitrary<unknown>> = {
        [TENANT_CLASS]: fc.constantFrom(...(pools.other[name] ?? ['x'])),
        [RAW_PATH]: fc.constantFrom(...RAW_PATHS),
        'wrong JSON type': fc.constantFrom(...WRONG_TYPES),
      };
      const bad: fc.Arbitrary<unknown> = special[cls] ?? (VALUE_CLASSES.includes(cls) ? hostileValue(cls, valid) : fc.constant(undefined));
      const pick = <T,>(list: readonly T[], i: number) => list[seedOfValues[i % 16]! % list.length]!;
      return fc.record({ bad, fileAt: fc.nat(), fileEncoding: fc.constantFrom('utf-8', 'cp932', 'utf-8 with BOM'), which: fc.nat(), oversizeBy: fc.integer({ min: 1, max: 4096 }) }).map(
        ({ bad, fileAt, fileEncoding, which, oversizeBy }): FuzzRequest => {
          const carried: string[] = [];
          const headers: Record<string, string> = {};
          if (actor === 'customer') headers.authorization = `Bearer ${known.tokenOfA}`;
          if (actor === 'engineer') headers.authorization = `Bearer ${ADMIN_TOKEN}`;
          if (auth !== undefined) {
            headers.authorization = auth;
            carried.push(auth);
          }
          // parameters: the target one hostile, the others valid (an optional query one sometimes absent)
          let path = op.path;
          const query: string[] = [];
          op.parameters.forEach((p, i) => {
            const isTarget = target?.kind === 'param' && target.p === p;
            if (!isTarget && p.in === 'query' && !present[i % 16]) return;
            const value = isTarget ? String(bad) : pick(validValues(p.name, p.schema, pools), i);
            carried.push(value);
            if (p.in === 'path') path = path.replace(`{${p.name}}`, isTarget && cls === RAW_PATH ? value : encodeValue(value));
            else if (p.in === 'query') query.push(`${encodeURIComponent(p.name)}=${encodeValue(value)}`);
          });
          if (cls === 'odd query') {
            const q = ODD_QUERIES[which % ODD_QUERIES.length]!;
            query.push(q);
            carried.push(q);
          }
          if (cls === 'oversize headers') headers['x-padding'] = 'a'.repeat(17 * 1024 + (which % 1024));
          if (cls === 'odd header') Object.assign(headers, ODD_HEADERS[which % ODD_HEADERS.length]);
          // the body: valid but for the target, unless the class is the body's own
          let body: Buffer | undefined;
          let mustGet: number | undefined;
          if (op.body) {
            headers['content-type'] = op.body.mediaType;
            if (cls === 'wrong content type') {
              const type = WRONG_CONTENT_TYPES(op.body.mediaType)[which % 13];
              if (type === undefined) delete headers['content-type'];
              else headers['content-type'] = type;
            }
            if (cls === OTHER_CHARSET) {
              headers['content-type'] = `${op.body.mediaType}; charset=${OTHER_CHARSETS[which % OTHER_CHARSETS.length]}`;
              mustGet = 415;
            }
            if (cls === 'malformed body') {
              const list = op.body.json ? MALFORMED_JSON : MALFORMED_FILE;
              const item = list[which % list.length]!;
              body = typeof item === 'string' ? Buffer.from(item, 'utf8') : item;
            } else if (cls === 'oversize body') {
              body = op.body.json ? Buffer.from(JSON.stringify({ padding: 'p'.repeat(limit + oversizeBy) })) : Buffer.alloc(limit + oversizeBy, 0x41);
            } else if (op.body.json) {
              const object: Record<string, unknown> = {};
              Object.entries(op.body.properties).forEach(([field, s], i) => {
                const isTarget = target?.kind === 'field' && target.name === field;
                if (isTarget && cls === 'missing field') return;
                const valid = s?.type === 'array' ? [pick(validValues(field, s.items, pools), i + 7)] : s?.type === 'boolean' ? s.const ?? s.enum?.[0] ?? true : pick(validValues(field, s, pools), i + 7);
                // In a list, the hostile value is an item of it (a hostile type stands for the list itself).
                object[field] = !isTarget ? valid : s?.type === 'array' && cls !== 'wrong JSON type' && cls !== TENANT_CLASS ? [bad] : bad;
              });
              const text = JSON.stringify(object);
              carried.push(text);
              body = Buffer.from(text, 'utf8');
            } else {
              const text = fileText(op, target?.kind === 'file' ? String(bad) : undefined, fileAt);
              carried.push(text);
              body = fileEncoding === 'cp932' ? iconv.encode(text, 'cp932') : Buffer.from(fileEncoding === 'utf-8' ? text : `\ufeff${text}`, 'utf8');
            }
          }
          return { actor, cls, path: query.length > 0 ? `${path}?${query.join('&')}` : path, headers, ...(body ? { body } : {}), carried: carried.join('\n'), ...(mustGet ? { mustGet } : {}) };
        },
      );
    });
}

/** The file of an upload: a template (calls, per-number charges, contract commands) with one field replaced. */
function fileText(op: Operation, bad: string | undefined, at: number): string {
  if (/ndjson|jsonl/.test(op.body!.mediaType)) {
    const line = { ...CONTRACT_LINES[at % CONTRACT_LINES.length]! };
    const keys = Object.keys(line);
    if (bad !== undefined) line[keys[Math.floor(at / 3) % keys.length]!] = bad;
    return `${JSON.stringify(line)}\n`;
  }
  const quote = (v: string) => (/[",\r\n]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v);
  const [header, row] = op.id === 'reconcileMonth' ? [[...NUMBERS_HEADER], [...NUMBERS_ROW]] : [[...CALL_HEADER], [...CALL_ROW]];
  if (bad !== undefined) (at % 5 === 0 ? header : row)[Math.floor(at / 5) % row.length] = bad;
  return `${header.map(quote).join(',')}\r\n${row.map(quote).join(',')}\r\n`;
}

interface Answer {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: string;
}

function send(port: number, agent: Agent, method: string, req: FuzzRequest): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const outgoing = httpRequest({ host: '127.0.0.1', port, method, path: req.path, headers: req.headers, agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    outgoing.setTimeout(20_000, () => outgoing.destroy(new Error(`no answer within 20 s: ${method} ${req.path.slice(0, 200)}`)));
    outgoing.on('error', reject);
    outgoing.end(req.body);
  });
}

const show = (text: string, max = 300) => JSON.stringify(text.length > max ? `${text.slice(0, max)}…(${text.length})` : text);

/** Operations whose success changes who A is or whether A's session lives: A is put back after each. */
const CREDENTIAL_OPERATIONS = new Set(['logIn', 'logOut', 'changePassword', 'resetPassword']);

describe.each(testTargets)('fuzzing every documented operation through the HTTP server on $name', (target) => {
  let f: Fixture;
  let live: LiveServer;
  let crowded: LiveServer;
  let agent: Agent;
  let ops: Operation[];
  let known: Known;
  let hashOfA: string;
  const sent = new Map<string, number>();
  const byClass = new Map<string, number>();
  const byStatus = new Map<number, number>();
  let slowest = { ms: 0, what: '' };

  beforeAll(async () => {
    f = await openFixture(target, { bodyLimit: BODY_LIMIT, adminBodyLimit: ADMIN_BODY_LIMIT });
    await seedTwoContracts(f);
    hashOfA = await hashPassword(A.password);
    live = await listenOnLoopback(f.app.fetch);
    crowded = await listenOnLoopback(f.appWith({ requestGate: new ContractRequestGate({ inFlight: 0, waiting: 0, total: 8 }) }).fetch);
    agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const tokenOfA = await f.login(A.selfId, A.password);
    const tokenOfB = await f.login(B.selfId, B.password);
    const exportOf = async (token: string) => (await json(await f.request('POST', '/api/v1/exports', { token, json: { month: '2017-11', kind: 'calls' } }))).id as string;
    const [exportOfA, exportOfB] = [await exportOf(tokenOfA), await exportOf(tokenOfB)];
    const callIds = async (code: string) => (await Promise.all(['2017-11', '2017-12'].map((m) => f.db.store.readStream(streams.calls(code, m))))).flat().map((e) => e.id);
    known = {
      exportOfA,
      exportOfB,
      tokenOfA,
      markersOfB: [B.code, B.dialIn, B.basic, B.mobile, '0011234567', 'アメリカ', '5f9c0a3e-8f2b-4c1d-9e7a-1b2c3d4e5f61', 'R-4e5f61', exportOfB, tokenOfB, ...(await callIds(B.code))],
      markersOfA: [A.code, A.dialIn, A.basic, A.mobile, '5f9c0a3e-8f2b-4c1d-9e7a-1b2c3d4e5f60', 'R-4e5f60', exportOfA, tokenOfA, ...(await callIds(A.code))],
    };
    expect(known.markersOfB.length).toBeGreaterThan(10);
    ops = operationsOf(await json(await f.request('GET', '/api/v1/openapi.json')));
  }, 120_000);

  afterAll(async () => {
    agent?.destroy();
    await live?.close();
    await crowded?.close();
    await f?.close();
    const total = [...sent.values()].reduce((a, b) => a + b, 0);
    console.info(
      `fuzz on ${target.name}: ${total} requests, ${sent.size} operations, ${byClass.size} classes (seed ${SEED}, ${ROUNDS} per class and operation); statuses ${JSON.stringify(Object.fromEntries([...byStatus].sort()))}; slowest ${Math.round(slowest.ms)} ms (${slowest.what}); by class ${JSON.stringify(Object.fromEntries(byClass))}`,
    );
  });

  /** Puts A back as the fuzz found it: its password, no lock, and a live session. */
  async function restoreA(): Promise<void> {
    await replacePasswordHash(f.db.database.db, A.code, hashOfA);
    const probe = await f.request('GET', '/api/v1/contract', { token: known.tokenOfA });
    if (probe.status !== 200) known.tokenOfA = await f.login(A.selfId, A.password);
  }

  /** The problems of one answer; none when it is as the document and the tenant rule say. */
  function problemsOf(op: Operation, req: FuzzRequest, answer: Answer): string[] {
    const problems: string[] = [];
    if (answer.status >= 500) problems.push(`answered ${answer.status}`);
    if (req.mustGet !== undefined && answer.status !== req.mustGet) problems.push(`answered ${answer.status} where ${req.mustGet} is due`);
    // A client told to come back later is told when (docs/api.md).
    if ((answer.status === 429 || answer.status === 503) && !/^\d+$/.test(String(answer.headers['retry-after'] ?? ''))) problems.push(`a ${answer.status} without Retry-After`);
    if (!op.statuses.has(answer.status)) problems.push(`answered ${answer.status}, which the document does not list for ${op.id} (${[...op.statuses].join(', ')})`);
    if (answer.status >= 400) {
      const type = String(answer.headers['content-type'] ?? '');
      if (!type.startsWith('application/json')) problems.push(`a ${answer.status} as ${type || 'no content type'}`);
      let body: any;
      try {
        body = JSON.parse(answer.body);
      } catch {
        problems.push(`a ${answer.status} whose body is not JSON: ${show(answer.body)}`);
      }
      if (body !== undefined) {
        const e = body?.error;
        const shaped = e && typeof e.code === 'string' && /^[A-Z][A-Z0-9_]+$/.test(e.code) && typeof e.message === 'string' && e.message.length > 0 && (e.details === undefined || Array.isArray(e.details));
        if (!shaped || Object.keys(body).length !== 1) problems.push(`a ${answer.status} without the error body: ${show(answer.body)}`);
      }
    }
    if (req.actor !== 'engineer') {
      const seen = `${JSON.stringify(answer.headers)}\n${answer.body}`;
      const forbidden = req.actor === 'customer' ? known.markersOfB : [...known.markersOfB, ...known.markersOfA];
      for (const marker of forbidden) {
        if (!seen.includes(marker)) continue;
        if (answer.status < 400 && req.actor === 'customer') problems.push(`a ${answer.status} to A carries ${marker} of contract B`);
        else if (!req.carried.includes(marker)) problems.push(`a ${answer.status} to ${req.actor} carries ${marker}, which the request did not`);
      }
    }
    return problems;
  }

  it(
    'never answers 5xx nor an undocumented status, always the error body, never another contract’s data',
    async () => {
      expect(ops.length).toBeGreaterThan(20);
      const failures: string[] = [];
      let run = 0;
      let turnedAway = 0;
      for (const op of ops) {
        for (const { cls, slots } of classesOf(op, poolsOf(known))) {
          const seed = SEED + run++;
          const outcome = await fc.check(
            fc.asyncProperty(requestArb(op, cls, slots, known), async (req) => {
              const started = performance.now();
              const answer = await send(cls === LANE_FULL ? crowded.port : live.port, agent, op.method, req);
              const ms = performance.now() - started;
              if (ms > slowest.ms) slowest = { ms, what: `${op.id} ${cls} → ${answer.status}` };
              sent.set(op.id, (sent.get(op.id) ?? 0) + 1);
              byStatus.set(answer.status, (byStatus.get(answer.status) ?? 0) + 1);
              byClass.set(cls, (byClass.get(cls) ?? 0) + 1);
              if (cls === LANE_FULL && answer.status === 429) turnedAway++;
              if (CREDENTIAL_OPERATIONS.has(op.id) || (req.actor === 'customer' && answer.status === 401)) await restoreA();
              const problems = problemsOf(op, req, answer);
              if (problems.length > 0) {
                const headers = { ...req.headers, ...(req.headers.authorization ? { authorization: req.headers.authorization.slice(0, 40) } : {}) };
                throw new Error(`${problems.join('; ')}\n  ${op.method} ${req.path.slice(0, 300)} as ${req.actor}, headers ${show(JSON.stringify(headers), 200)}, body ${show(req.body?.toString('utf8') ?? '', 200)}\n  answer ${show(answer.body)}`);
              }
            }),
            { seed, numRuns: ROUNDS, endOnFailure: true },
          );
          if (outcome.failed) failures.push(`${op.method} ${op.path} (${op.id}), ${cls} (seed ${seed}): ${(outcome.errorInstance as Error | undefined)?.message ?? String(outcome.errorInstance)}`);
        }
      }
      expect(failures).toEqual([]);
      expect(f.logs.filter((l) => l.includes('unhandled error')).map((l) => l.slice(0, 500))).toEqual([]);
      // It reached what it meant to: every operation, every class, and past the door often.
      for (const op of ops) expect(sent.get(op.id) ?? 0, op.id).toBeGreaterThanOrEqual(ROUNDS * 7);
      for (const cls of ['valid', ...VALUE_CLASSES, ...FIELD_CLASSES, TENANT_CLASS, RAW_PATH, ...BODY_CLASSES, OTHER_CHARSET, ...REQUEST_CLASSES, ...ACTOR_CLASSES, LANE_FULL]) expect(byClass.get(cls) ?? 0, cls).toBeGreaterThan(0);
      expect(turnedAway, 'requests turned away by a full lane').toBe(byClass.get(LANE_FULL));
      expect([...byStatus].filter(([s]) => s < 300).reduce((a, [, n]) => a + n, 0)).toBeGreaterThan(ops.length * ROUNDS);
    },
    120_000,
  );
});
