// POST /api/v1/session (log in), DELETE /api/v1/session (log out).
import { OpenAPIHono, createRoute, z } from '@hono/zod-openapi';
import { ApiError } from '../errors.ts';
import type { AppEnv, RouteDeps } from '../env.ts';
import { requireSession } from '../auth.ts';
import { errors, IsoTime, isStorableText, RequestText, utf8Json, validationHook } from '../schemas.ts';
import { dummyPasswordHash, reserveAttempt, verifyPassword, LOCKOUT_MINUTES, MAX_FAILED_ATTEMPTS } from '../../projections/credentials.ts';
import { deleteSession, sessionForRightPassword, type Session } from '../sessions.ts';
import { isoJapan } from '../format.ts';
import { inPasswordCheckTurn } from '../password-checks.ts';

const LoginBody = z.object({
  selfId: RequestText(64, 1).openapi({ example: 'd123456789' }),
  password: RequestText(128, 1).openapi({ example: 'abc123' }),
});

const login = createRoute({
  method: 'post',
  path: '/session',
  operationId: 'logIn',
  security: [],
  summary: 'Log in with self ID and self password',
  request: { body: { required: true, content: { 'application/json': { schema: LoginBody } } } },
  responses: {
    200: {
      description: 'an opaque session token',
      content: { 'application/json': { schema: z.object({ token: z.string(), expiresAt: IsoTime }) } },
    },
    ...errors(
      400,
      [401, 'the self ID or the password is wrong (INVALID_CREDENTIALS)'],
      413,
      415,
      [429, '5 wrong passwords in a row: locked for 15 minutes (TOO_MANY_ATTEMPTS, Retry-After); or too many password checks at once for this self ID (TOO_MANY_PASSWORD_CHECKS, Retry-After)'],
      [503, 'as many password checks wait as the server takes (SERVER_BUSY, Retry-After); nothing was checked or counted'],
    ),
  },
});

const logout = createRoute({
  method: 'delete',
  path: '/session',
  operationId: 'logOut',
  summary: 'Log out',
  security: [{ session: [] }],
  responses: { 204: { description: 'logged out' }, ...errors(401) },
});

/** 429 while a self ID is locked; `until` for the portal's wording. */
export class SelfIdLocked extends ApiError {
  constructor(readonly until: Date, now: Date) {
    super(
      429,
      'TOO_MANY_ATTEMPTS',
      `${MAX_FAILED_ATTEMPTS} wrong passwords in a row: this self ID is locked for ${LOCKOUT_MINUTES} minutes, until ${isoJapan(until)}`,
      undefined,
      { 'Retry-After': String(Math.max(1, Math.ceil((until.getTime() - now.getTime()) / 1000))) },
    );
  }
}

export type LoginResult =
  | { readonly outcome: 'ok'; readonly token: string; readonly session: Session }
  | {
      readonly outcome: 'wrong';
      /** Wrong guesses left before the lock, when the self ID exists. */
      readonly attemptsLeft?: number;
      /** Set when this wrong guess locked the self ID. */
      readonly lockedUntil?: Date;
    }
  | { readonly outcome: 'locked'; readonly until: Date };

/**
 * Self ID and password → a new session, with the lockout of INTERFACE.md; the JSON route and the
 * portal's ログイン both use it. The attempt is reserved before scrypt runs (credentials.ts
 * reserveAttempt), so guesses sent at once are counted as they arrive, not as they finish; and the
 * check waits for its self ID's turn before that (api/password-checks.ts), so a check refused for
 * want of a turn (PasswordCheckRefused) costs no attempt.
 */
export function logIn(deps: Pick<RouteDeps, 'db' | 'sessionPolicy' | 'passwordChecks'>, selfId: string, password: string, now: Date, signal?: AbortSignal): Promise<LoginResult> {
  return inPasswordCheckTurn(deps.passwordChecks, selfId, () => checkLogin(deps, selfId, password, now), signal);
}

async function checkLogin(deps: Pick<RouteDeps, 'db' | 'sessionPolicy'>, selfId: string, password: string, now: Date): Promise<LoginResult> {
  // The portal's form is not checked by a schema: text the database cannot hold names no self ID.
  const reservation = isStorableText(selfId) ? await reserveAttempt(deps.db, { selfId }, now) : ({ outcome: 'unknown' } as const);
  if (reservation.outcome === 'locked') return { outcome: 'locked', until: reservation.until };
  if (reservation.outcome === 'unknown') {
    // As slow as a real check, so the answer does not tell which self IDs exist.
    await verifyPassword(password, await dummyPasswordHash());
    return { outcome: 'wrong' };
  }
  const { attempt } = reservation;
  if (await verifyPassword(password, attempt.passwordHash)) {
    const opened = await sessionForRightPassword(deps.db, attempt, now, deps.sessionPolicy);
    // The password was replaced while it was being checked: it is no longer the right one.
    if (opened) return { outcome: 'ok', token: opened.token, session: opened.session };
    return { outcome: 'wrong' };
  }
  return {
    outcome: 'wrong',
    attemptsLeft: MAX_FAILED_ATTEMPTS - attempt.inRun,
    ...(attempt.lockedUntil ? { lockedUntil: attempt.lockedUntil } : {}),
  };
}

/** What the JSON API says to a wrong guess: the lock it caused, or the last try before one. */
export function wrongGuessMessage(result: { attemptsLeft?: number; lockedUntil?: Date }): string {
  const base = 'the self ID or the password is wrong';
  if (result.lockedUntil) return `${base}; after ${MAX_FAILED_ATTEMPTS} failures in a row this self ID is locked for ${LOCKOUT_MINUTES} minutes, until ${isoJapan(result.lockedUntil)}`;
  if (result.attemptsLeft === 1) return `${base}; one more failure locks this self ID for ${LOCKOUT_MINUTES} minutes`;
  return base;
}

export function sessionRoutes(deps: RouteDeps) {
  const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });

  app.openapi({ ...login, middleware: [utf8Json] as const }, async (c) => {
    const { selfId, password } = c.req.valid('json');
    const now = deps.clock();
    const result = await logIn(deps, selfId, password, now, c.req.raw.signal);
    if (result.outcome === 'wrong') throw new ApiError(401, 'INVALID_CREDENTIALS', wrongGuessMessage(result));
    if (result.outcome === 'locked') throw new SelfIdLocked(result.until, now);
    deps.logger.info({ requestId: c.get('requestId'), contractCode: result.session.contractCode }, 'logged in');
    return c.json({ token: result.token, expiresAt: isoJapan(result.session.expiresAt) }, 200);
  });

  app.openapi({ ...logout, middleware: [requireSession(deps)] as const }, async (c) => {
    await deleteSession(deps.db, c.get('sessionToken'));
    return c.body(null, 204);
  });

  return app;
}
