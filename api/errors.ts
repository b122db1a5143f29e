// Every failure the API answers with: one error type, one body shape
// (`{"error":{"code","message","details"?}}`), and one table from domain codes to statuses.
import type { Context } from 'hono';
import { HTTPException } from 'hono/http-exception';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import type { Logger } from 'pino';
import { databaseTrouble, describe } from '../eventstore/connection.ts';

export interface ErrorDetail {
  readonly line?: number;
  readonly field?: string;
  readonly code?: string;
  readonly message: string;
}

export class ApiError extends Error {
  override readonly name = 'ApiError';
  constructor(
    readonly status: ContentfulStatusCode,
    readonly code: string,
    message: string,
    readonly details?: readonly ErrorDetail[],
    readonly headers?: Record<string, string>,
  ) {
    super(message);
  }
}

/**
 * A request whose client went away while it waited for its turn: nothing was done for it, and its
 * answer reaches nobody (the Node adapter writes nothing to a closed socket). 503 in the metrics.
 */
export class ClientGone extends ApiError {
  constructor() {
    super(503, 'CLIENT_GONE', 'the client went away before its request got its turn; nothing was done');
  }
}

/**
 * Domain codes (DomainError, MoneyFormatError, the event store's conflicts, importers' refusals)
 * to statuses. A code not listed here but carried by a domain error is a broken rule: 422.
 */
const STATUS_OF_CODE: Record<string, ContentfulStatusCode> = {
  CONTRACT_NOT_FOUND: 404,
  NOT_FOUND: 404,
  UNKNOWN_PROJECTION: 404,
  INVALID_MONTH: 400,
  INVALID_CATEGORY: 400,
  INVALID_INSTANT: 400,
  NO_CONTRACTS: 400,
  CONTRACT_ALREADY_OPEN: 409,
  NUMBER_ALREADY_HELD: 409,
  OPTION_ALREADY_SUBSCRIBED: 409,
  EXPECTED_VERSION_CONFLICT: 409,
  EVENT_ID_CONFLICT: 409,
};

const STATUS_CODES: Partial<Record<number, string>> = {
  400: 'BAD_REQUEST',
  401: 'NOT_LOGGED_IN',
  403: 'FORBIDDEN',
  404: 'NOT_FOUND',
  405: 'METHOD_NOT_ALLOWED',
  409: 'CONFLICT',
  410: 'GONE',
  413: 'PAYLOAD_TOO_LARGE',
  415: 'UNSUPPORTED_MEDIA_TYPE',
  422: 'RULE_BROKEN',
  429: 'TOO_MANY_ATTEMPTS',
  503: 'NOT_AVAILABLE',
};

export function errorBody(code: string, message: string, details?: readonly ErrorDetail[]) {
  return { error: { code, message, ...(details && details.length > 0 ? { details } : {}) } };
}

/** Errors that name themselves with a domain code: DomainError and friends, from any module. */
function domainCodeOf(err: unknown): { code: string; message: string; details?: ErrorDetail[] } | undefined {
  if (err === null || typeof err !== 'object') return undefined;
  const e = err as { code?: unknown; message?: unknown; details?: unknown; field?: unknown; problems?: unknown; severity?: unknown; routine?: unknown };
  if (typeof e.code !== 'string' || !/^[A-Z][A-Z0-9_]+$/.test(e.code)) return undefined;
  // A database's own error (pg and PGlite alike carry severity and routine) whose SQLSTATE happens to
  // look like a code — P0001 from a trigger, XX000 — is not a broken rule, and its text is not for users.
  if (typeof e.severity === 'string' && typeof e.routine === 'string') return undefined;
  const message = typeof e.message === 'string' ? e.message : e.code;
  const list = Array.isArray(e.details) ? e.details : Array.isArray(e.problems) ? e.problems : undefined;
  const details = list?.map(toDetail);
  if (!details && typeof e.field === 'string') return { code: e.code, message, details: [{ field: e.field, message }] };
  return { code: e.code, message, ...(details ? { details } : {}) };
}

function toDetail(item: unknown): ErrorDetail {
  if (item === null || typeof item !== 'object') return { message: String(item) };
  const i = item as Record<string, unknown>;
  return {
    ...(typeof i.line === 'number' ? { line: i.line } : {}),
    ...(typeof i.field === 'string' ? { field: i.field } : {}),
    ...(typeof i.code === 'string' ? { code: i.code } : {}),
    message: typeof i.message === 'string' ? i.message : JSON.stringify(item),
  };
}

function busyMessage(err: unknown): string {
  for (let e = err, depth = 0; e && typeof e === 'object' && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    if ((e as { code?: unknown }).code === 'LEDGER_BUSY') return (e as Error).message;
  }
  return 'the ledger is busy right now; nothing was changed — try again in a minute';
}

/** The one error handler (STYLE §7): never a stack trace in a response; the log gets it instead. */
export function handleError(err: Error, c: Context, logger: Logger): Response {
  const requestId = (c.get('requestId' as never) as string | undefined) ?? undefined;
  if (err instanceof ApiError) {
    for (const [k, v] of Object.entries(err.headers ?? {})) c.header(k, v);
    return c.json(errorBody(err.code, err.message, err.details), err.status);
  }
  if (err instanceof HTTPException) {
    const status = err.status as ContentfulStatusCode;
    const code = STATUS_CODES[status] ?? 'HTTP_ERROR';
    // Hono's own messages ("Malformed JSON in request body", "Unsupported Media Type") are safe to show.
    const message = err.message || code.toLowerCase().replace(/_/g, ' ');
    return c.json(errorBody(code, message), status);
  }
  // Before the domain codes: a socket's code (ECONNREFUSED) looks like one.
  const trouble = databaseTrouble(err);
  if (trouble) {
    logger.warn({ requestId, method: c.req.method, path: c.req.path, reason: describe(err) }, trouble === 'unavailable' ? 'database unavailable' : 'ledger busy');
    c.header('Retry-After', trouble === 'unavailable' ? '5' : '30');
    return trouble === 'unavailable'
      ? c.json(errorBody('DATABASE_UNAVAILABLE', 'the ledger cannot reach its database right now; nothing was changed — try again in a few seconds'), 503)
      : c.json(errorBody('LEDGER_BUSY', busyMessage(err)), 503);
  }
  const domain = domainCodeOf(err);
  if (domain) {
    const status = STATUS_OF_CODE[domain.code] ?? 422;
    return c.json(errorBody(domain.code, domain.message, domain.details), status);
  }
  logger.error({ requestId, err, method: c.req.method, path: c.req.path }, 'unhandled error');
  return c.json(errorBody('INTERNAL_ERROR', `internal error; quote request id ${requestId ?? '-'} when reporting it`), 500);
}
