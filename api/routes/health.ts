// GET /health: liveness. The process answers whatever the database does; the body says whether
// the event store answers, how far each projection is behind, and which (if any) is stalled before
// an event it cannot apply. A stall, or a database that cannot be reached, is "degraded", still
// 200: the process is alive, and restarting it would not help (readiness is where it counts).
import { OpenAPIHono, createRoute, z } from '@hono/zod-openapi';
import { databaseTrouble, describe } from '../../eventstore/connection.ts';
import type { AppEnv, RouteDeps } from '../env.ts';

const HealthSchema = z.object({
  status: z.enum(['ok', 'degraded', 'unavailable']),
  /** Why the status is not ok. */
  reason: z.string().optional(),
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
  operationId: 'getHealth',
  security: [],
  summary: 'Liveness and projection lag',
  responses: {
    200: { description: 'ok, or degraded (the database cannot be reached: see reason)', content: { 'application/json': { schema: HealthSchema } } },
    503: { description: 'the event store or the read side fails for another reason', content: { 'application/json': { schema: HealthSchema } } },
  },
});

/** The most the check waits for the database: a liveness probe must answer even when it does not. */
export const HEALTH_CHECK_MS = 2_000;

export function healthRoutes(deps: RouteDeps) {
  const app = new OpenAPIHono<AppEnv>();
  app.openapi(health, async (c) => {
    let timer: NodeJS.Timeout | undefined;
    try {
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new DatabaseSilent()), HEALTH_CHECK_MS);
      });
      const [head, status] = await Promise.race([Promise.all([deps.store.headPosition(), deps.queries.status()]), timeout]);
      const projections = Object.fromEntries(
        Object.entries(status).map(([name, s]) => {
          if (!s.stalled) return [name, { position: s.position, lag: s.lag }];
          const { projection: _name, ...stalled } = s.stalled;
          return [name, { position: s.position, lag: s.lag, stalled }];
        }),
      );
      const lost = deps.databaseLost?.();
      // The check got through, but the follower has not yet (it retries with backoff).
      const reason = lost ? `projections waiting for the database since ${lost.since.toISOString()}: ${lost.reason}` : undefined;
      const degraded = lost !== undefined || Object.values(status).some((s) => s.stalled);
      return c.json({ status: degraded ? ('degraded' as const) : ('ok' as const), ...(reason ? { reason } : {}), eventStore: deps.store.name, head: head.toString(), projections }, 200);
    } catch (e) {
      if (e instanceof DatabaseSilent || databaseTrouble(e)) {
        const reason = e instanceof DatabaseSilent ? `the database did not answer within ${HEALTH_CHECK_MS} ms` : `the database cannot be reached: ${describe(e)}`;
        return c.json({ status: 'degraded' as const, reason, eventStore: deps.store.name, projections: {} }, 200);
      }
      deps.logger.error({ err: e }, 'health check failed');
      return c.json({ status: 'unavailable' as const, reason: 'the event store or the read side fails; see the log', eventStore: deps.store.name, projections: {} }, 503);
    } finally {
      clearTimeout(timer);
    }
  });
  return app;
}

class DatabaseSilent extends Error {}
