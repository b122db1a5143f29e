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

/** Responses every route can give, for the document. */
export function errors(...statuses: number[]) {
  return Object.fromEntries(
    statuses.map((s) => [s, { description: STATUS_TEXT[s] ?? 'error', content: { 'application/json': { schema: ErrorSchema } } }]),
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

/** Validation failures of any schema: 400 with the first problem named. */
export const validationHook: Hook<any, AppEnv, any, any> = (result, _c: Context) => {
  if (!result.success) {
    const issue = result.error.issues[0];
    const where = issue?.path.length ? `${issue.path.join('.')}: ` : '';
    throw new ApiError(400, 'BAD_REQUEST', `${where}${issue?.message ?? 'invalid request'}`);
  }
};

export type Middleware = MiddlewareHandler<AppEnv>;
