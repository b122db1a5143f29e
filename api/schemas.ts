// The input and output schemas shared by the route modules. The OpenAPI document is generated from
// these same schemas (GET /api/v1/openapi.json).
import { z } from '@hono/zod-openapi';
import type { Context, MiddlewareHandler } from 'hono';
import type { Hook } from '@hono/zod-openapi';
import { CATEGORIES } from '../domain/events.ts';
import { ApiError } from './errors.ts';
import type { AppEnv } from './env.ts';

export const ErrorSchema = z
  .object({
    error: z.object({
      code: z.string().openapi({ example: 'PASSWORD_LENGTH' }),
      message: z.string(),
      details: z.array(z.object({ line: z.number().int().optional(), field: z.string().optional(), code: z.string().optional(), message: z.string() })).optional(),
    }),
  })
  .openapi('Error');

// A lone surrogate (half of a UTF-16 pair) is no Unicode character: UTF-8 cannot carry it, and the
// database driver would store U+FFFD in its place.
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** Whether a request's text can be stored and compared as given: no NUL (PostgreSQL refuses it in text), no lone surrogate. */
export function isStorableText(text: string): boolean {
  return !text.includes('\u0000') && !LONE_SURROGATE.test(text);
}

/**
 * Text from a request, checked at the edge: at most `max` UTF-16 units and storable (see
 * isStorableText), so that the database never sees what it would refuse with an error.
 */
export function RequestText(max: number, min = 0) {
  return z
    .string()
    .min(min)
    .max(max)
    .refine((t) => !t.includes('\u0000'), 'must not contain a NUL character (U+0000)')
    .refine((t) => !LONE_SURROGATE.test(t), 'must be valid Unicode (a lone surrogate is not)');
}

export const Amount = z.string().regex(/^-?\d+\.\d{2}$/).openapi({ example: '1928.50', description: 'yen, exactly 2 decimals' });
export const WholeYen = z.string().regex(/^-?\d+$/).openapi({ example: '1928', description: 'whole yen, fractions cut off' });
export const IsoTime = z.string().openapi({ example: '2017-11-01T20:12:21.500+09:00' });

export const MonthParam = z
  .string()
  .regex(/^\d{4}-(0[1-9]|1[0-2])$/, 'expected a month YYYY-MM')
  .openapi({ param: { name: 'month', in: 'path' }, example: '2017-11' });

export const PageQuery = z
  .string()
  .regex(/^[1-9]\d{0,5}$/, 'expected a page number 1, 2, …')
  .optional()
  .openapi({ param: { name: 'page', in: 'query' }, example: '1' });

export const CategorySchema = z.enum(CATEGORIES as [string, ...string[]]).openapi({ example: 'domestic' });

export const ContractCodeParam = z
  .string()
  .regex(/^d\d{9}$/, 'expected a contract code: d and 9 digits')
  .openapi({ param: { name: 'code', in: 'path' }, example: 'd123456789' });

export const PhoneNumberParam = z
  .string()
  .regex(/^\d{1,13}$/, 'expected a phone number, digits only')
  .openapi({ param: { name: 'number', in: 'path' }, example: '0312345678' });

export const Figures = z
  .object({ total: Amount, domestic: Amount, international: Amount, mobile: Amount, au: Amount, otherMobile: Amount })
  .openapi('Figures');

export function pageNumber(text: string | undefined): number {
  return text === undefined ? 1 : Number.parseInt(text, 10);
}

/** Error answers of a route, for the document: a status, or a status with what it means on this route. */
export function errors(...statuses: (number | readonly [number, string])[]) {
  return Object.fromEntries(
    statuses.map((entry) => {
      const [s, description] = typeof entry === 'number' ? [entry, STATUS_TEXT[entry] ?? 'error'] : entry;
      return [s, { description, content: { 'application/json': { schema: ErrorSchema } } }];
    }),
  );
}

const STATUS_TEXT: Record<number, string> = {
  400: 'bad request (malformed JSON, bad month, bad page…)',
  401: 'not logged in / wrong token',
  404: 'not found, also for another contract’s data',
  409: 'conflict (file not ready)',
  410: 'gone (file older than 48 hours)',
  413: 'body too large',
  415: 'wrong content type',
  422: 'a rule is broken',
  429: 'too many failed attempts',
  503: 'not available now',
};

/**
 * For routes that take a JSON body: JSON is UTF-8 (RFC 8259 §8.1), and the body parser decodes it
 * as UTF-8 whatever the Content-Type says. A JSON body declared in another charset is answered 415
 * rather than read wrongly, and bytes that are not UTF-8 are answered 400 rather than turned into
 * U+FFFD. Other content types are left to the route's validator (415).
 */
export const utf8Json: MiddlewareHandler<AppEnv> = async (c, next) => {
  const header = c.req.header('content-type') ?? '';
  const [mediaType = '', ...params] = header.split(';').map((p) => p.trim());
  if (/^application\/([\w.+-]+\+)?json$/i.test(mediaType)) {
    const charset = params.map((p) => /^charset\s*=\s*"?([^";]*)"?$/i.exec(p)?.[1]).find((v) => v !== undefined);
    if (charset !== undefined && !/^utf-?8$/i.test(charset.trim())) {
      throw new ApiError(415, 'UNSUPPORTED_MEDIA_TYPE', `JSON is read as UTF-8 only, not ${charset.trim().slice(0, 40)}`);
    }
    try {
      new TextDecoder('utf-8', { fatal: true }).decode(await c.req.arrayBuffer());
    } catch {
      throw new ApiError(400, 'BAD_REQUEST', 'the JSON body is not valid UTF-8');
    }
  }
  await next();
};

/** Validation failures of any schema: 400 with the first problem named. */
export const validationHook: Hook<any, AppEnv, any, any> = (result, _c: Context) => {
  if (!result.success) {
    const issue = result.error.issues[0];
    const where = issue?.path.length ? `${issue.path.join('.')}: ` : '';
    throw new ApiError(400, 'BAD_REQUEST', `${where}${issue?.message ?? 'invalid request'}`);
  }
};

export type Middleware = MiddlewareHandler<AppEnv>;
