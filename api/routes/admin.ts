// Engineer routes (SPEC §6), under /api/v1/admin, all behind the admin token.
import { OpenAPIHono, createRoute, z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import type { Category } from '../../domain/events.ts';
import { generateInitialPassword, credentialsOfContract, hashPassword } from '../../projections/credentials.ts';
import { commitCredentialChange } from '../credential-change.ts';
import { ApiError } from '../errors.ts';
import type { AppEnv, RouteDeps } from '../env.ts';
import { requireAdmin } from '../auth.ts';
import { CategorySchema, ContractCodeParam, RequestText, errors, Figures, MonthParam, PhoneNumberParam, utf8Json, validationHook } from '../schemas.ts';
import { diffMonth, engineerCharges, engineerChargesAsOf, parseInstant } from '../../projections/engineering.ts';
import { closeMonths } from '../../importers/month-close.ts';

const security = [{ admin: [] }];
const CodeMonth = z.object({ code: ContractCodeParam, month: MonthParam });
const AnyJson = z.any().openapi({ type: 'object' });

const CSV_TYPES = ['text/csv', 'application/csv', 'text/plain', 'application/octet-stream'];
const JSONL_TYPES = ['application/x-ndjson', 'application/jsonl', 'application/jsonlines', 'application/json-lines', 'text/plain', 'application/octet-stream'];

const csvBody = { required: true, content: { 'text/csv': { schema: z.string().openapi({ format: 'binary', description: 'SPEC §7 CSV, Shift_JIS or UTF-8' }) } } };

const importCalls = createRoute({
  method: 'post',
  path: '/imports/calls',
  operationId: 'importCalls',
  summary: 'Import a carrier call-detail CSV (SPEC §7.2); all or nothing',
  security,
  request: { body: csvBody },
  responses: {
    200: {
      description: 'counts',
      content: { 'application/json': { schema: z.object({ read: z.number().int(), imported: z.number().int(), alreadyPresent: z.number().int() }).passthrough() } },
    },
    ...errors(401, 413, 415, 422),
  },
});

const importContracts = createRoute({
  method: 'post',
  path: '/imports/contracts',
  operationId: 'importContracts',
  summary: 'Import contract changes (JSON Lines of commands); all or nothing',
  security,
  request: { body: { required: true, content: { 'application/x-ndjson': { schema: z.string() } } } },
  responses: { 200: { description: 'summary', content: { 'application/json': { schema: AnyJson } } }, ...errors(401, 413, 415, 422) },
});

const rebuild = createRoute({
  method: 'post',
  path: '/projections/rebuild',
  operationId: 'rebuildProjections',
  summary: 'Rebuild projections from the event store (queries keep answering from the old tables meanwhile)',
  security,
  request: { query: z.object({ projection: RequestText(100).optional().openapi({ param: { name: 'projection', in: 'query' } }) }) },
  responses: { 200: { description: 'rebuilt', content: { 'application/json': { schema: AnyJson } } }, ...errors(401, 404) },
});

const Instant = (name: string, description: string) =>
  RequestText(64, 1).openapi({ param: { name, in: 'query' }, description, example: '2017-12-05T10:00:00+09:00' });

const charges = createRoute({
  method: 'get',
  path: '/contracts/{code}/charges/{month}',
  operationId: 'getContractCharges',
  summary: 'Monthly charges of any month, per number and category; with asOf, as they stood at that instant',
  security,
  request: {
    params: CodeMonth,
    query: z.object({ asOf: Instant('asOf', 'only events visible at this instant (ISO-8601 with an offset) count').optional() }),
  },
  responses: {
    200: {
      description: 'charges',
      content: {
        'application/json': {
          schema: z.object({
            contractCode: z.string(),
            month: z.string(),
            normal: Figures,
            billed: Figures,
            numbers: z.array(z.object({ number: z.string(), normal: Figures, billed: Figures, calls: z.number().int() })),
            asOf: z.string().optional().openapi({ description: 'with ?asOf: the instant, +09:00' }),
            position: z.string().optional().openapi({ description: 'with ?asOf: the newest event position visible then' }),
          }),
        },
      },
    },
    ...errors(400, 401, 404),
  },
});

const audit = createRoute({
  method: 'get',
  path: '/contracts/{code}/audit/{month}',
  operationId: 'auditFigure',
  summary: 'The events behind a figure, with a running total',
  security,
  request: {
    params: CodeMonth,
    query: z.object({
      number: PhoneNumberParam.optional().openapi({ param: { name: 'number', in: 'query' } }),
      category: CategorySchema.optional().openapi({ param: { name: 'category', in: 'query' } }),
    }),
  },
  responses: { 200: { description: 'audit trail', content: { 'application/json': { schema: AnyJson } } }, ...errors(400, 401, 404) },
});

const diff = createRoute({
  method: 'get',
  path: '/contracts/{code}/diff/{month}',
  operationId: 'diffMonth',
  summary: 'What changed in a month’s figures between two instants, and the events in between that changed them',
  security,
  request: {
    params: CodeMonth,
    query: z.object({
      from: Instant('from', 'the earlier instant (ISO-8601 with an offset)'),
      to: Instant('to', 'the later instant; now when omitted').optional(),
    }),
  },
  responses: { 200: { description: 'changed figures and events', content: { 'application/json': { schema: AnyJson } } }, ...errors(400, 401, 404) },
});

const CloseBody = z
  .union([
    z.object({ contracts: z.array(z.string().regex(/^d\d{9}$/, 'expected a contract code: d and 9 digits')).min(1).max(10_000) }).strict(),
    z.object({ all: z.literal(true) }).strict(),
  ])
  .openapi('CloseMonthRequest');

const close = createRoute({
  method: 'post',
  path: '/months/{month}/close',
  operationId: 'closeMonth',
  summary: 'Close a billing month for some contracts or all: its figures, screens and files never change again',
  security,
  request: { params: z.object({ month: MonthParam }), body: { required: true, content: { 'application/json': { schema: CloseBody } } } },
  responses: {
    200: { description: 'each contract closed now or closed before', content: { 'application/json': { schema: AnyJson } } },
    ...errors(400, 401, 404, 415, [422, 'the month has not ended in Japan time (MONTH_NOT_ENDED), or ended before the contract started']),
  },
});

const Differences = z.object({ ok: z.boolean(), differences: z.array(z.any()) }).openapi('Differences');

const verify = createRoute({
  method: 'get',
  path: '/contracts/{code}/verify/{month}',
  operationId: 'verifyMonth',
  summary: 'Recompute the month from the events and compare with the projection',
  security,
  request: { params: CodeMonth },
  responses: { 200: { description: 'comparison', content: { 'application/json': { schema: Differences } } }, ...errors(400, 401, 404) },
});

const reconcile = createRoute({
  method: 'post',
  path: '/contracts/{code}/reconcile/{month}',
  operationId: 'reconcileMonth',
  summary: 'Compare a carrier per-number CSV (SPEC §7.1) with the projection',
  security,
  request: { params: CodeMonth, body: csvBody },
  responses: { 200: { description: 'comparison', content: { 'application/json': { schema: Differences } } }, ...errors(400, 401, 404, 413, 415, 422) },
});

const passwordReset = createRoute({
  method: 'post',
  path: '/contracts/{code}/password-reset',
  operationId: 'resetPassword',
  summary: 'Reset the self password to a new initial password (shown once)',
  security,
  request: { params: z.object({ code: ContractCodeParam }) },
  responses: { 200: { description: 'the new initial password', content: { 'application/json': { schema: z.object({ initialPassword: z.string() }) } } }, ...errors(400, 401, 404, [409, 'the reset could not be recorded (another writer of the contract); nothing was changed']) },
});

const stream = createRoute({
  method: 'get',
  path: '/streams/{streamId}',
  operationId: 'readStream',
  summary: 'The raw events of a stream, in order',
  security,
  request: { params: z.object({ streamId: RequestText(200, 1).openapi({ param: { name: 'streamId', in: 'path' }, example: 'contract-d123456789' }) }) },
  responses: {
    200: {
      description: 'events',
      content: {
        'application/json': {
          schema: z.object({
            streamId: z.string(),
            events: z.array(z.object({ id: z.string(), revision: z.number().int(), position: z.string(), type: z.string(), data: z.any(), metadata: z.any(), recordedAt: z.string() })),
          }),
        },
      },
    },
    ...errors(401, 404),
  },
});

/** The body of an upload, after checking its content type (415 otherwise). */
async function uploaded(c: Context<AppEnv>, accepted: readonly string[]): Promise<Uint8Array> {
  const type = (c.req.header('content-type') ?? '').split(';')[0]!.trim().toLowerCase();
  if (!accepted.includes(type)) {
    throw new ApiError(415, 'UNSUPPORTED_MEDIA_TYPE', `expected Content-Type ${accepted[0]}${type ? `, got ${type}` : ''}`);
  }
  return new Uint8Array(await c.req.arrayBuffer());
}

export function adminRoutes(deps: RouteDeps) {
  const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });
  // Mounted at /api/v1/admin: this guard covers exactly the engineer routes.
  app.use('*', requireAdmin(deps));
  // Every JSON body of an engineer route, present and future, is UTF-8 or refused (415), once the token is known.
  app.use('*', utf8Json);
  const source = (c: Context<AppEnv>) => `api:${c.get('requestId')}`;
  const requireContract = async (code: string) => {
    if (!(await deps.queries.contractExists(code))) throw new ApiError(404, 'CONTRACT_NOT_FOUND', `no contract ${code}`);
  };

  app.openapi(importCalls, async (c) => {
    const body = await uploaded(c, CSV_TYPES);
    return c.json(await deps.engineer.importCalls(body, source(c)), 200);
  });

  app.openapi(importContracts, async (c) => {
    const body = await uploaded(c, JSONL_TYPES);
    return c.json((await deps.engineer.importContracts(body, source(c))) as Record<string, unknown>, 200);
  });

  app.openapi(rebuild, async (c) => {
    const { projection } = c.req.valid('query');
    return c.json((await deps.engineer.rebuildProjections(projection)) as Record<string, unknown>, 200);
  });

  app.openapi(charges, async (c) => {
    const { code, month } = c.req.valid('param');
    const { asOf } = c.req.valid('query');
    const body = asOf === undefined
      ? await engineerCharges(deps.queries, code, month)
      : await engineerChargesAsOf(deps, code, month, parseInstant(asOf, 'asOf'));
    return c.json({ ...body, numbers: [...body.numbers] }, 200);
  });

  app.openapi(diff, async (c) => {
    const { code, month } = c.req.valid('param');
    const { from, to } = c.req.valid('query');
    const result = await diffMonth(deps, code, month, parseInstant(from, 'from'), to === undefined ? undefined : parseInstant(to, 'to'));
    return c.json(result as unknown as Record<string, unknown>, 200);
  });

  app.openapi(close, async (c) => {
    const { month } = c.req.valid('param');
    const body = c.req.valid('json');
    const report = await closeMonths(
      { store: deps.store, contractCodes: () => deps.queries.contractCodes() },
      month,
      'all' in body ? { all: true } : { contracts: body.contracts },
      deps.clock(),
      { source: source(c) },
    );
    return c.json(report as unknown as Record<string, unknown>, 200);
  });

  app.openapi(audit, async (c) => {
    const { code, month } = c.req.valid('param');
    const { number, category } = c.req.valid('query');
    await requireContract(code);
    const trail = await deps.engineer.audit(code, month, { ...(number ? { number } : {}), ...(category ? { category: category as Category } : {}) });
    return c.json(trail as Record<string, unknown>, 200);
  });

  app.openapi(verify, async (c) => {
    const { code, month } = c.req.valid('param');
    await requireContract(code);
    const report = await deps.engineer.verify(code, month);
    return c.json({ ...report, ok: report.ok, differences: [...report.differences] }, 200);
  });

  app.openapi(reconcile, async (c) => {
    const { code, month } = c.req.valid('param');
    await requireContract(code);
    const body = await uploaded(c, CSV_TYPES);
    const report = await deps.engineer.reconcile(code, month, body);
    return c.json({ ...report, ok: report.ok, differences: [...report.differences] }, 200);
  });

  app.openapi(passwordReset, async (c) => {
    const { code } = c.req.valid('param');
    if (!(await credentialsOfContract(deps.db, code))) throw new ApiError(404, 'CONTRACT_NOT_FOUND', `no contract ${code}`);
    const initialPassword = generateInitialPassword();
    // The new hash, the end of every session and the event commit together: an answer with an
    // error leaves the old password in force, and the initial password shown is the one in force.
    await commitCredentialChange(deps, {
      command: { type: 'ResetSelfPassword', contractCode: code, now: deps.clock().toISOString() },
      hash: await hashPassword(initialPassword),
      source: source(c),
    });
    deps.logger.info({ requestId: c.get('requestId'), contractCode: code }, 'self password reset');
    c.header('Cache-Control', 'no-store');
    return c.json({ initialPassword }, 200);
  });

  app.openapi(stream, async (c) => {
    const { streamId } = c.req.valid('param');
    const events = await deps.store.readStream(streamId);
    if (events.length === 0) throw new ApiError(404, 'STREAM_NOT_FOUND', `no events in stream ${streamId}`);
    return c.json(
      {
        streamId,
        events: events.map((e) => ({ id: e.id, revision: e.revision, position: e.position.toString(), type: e.type, data: e.data, metadata: e.metadata, recordedAt: e.recordedAt })),
      },
      200,
    );
  });

  return app;
}
