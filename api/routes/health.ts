// GET /health: the event store answers, and how far each projection is behind.
import { OpenAPIHono, createRoute, z } from '@hono/zod-openapi';
import type { AppEnv, RouteDeps } from '../env.ts';

const HealthSchema = z.object({
  status: z.enum(['ok', 'degraded', 'unavailable']),
  eventStore: z.string(),
  head: z.string().optional(),
  projections: z.record(z.string(), z.object({ position: z.string(), lag: z.number() })),
});

const health = createRoute({
  method: 'get',
  path: '/health',
  summary: 'Liveness and projection lag',
  responses: {
    200: { description: 'ok', content: { 'application/json': { schema: HealthSchema } } },
    503: { description: 'the event store or the read side does not answer', content: { 'application/json': { schema: HealthSchema } } },
  },
});

export function healthRoutes(deps: RouteDeps) {
  const app = new OpenAPIHono<AppEnv>();
  app.openapi(health, async (c) => {
    try {
      const [head, projections] = await Promise.all([deps.store.headPosition(), deps.queries.status()]);
      return c.json({ status: 'ok' as const, eventStore: deps.store.name, head: head.toString(), projections }, 200);
    } catch (e) {
      deps.logger.error({ err: e }, 'health check failed');
      return c.json({ status: 'unavailable' as const, eventStore: deps.store.name, projections: {} }, 503);
    }
  });
  return app;
}
