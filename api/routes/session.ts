// POST /api/v1/session (log in), DELETE /api/v1/session (log out).
import { OpenAPIHono, createRoute, z } from '@hono/zod-openapi';
import { ApiError } from '../errors.ts';
import type { AppEnv, RouteDeps } from '../env.ts';
import { requireSession } from '../auth.ts';
import { errors, IsoTime, validationHook } from '../schemas.ts';
import {
  dummyPasswordHash,
  findCredentials,
  lockedUntil,
  recordFailedLogin,
  recordSuccessfulLogin,
  verifyPassword,
  LOCKOUT_MINUTES,
  MAX_FAILED_ATTEMPTS,
} from '../../projections/credentials.ts';
import { createSession, deleteSession, type Session } from '../sessions.ts';
import { isoJapan } from '../format.ts';

const LoginBody = z.object({
  selfId: z.string().min(1).max(64).openapi({ example: 'd123456789' }),
  password: z.string().min(1).max(128).openapi({ example: 'abc123' }),
});

const login = createRoute({
  method: 'post',
  path: '/session',
  summary: 'Log in with self ID and self password',
  request: { body: { required: true, content: { 'application/json': { schema: LoginBody } } } },
  responses: {
    200: {
      description: 'an opaque session token',
      content: { 'application/json': { schema: z.object({ token: z.string(), expiresAt: IsoTime }) } },
    },
    ...errors(400, 401, 413, 415, 429),
  },
});

const logout = createRoute({
  method: 'delete',
  path: '/session',
  summary: 'Log out',
  security: [{ session: [] }],
  responses: { 204: { description: 'logged out' }, ...errors(401) },
});

function lockedError(until: Date, now: Date): ApiError {
  const seconds = Math.max(1, Math.ceil((until.getTime() - now.getTime()) / 1000));
  return new ApiError(
    429,
    'TOO_MANY_ATTEMPTS',
    `${MAX_FAILED_ATTEMPTS} failed logins in a row: this self ID is locked for ${LOCKOUT_MINUTES} minutes, until ${isoJapan(until)}`,
    undefined,
    { 'Retry-After': String(seconds) },
  );
}

export type LoginResult =
  | { readonly outcome: 'ok'; readonly token: string; readonly session: Session }
  | { readonly outcome: 'wrong' }
  | { readonly outcome: 'locked'; readonly until: Date };

/** Self ID and password → a new session, with the lockout of INTERFACE.md; the JSON route and the portal's ログイン both use it. */
export async function logIn(deps: Pick<RouteDeps, 'db' | 'sessionPolicy'>, selfId: string, password: string, now: Date): Promise<LoginResult> {
  const row = await findCredentials(deps.db, selfId);
  if (!row) {
    // As slow as a real check, so the answer does not tell which self IDs exist.
    await verifyPassword(password, await dummyPasswordHash());
    return { outcome: 'wrong' };
  }
  const locked = lockedUntil(row, now);
  if (locked) return { outcome: 'locked', until: locked };
  if (!(await verifyPassword(password, row.password_hash))) {
    await recordFailedLogin(deps.db, row.contract_code, now);
    return { outcome: 'wrong' };
  }
  await recordSuccessfulLogin(deps.db, row.contract_code);
  const { token, session } = await createSession(deps.db, row.contract_code, now, deps.sessionPolicy);
  return { outcome: 'ok', token, session };
}

export function sessionRoutes(deps: RouteDeps) {
  const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });
  const wrongPair = () => new ApiError(401, 'INVALID_CREDENTIALS', 'the self ID or the password is wrong');

  app.openapi(login, async (c) => {
    const { selfId, password } = c.req.valid('json');
    const now = deps.clock();
    const result = await logIn(deps, selfId, password, now);
    if (result.outcome === 'wrong') throw wrongPair();
    if (result.outcome === 'locked') throw lockedError(result.until, now);
    deps.logger.info({ requestId: c.get('requestId'), contractCode: result.session.contractCode }, 'logged in');
    return c.json({ token: result.token, expiresAt: isoJapan(result.session.expiresAt) }, 200);
  });

  app.openapi({ ...logout, middleware: [requireSession(deps)] as const }, async (c) => {
    await deleteSession(deps.db, c.get('sessionToken'));
    return c.body(null, 204);
  });

  return app;
}
