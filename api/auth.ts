import { createHash, timingSafeEqual } from 'node:crypto';
import type { Context, MiddlewareHandler } from 'hono';
import { ApiError, ClientGone } from './errors.ts';
import type { AppEnv, RouteDeps } from './env.ts';
import { resolveSession } from './sessions.ts';

function bearerOf(header: string | undefined): string | undefined {
  const m = header ? /^Bearer\s+(\S+)\s*$/i.exec(header) : null;
  return m?.[1];
}

/** Portal routes: a live session, whose contract scopes every query of the request. */
export function requireSession(deps: RouteDeps): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const token = bearerOf(c.req.header('authorization'));
    if (!token) throw new ApiError(401, 'NOT_LOGGED_IN', 'log in first: Authorization: Bearer <token> from POST /api/v1/session', undefined, { 'WWW-Authenticate': 'Bearer' });
    const session = await resolveSession(deps.db, token, deps.clock(), deps.sessionPolicy);
    if (!session) throw new ApiError(401, 'NOT_LOGGED_IN', 'the session has ended or is unknown; log in again', undefined, { 'WWW-Authenticate': 'Bearer' });
    c.set('session', session);
    c.set('sessionToken', token);
    await inContractLane(deps, session.contractCode, c, next);
  };
}

/**
 * Runs the rest of a customer's request in its contract's turn (api/fairness.ts); 429 when too many
 * wait for this contract, 503 when too many wait in all; nothing is done for a request whose client
 * went away while it waited (ClientGone: its answer reaches nobody). The place is `lane` on the context: a download keeps it (`keep`) until its last byte.
 */
export async function inContractLane(deps: Pick<RouteDeps, 'requestGate'>, contractCode: string, c: Context<AppEnv>, next: () => Promise<void>): Promise<void> {
  const place = await deps.requestGate.enter(contractCode, c.req.raw.signal);
  if (place === 'gone') throw new ClientGone();
  if (place === 'queue-full') {
    throw new ApiError(429, 'TOO_MANY_REQUESTS', `too many requests at once for this contract; try again in a moment (しばらくしてから、もう一度お試しください)`, undefined, { 'Retry-After': '1' });
  }
  if (place === 'server-full') {
    throw new ApiError(503, 'SERVER_BUSY', `the server has as many requests waiting as it takes; try again in a moment (しばらくしてから、もう一度お試しください)`, undefined, { 'Retry-After': '1' });
  }
  c.set('lane', place);
  try {
    await next();
  } finally {
    place.release();
  }
}

/**
 * For a customer route whose work waits on a gate of its own (a password check: scrypt, one at a
 * time in the server, api/password-checks.ts): it keeps its contract's place but hands the
 * server's handler place back while it waits and works, so that a queue of password checks never
 * holds the handler places every other customer's requests need.
 */
export const handlerPlaceBack: MiddlewareHandler<AppEnv> = async (c, next) => {
  const done = c.get('lane')?.keep();
  try {
    await next();
  } finally {
    done?.();
  }
};

/** Engineer routes: the admin token, compared in constant time (hashes of equal length). */
export function requireAdmin(deps: RouteDeps): MiddlewareHandler<AppEnv> {
  const expected = createHash('sha256').update(deps.adminToken, 'utf8').digest();
  return async (c, next) => {
    const token = bearerOf(c.req.header('authorization')) ?? '';
    const given = createHash('sha256').update(token, 'utf8').digest();
    if (!(timingSafeEqual(given, expected) && token.length > 0)) {
      throw new ApiError(401, 'NOT_AUTHORIZED', 'engineer routes need Authorization: Bearer $LEDGER_ADMIN_TOKEN', undefined, { 'WWW-Authenticate': 'Bearer' });
    }
    await next();
  };
}
