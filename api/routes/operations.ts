// GET /ready (readiness, for a load balancer) and GET /metrics (Prometheus). /health, beside them,
// is liveness. Neither needs a token: they say how the process is, nothing about a customer.
import { OpenAPIHono, createRoute, z } from '@hono/zod-openapi';
import type { AppEnv } from '../env.ts';
import type { LedgerMetrics } from '../metrics.ts';
import type { Readiness } from '../readiness.ts';

const CheckSchema = z.union([
  z.object({ ready: z.literal(true) }),
  z.object({ ready: z.literal(false), code: z.string(), message: z.string() }),
]);
const ReadySchema = z.object({ status: z.literal('ready'), checks: z.record(z.string(), CheckSchema) });
const NotReadySchema = z.object({
  error: z.object({ code: z.string().openapi({ example: 'PROJECTION_STALLED' }), message: z.string() }),
  checks: z.record(z.string(), CheckSchema),
});

const ready = createRoute({
  method: 'get',
  path: '/ready',
  operationId: 'getReadiness',
  security: [],
  summary: 'Readiness: the event store answers, no projection is stalled or too far behind, the server is not stopping',
  responses: {
    200: { description: 'ready for traffic', content: { 'application/json': { schema: ReadySchema } } },
    503: { description: 'not ready; error.code says why (the first failing check), checks says each', content: { 'application/json': { schema: NotReadySchema } } },
  },
});

const metrics = createRoute({
  method: 'get',
  path: '/metrics',
  operationId: 'getMetrics',
  security: [],
  summary: 'Prometheus metrics: projection position, lag and stall; imports by outcome; HTTP durations by route pattern; process',
  responses: { 200: { description: 'Prometheus text exposition format', content: { 'text/plain': { schema: z.string() } } } },
});

export function operationsRoutes(deps: { readiness: Readiness; metrics: LedgerMetrics }) {
  const app = new OpenAPIHono<AppEnv>();
  app.openapi(ready, async (c) => {
    const report = await deps.readiness();
    c.header('Cache-Control', 'no-store');
    if (report.ready) return c.json({ status: 'ready' as const, checks: report.checks }, 200);
    return c.json({ error: report.reason!, checks: report.checks }, 503);
  });
  app.openapi(metrics, async (c) => {
    const { contentType, body } = await deps.metrics.scrape();
    c.header('Cache-Control', 'no-store');
    return c.text(body, 200, { 'Content-Type': contentType });
  });
  return app;
}
