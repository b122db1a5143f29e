// GET /health: the event store answers, how far each projection is behind, and which (if any) is
// stalled before an event it cannot apply. A stall is "degraded", still 200: the process is alive,
// and restarting it would not apply the event (readiness is where it counts).
import { OpenAPIHono, createRoute, z } from '@hono/zod-openapi';
import type { AppEnv, RouteDeps } from '../env.ts';

const HealthSchema = z.object({
  status: z.enum(['ok', 'degraded', 'unavailable']),
  eventStore: z.string(),
  head: z.string().optional(),
  projections: z.record(
    z.string(),
    z.object({
      position: z.string(),
      lag: z.number(),
      stalled: z
        .object({
          position: z.string().openapi({ description: 'global position of the event it cannot apply' }),
          eventId: z.string(),
          eventType: z.string(),
          streamId: z.string(),
          error: z.string(),
          since: z.string(),
        })
        .optional()
        .openapi({ description: 'present while the projection is stopped before an event it cannot apply' }),
    }),
  ),
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
      const [head, status] = await Promise.all([deps.store.headPosition(), deps.queries.status()]);
      const projections = Object.fromEntries(
        Object.entries(status).map(([name, s]) => {
          if (!s.stalled) return [name, { position: s.position, lag: s.lag }];
          const { projection: _name, ...stalled } = s.stalled;
          return [name, { position: s.position, lag: s.lag, stalled }];
        }),
      );
      const degraded = Object.values(status).some((s) => s.stalled);
      return c.json({ status: degraded ? ('degraded' as const) : ('ok' as const), eventStore: deps.store.name, head: head.toString(), projections }, 200);
    } catch (e) {
      deps.logger.error({ err: e }, 'health check failed');
      return c.json({ status: 'unavailable' as const, eventStore: deps.store.name, projections: {} }, 503);
    }
  });
  return app;
}
