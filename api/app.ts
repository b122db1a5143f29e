// The HTTP API (INTERFACE.md): Hono, route modules `(deps) => OpenAPIHono`, one error handler.
import { OpenAPIHono } from '@hono/zod-openapi';
import type { MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { cors } from 'hono/cors';
import { secureHeaders } from 'hono/secure-headers';
import type { HttpBindings } from '@hono/node-server';
import { errorBody, handleError } from './errors.ts';
import { utf8Json } from './schemas.ts';
import { createLogger } from './logger.ts';
import type { AppDeps, AppEnv, RouteDeps } from './env.ts';
import { DEFAULT_SESSION_POLICY } from './sessions.ts';
import { DownloadGate } from './exports.ts';
import { ContractRequestGate } from './fairness.ts';
import { passwordCheckGate } from './password-checks.ts';
import { sessionRoutes } from './routes/session.ts';
import { passwordRoutes } from './routes/password.ts';
import { contractRoutes } from './routes/contract.ts';
import { chargesRoutes } from './routes/charges.ts';
import { exportRoutes } from './routes/exports.ts';
import { adminRoutes } from './routes/admin.ts';
import { healthRoutes } from './routes/health.ts';
import { operationsRoutes } from './routes/operations.ts';
import { createMetrics, type LedgerMetrics } from './metrics.ts';
import { createReadiness, eventStoreAnswers, projectionsCurrent } from './readiness.ts';
import type { EngineerOperations } from './ports.ts';
import { portalRoutes } from './portal/index.tsx';

export type { AppDeps } from './env.ts';

export { apiMigrations } from './migrations.ts';

// OpenAPI 3.1 names a license by its SPDX identifier; the generator's types know 3.0's fields only.
const LICENSE = { name: 'Proprietary', identifier: 'LicenseRef-Proprietary' };

export const DEFAULT_BODY_LIMIT = 64 * 1024;
export const DEFAULT_ADMIN_BODY_LIMIT = 64 * 1024 * 1024;

export function createApp(input: AppDeps): OpenAPIHono<AppEnv> {
  const logger = input.logger ?? createLogger();
  const metrics = input.metrics ?? createMetrics({ projections: () => input.queries.status() });
  const deps: RouteDeps = {
    ...input,
    db: input.database.db,
    logger,
    sessionPolicy: input.sessionPolicy ?? DEFAULT_SESSION_POLICY,
    downloads: input.downloads ?? new DownloadGate(),
    requestGate: input.requestGate ?? new ContractRequestGate(),
    passwordChecks: input.passwordChecks ?? passwordCheckGate(),
    metrics,
    engineer: countingImports(input.engineer, metrics),
  };
  const readiness = createReadiness([
    eventStoreAnswers(deps.store),
    projectionsCurrent(() => deps.queries.status(), deps.readyMaxLag),
    ...(deps.readinessChecks ?? []),
  ]);
  const app = new OpenAPIHono<AppEnv>();

  app.use('*', metrics.http);
  app.use('*', requestIdAndSecurityHeaders());
  app.use('*', accessLog(deps));
  if (deps.portalOrigin) {
    app.use(
      '/api/*',
      cors({
        origin: deps.portalOrigin,
        allowMethods: ['GET', 'POST', 'PUT', 'DELETE'],
        allowHeaders: ['Authorization', 'Content-Type'],
        exposeHeaders: ['Content-Disposition', 'X-Request-Id', 'Retry-After'],
        maxAge: 600,
      }),
    );
  }
  const tooLarge = (limit: number) => (c: Parameters<MiddlewareHandler<AppEnv>>[0]) =>
    c.json(errorBody('PAYLOAD_TOO_LARGE', `the request body is larger than ${limit} bytes${limit === deps.bodyLimit || limit === DEFAULT_BODY_LIMIT ? '' : '; import big files with the ledger CLI'}`), 413);
  const portalLimit = deps.bodyLimit ?? DEFAULT_BODY_LIMIT;
  const adminLimit = deps.adminBodyLimit ?? DEFAULT_ADMIN_BODY_LIMIT;
  const portalBodyLimit = bodyLimit({ maxSize: portalLimit, onError: tooLarge(portalLimit) });
  const adminBodyLimit = bodyLimit({ maxSize: adminLimit, onError: tooLarge(adminLimit) });
  // A GET or HEAD never carries a body here (the Node adapter drops it), and hono's bodyLimit asks
  // for `req.raw.body`, which makes the adapter build a full fetch Request (measured: a tenth of a
  // portal GET's CPU) only to find none.
  app.use('/api/*', (c, next) =>
    c.req.method === 'GET' || c.req.method === 'HEAD' ? next() : c.req.path.startsWith('/api/v1/admin/') ? adminBodyLimit(c, next) : portalBodyLimit(c, next),
  );

  // JSON is read as UTF-8 only (api/schemas.ts utf8Json): every customer route, present and
  // future; the engineer routes check it after their token (api/routes/admin.ts).
  app.use('/api/*', (c, next) => (c.req.method === 'GET' || c.req.method === 'HEAD' || c.req.path.startsWith('/api/v1/admin/') ? next() : utf8Json(c, next)));

  // hono answers a HEAD with its GET route's answer, dropping the body unread: a body still being
  // made — a download's stream, holding its places among the downloads and in its contract's lane
  // until read or cancelled — is cancelled here, or a customer's HEADs would keep those places.
  app.use('*', async (c, next) => {
    await next();
    if (c.req.method === 'HEAD' && c.res.body) {
      await c.res.body.cancel().catch(() => {});
      c.res = new Response(null, { status: c.res.status, headers: c.res.headers });
    }
  });

  app.route('/api/v1', sessionRoutes(deps));
  app.route('/api/v1', passwordRoutes(deps));
  app.route('/api/v1', contractRoutes(deps));
  app.route('/api/v1', chargesRoutes(deps));
  app.route('/api/v1', exportRoutes(deps));
  app.route('/api/v1/admin', adminRoutes(deps));
  app.route('/', healthRoutes(deps));
  app.route('/', operationsRoutes({ readiness, metrics }));
  app.route('/', portalRoutes(deps));

  app.openAPIRegistry.registerComponent('securitySchemes', 'session', { type: 'http', scheme: 'bearer', description: 'token from POST /api/v1/session' });
  app.openAPIRegistry.registerComponent('securitySchemes', 'admin', { type: 'http', scheme: 'bearer', description: 'LEDGER_ADMIN_TOKEN' });
  let document: unknown;
  app.get('/api/v1/openapi.json', (c) => {
    document ??= withCommonResponses(
      app.getOpenAPI31Document({
        openapi: '3.1.0',
        info: {
          title: 'au Office Number billing ledger',
          version: '1',
          description: 'The self-page portal’s queries, password and CSV downloads, and the engineers’ routes. Amounts are strings with 2 decimals.',
          license: LICENSE,
        },
        servers: [{ url: '/', description: 'this server (the document is served by the API it describes)' }],
      }),
    );
    return c.json(document as Record<string, unknown>);
  });

  app.notFound((c) => c.json(errorBody('NOT_FOUND', `no route ${c.req.method} ${c.req.path}`), 404));
  app.onError((err, c) => handleError(err, c, logger));
  return app;
}

/** The engineers' imports, counted by outcome for /metrics. */
function countingImports(engineer: EngineerOperations, metrics: LedgerMetrics): EngineerOperations {
  const outcomeOf = (e: unknown) => ((e as { details?: unknown; problems?: unknown })?.details ?? (e as { problems?: unknown })?.problems ? 'rejected' : 'failed');
  return {
    ...engineer,
    async importCalls(body, source) {
      try {
        const summary = await engineer.importCalls(body, source);
        metrics.countImport('calls', 'imported', summary);
        return summary;
      } catch (e) {
        metrics.countImport('calls', outcomeOf(e));
        throw e;
      }
    },
    async importContracts(body, source) {
      try {
        const summary = await engineer.importContracts(body, source);
        metrics.countImport('contracts', 'imported', summary as { imported: number; alreadyPresent: number; duplicates?: number });
        return summary;
      } catch (e) {
        metrics.countImport('contracts', outcomeOf(e));
        throw e;
      }
    },
  };
}

/**
 * The answers every operation can give by the way the app is built, whichever route module it
 * comes from, added where the route does not document them itself: Node's parser refuses a header
 * block over 16 KiB (431, api/http-server.ts); a route with a token answers 401 without one; a
 * route with parameters or a body validates them (400); a body is size-limited (413) and typed
 * (415); a customer's route runs in its contract's lane, which turns a burst away (429,
 * api/fairness.ts); every API route reads the database, which can be away or busy (503).
 */
export function withCommonResponses<T>(doc: T): T {
  const error = (description: string) => ({ description, content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } });
  const paths = (doc as { paths?: Record<string, Record<string, any>> }).paths ?? {};
  for (const [path, item] of Object.entries(paths)) {
    for (const [method, op] of Object.entries(item)) {
      if (!['get', 'put', 'post', 'delete', 'patch'].includes(method) || !op || typeof op !== 'object') continue;
      const responses: Record<string, unknown> = (op.responses ??= {});
      const add = (status: number, description: string) => void (responses[status] ??= error(description));
      if (op.security?.some((s: Record<string, unknown>) => Object.keys(s).length > 0)) add(401, 'not logged in / wrong token');
      if (op.security?.some((s: Record<string, unknown>) => 'session' in s)) {
        const crowded = 'too many requests of this contract at once (TOO_MANY_REQUESTS, Retry-After); try again in a moment';
        const listed = responses[429] as { description?: string } | undefined;
        if (listed?.description) responses[429] = { ...listed, description: `${listed.description}; or ${crowded}` };
        else add(429, crowded);
      }
      if ((op.parameters?.length ?? 0) > 0 || op.requestBody) add(400, 'bad request (a parameter or the body is malformed or out of bounds)');
      if (op.requestBody) {
        add(413, 'body too large');
        add(415, 'wrong content type (JSON only as UTF-8)');
      }
      add(431, 'request headers too large (over 16 KiB)');
      if (path.startsWith('/api/')) add(503, 'the database is unavailable or the ledger busy (DATABASE_UNAVAILABLE, LEDGER_BUSY); nothing was changed, try again');
    }
  }
  return doc;
}

