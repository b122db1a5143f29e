// PUT /api/v1/password: SPEC §2. Each broken rule answers 422 with its own code.
import { OpenAPIHono, createRoute, z } from '@hono/zod-openapi';
import { ApiError } from '../errors.ts';
import type { AppEnv, RouteDeps } from '../env.ts';
import { handlerPlaceBack, requireSession } from '../auth.ts';
import { errors, RequestText, utf8Json, validationHook } from '../schemas.ts';
import { credentialsOfContract, hashPassword, recordSuccessfulAttempt, reserveAttempt, verifyPassword, LOCKOUT_MINUTES, MAX_FAILED_ATTEMPTS } from '../../projections/credentials.ts';
import { checkNewPassword } from '../../domain/password.ts';
import { commitCredentialChange } from '../credential-change.ts';
import { isoJapan } from '../format.ts';
import { SelfIdLocked } from './session.ts';
import { inPasswordCheckTurn } from '../password-checks.ts';

const PasswordBody = z.object({
  currentPassword: RequestText(128),
  newPassword: RequestText(128).openapi({ description: '4–8 half-width letters and digits, at least one of each, not the self ID' }),
  newPasswordConfirmation: RequestText(128),
});

const changePassword = createRoute({
  method: 'put',
  path: '/password',
  operationId: 'changePassword',
  summary: 'Change the self password',
  security: [{ session: [] }],
  request: { body: { required: true, content: { 'application/json': { schema: PasswordBody } } } },
  responses: {
    204: { description: 'changed; other sessions of the contract are ended' },
    ...errors(
      400,
      401,
      [404, 'the contract has no credentials (CONTRACT_NOT_FOUND)'],
      [409, 'the password was changed by another request meanwhile (PASSWORD_CHANGED_MEANWHILE), or the change could not be recorded; nothing was changed'],
      413,
      415,
      [422, 'a rule of the new password is broken, or the current password is wrong (CURRENT_PASSWORD_WRONG)'],
      [429, '5 wrong passwords in a row (logins and current passwords alike): locked for 15 minutes (TOO_MANY_ATTEMPTS, Retry-After); or too many password checks at once for this self ID (TOO_MANY_PASSWORD_CHECKS, Retry-After)'],
      [503, 'as many password checks wait as the server takes (SERVER_BUSY, Retry-After); nothing was checked, counted or changed'],
    ),
  },
});

export interface PasswordChangeInput {
  readonly currentPassword: string;
  readonly newPassword: string;
  readonly newPasswordConfirmation: string;
}

export interface PasswordChangeProblem {
  readonly field: 'currentPassword' | 'newPassword';
  readonly code: string;
  readonly message: string;
}

export interface PasswordChangeCheck {
  /** Every reason the change cannot be made (SPEC §2 rules, then a wrong current password); empty when it can. */
  readonly problems: PasswordChangeProblem[];
  /** The credential's epoch at which the current password was found right. */
  readonly verifiedEpoch?: number;
  /** The contract's self ID: the new password's hash is made in its turn (applyPasswordChange). */
  readonly selfId?: string;
  /** When the current password was wrong: guesses left before the lock. */
  readonly attemptsLeft?: number;
  /** When this wrong current password locked the self ID. */
  readonly lockedUntil?: Date;
}

/**
 * Checks a change: the new password's rules and the current password. The current password is a
 * password check like a login and counts toward the same lockout (a stolen session must not be a
 * way to guess it): ApiError 429 while locked. It takes its turn among password checks as a login of
 * the contract's self ID does (api/password-checks.ts): PasswordCheckRefused, and no attempt
 * counted, when it gets none.
 */
export async function checkPasswordChange(deps: Pick<RouteDeps, 'db' | 'passwordChecks'>, contractCode: string, body: PasswordChangeInput, now: Date): Promise<PasswordChangeCheck> {
  const credential = await credentialsOfContract(deps.db, contractCode);
  if (!credential) throw new ApiError(404, 'CONTRACT_NOT_FOUND', 'no credentials for this contract');
  return inPasswordCheckTurn(deps.passwordChecks, credential.self_id, () => checkInTurn(deps, contractCode, body, now));
}

