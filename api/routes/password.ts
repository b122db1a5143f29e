// PUT /api/v1/password: SPEC §2. Each broken rule answers 422 with its own code.
import { OpenAPIHono, createRoute, z } from '@hono/zod-openapi';
import { ApiError } from '../errors.ts';
import type { AppEnv, RouteDeps } from '../env.ts';
import { requireSession } from '../auth.ts';
import { errors, validationHook } from '../schemas.ts';
import { credentialsOfContract, setPassword, verifyPassword } from '../../projections/credentials.ts';
import { deleteSessionsOfContract } from '../sessions.ts';
import { checkNewPassword } from '../../domain/password.ts';
import { handleContractCommand } from '../../domain/contract-service.ts';

const PasswordBody = z.object({
  currentPassword: z.string().max(128),
  newPassword: z.string().max(128).openapi({ description: '4–8 half-width letters and digits, at least one of each, not the self ID' }),
  newPasswordConfirmation: z.string().max(128),
});

const changePassword = createRoute({
  method: 'put',
  path: '/password',
  summary: 'Change the self password',
  security: [{ session: [] }],
  request: { body: { required: true, content: { 'application/json': { schema: PasswordBody } } } },
  responses: {
    204: { description: 'changed; other sessions of the contract are ended' },
    ...errors(400, 401, 413, 415, 422),
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

/** Every reason the change cannot be made (SPEC §2 rules, then a wrong current password); empty when it can. */
export async function passwordChangeProblems(deps: Pick<RouteDeps, 'db'>, contractCode: string, body: PasswordChangeInput): Promise<PasswordChangeProblem[]> {
  const creds = await credentialsOfContract(deps.db, contractCode);
  if (!creds) throw new ApiError(404, 'CONTRACT_NOT_FOUND', 'no credentials for this contract');
  const problems: PasswordChangeProblem[] = checkNewPassword({ selfId: creds.self_id, newPassword: body.newPassword, newPasswordConfirmation: body.newPasswordConfirmation }).map(
    (b) => ({ field: 'newPassword', code: b.code, message: b.message }),
  );
  if (!(await verifyPassword(body.currentPassword, creds.password_hash))) {
    problems.push({ field: 'currentPassword', code: 'CURRENT_PASSWORD_WRONG', message: 'the current password is wrong' });
  }
  return problems;
}

/** Sets the new password (checked by passwordChangeProblems), ends the contract's other sessions, records the change. */
export async function applyPasswordChange(
  deps: Pick<RouteDeps, 'db' | 'store' | 'clock'>,
  input: { contractCode: string; keepSession: string; source: string },
  newPassword: string,
): Promise<void> {
  await setPassword(deps.db, input.contractCode, newPassword);
  await deleteSessionsOfContract(deps.db, input.contractCode, input.keepSession);
  // The event records only that the password changed (never the password nor its hash).
  await handleContractCommand(
    deps.store,
    { type: 'ChangeSelfPassword', contractCode: input.contractCode, now: deps.clock().toISOString() },
    { metadata: { source: input.source } },
  );
}

export function passwordRoutes(deps: RouteDeps) {
  const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });

  app.openapi({ ...changePassword, middleware: [requireSession(deps)] as const }, async (c) => {
    const body = c.req.valid('json');
    const { contractCode } = c.get('session');
    const problems = await passwordChangeProblems(deps, contractCode, body);
    // The rules are answered first; the current password only once the new one is acceptable.
    const rules = problems.filter((p) => p.field === 'newPassword');
    const shown = rules.length > 0 ? rules : problems;
    if (shown.length > 0) throw new ApiError(422, shown[0]!.code, shown[0]!.message, shown.map((p) => ({ field: p.field, code: p.code, message: p.message })));
    await applyPasswordChange(deps, { contractCode, keepSession: c.get('sessionToken'), source: `api:${c.get('requestId')}` }, body.newPassword);
    return c.body(null, 204);
  });

  return app;
}