/**
 * hono's secureHeaders() with its defaults, as it sets them on every answer. A test holds this list
 * equal to what secureHeaders() itself sets.
 */
export const SECURITY_HEADERS: readonly (readonly [string, string])[] = [
  ['Cross-Origin-Resource-Policy', 'same-origin'],
  ['Cross-Origin-Opener-Policy', 'same-origin'],
  ['Origin-Agent-Cluster', '?1'],
  ['Referrer-Policy', 'no-referrer'],
  ['Strict-Transport-Security', 'max-age=15552000; includeSubDomains'],
  ['X-Content-Type-Options', 'nosniff'],
  ['X-DNS-Prefetch-Control', 'off'],
  ['X-Download-Options', 'noopen'],
  ['X-Frame-Options', 'SAMEORIGIN'],
  ['X-Permitted-Cross-Domain-Policies', 'none'],
  ['X-XSS-Protection', '0'],
];

/**
 * hono's requestId() and secureHeaders() in one: the request's own X-Request-Id when it is a plain
 * token of at most 255 characters, else a new UUID; answered with the security headers. Under Node
 * the headers go straight onto the outgoing message (the adapter's binding), which merges them
 * with the Response's own: set through the Response's fetch Headers they cost about a tenth of a
 * portal GET's CPU (measured). Elsewhere (app.request() in the tests) the hono middlewares do it.
 * No route sets any of these headers itself, so which of the two wins on a clash never arises.
 */