async function checkInTurn(deps: Pick<RouteDeps, 'db'>, contractCode: string, body: PasswordChangeInput, now: Date): Promise<PasswordChangeCheck> {
  const reservation = await reserveAttempt(deps.db, { contractCode }, now);
  if (reservation.outcome === 'unknown') throw new ApiError(404, 'CONTRACT_NOT_FOUND', 'no credentials for this contract');
  if (reservation.outcome === 'locked') throw new SelfIdLocked(reservation.until, now);
  const { attempt } = reservation;
  const problems: PasswordChangeProblem[] = checkNewPassword({ selfId: attempt.selfId, newPassword: body.newPassword, newPasswordConfirmation: body.newPasswordConfirmation }).map(
    (b) => ({ field: 'newPassword', code: b.code, message: b.message }),
  );
  // A password replaced while this one was checked is no longer the current one.
  if ((await verifyPassword(body.currentPassword, attempt.passwordHash)) && (await recordSuccessfulAttempt(deps.db, attempt))) {
    return { problems, verifiedEpoch: attempt.epoch, selfId: attempt.selfId };
  }
  const wrong = { attemptsLeft: MAX_FAILED_ATTEMPTS - attempt.inRun, ...(attempt.lockedUntil ? { lockedUntil: attempt.lockedUntil } : {}) };
  const lockNote = wrong.lockedUntil
    ? `; after ${MAX_FAILED_ATTEMPTS} wrong passwords in a row this self ID is locked until ${isoJapan(wrong.lockedUntil)}`
    : wrong.attemptsLeft === 1
      ? `; one more wrong password locks this self ID for ${LOCKOUT_MINUTES} minutes`
      : '';
  problems.push({ field: 'currentPassword', code: 'CURRENT_PASSWORD_WRONG', message: `the current password is wrong${lockNote}` });
  return { problems, ...wrong };
}

/**
 * Puts the checked new password in force (checkPasswordChange found no problem), ends the
 * contract's other sessions, and records the change: all in one commit (api/credential-change.ts).
 */
export async function applyPasswordChange(
  deps: Pick<RouteDeps, 'db' | 'store' | 'clock' | 'passwordChecks'>,
  input: { contractCode: string; selfId: string; keepSession: string; source: string; verifiedEpoch: number },
  newPassword: string,
): Promise<void> {
  // The new hash is scrypt as much as a check: made in the self ID's turn too.
  const hash = await inPasswordCheckTurn(deps.passwordChecks, input.selfId, () => hashPassword(newPassword));
  await commitCredentialChange(deps, {
    command: { type: 'ChangeSelfPassword', contractCode: input.contractCode, now: deps.clock().toISOString() },
    hash,
    expectedEpoch: input.verifiedEpoch,
    keepSession: input.keepSession,
    source: input.source,
  });
}

export function passwordRoutes(deps: RouteDeps) {
  const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });

  app.openapi({ ...changePassword, middleware: [requireSession(deps), handlerPlaceBack, utf8Json] as const }, async (c) => {
    const body = c.req.valid('json');
    const { contractCode } = c.get('session');
    const check = await checkPasswordChange(deps, contractCode, body, deps.clock());
    const { problems } = check;
    // The rules are answered first; the current password only once the new one is acceptable.
    const rules = problems.filter((p) => p.field === 'newPassword');
    const shown = rules.length > 0 ? rules : problems;
    if (shown.length > 0 || check.verifiedEpoch === undefined || check.selfId === undefined) {
      throw new ApiError(422, shown[0]!.code, shown[0]!.message, shown.map((p) => ({ field: p.field, code: p.code, message: p.message })));
    }
    await applyPasswordChange(
      deps,
      { contractCode, selfId: check.selfId, keepSession: c.get('sessionToken'), source: `api:${c.get('requestId')}`, verifiedEpoch: check.verifiedEpoch },
      body.newPassword,
    );
    return c.body(null, 204);
  });

  return app;
}