function requestIdAndSecurityHeaders(): MiddlewareHandler<AppEnv> {
  const viaResponse = secureHeaders();
  return async (c, next) => {
    const given = c.req.header('X-Request-Id');
    const id = given && given.length <= 255 && !/[^\w\-=]/.test(given) ? given : crypto.randomUUID();
    c.set('requestId', id);
    const outgoing = (c.env as Partial<HttpBindings> | undefined)?.outgoing;
    if (outgoing && typeof outgoing.setHeader === 'function' && !outgoing.headersSent) {
      outgoing.setHeader('X-Request-Id', id);
      for (const [name, value] of SECURITY_HEADERS) outgoing.setHeader(name, value);
      await next();
      return;
    }
    c.header('X-Request-Id', id);
    await viaResponse(c, next);
  };
}

/** One line per request: method, path (never the query or body), status, time; no credentials. */
function accessLog(deps: RouteDeps): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const started = performance.now();
    await next();
    const session = c.get('session');
    deps.logger.info(
      {
        requestId: c.get('requestId'),
        method: c.req.method,
        path: c.req.path,
        status: c.res.status,
        ms: Math.round((performance.now() - started) * 10) / 10,
        ...(session ? { contractCode: session.contractCode } : {}),
      },
      'request',
    );
  };
}
