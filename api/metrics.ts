// GET /metrics in Prometheus' text format (prom-client). Every label has a bounded set of values:
// routes by their pattern (`/api/v1/charges/:month`, never the path a client sent), projections by
// name, imports by kind and outcome. One registry per app, so tests and two apps in one process
// never share counters.
import type { MiddlewareHandler } from 'hono';
import { matchedRoutes } from 'hono/route';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { ProjectionStatus } from '../projections/read-model.ts';

export type ImportKind = 'calls' | 'contracts';
/** imported: the file was applied; rejected: bad input, nothing stored; failed: anything else. */
export type ImportOutcome = 'imported' | 'rejected' | 'failed';

export interface LedgerMetrics {
  readonly registry: Registry;
  /** Times every request by method, route pattern and status. */
  readonly http: MiddlewareHandler;
  countImport(kind: ImportKind, outcome: ImportOutcome, records?: { imported: number; alreadyPresent: number; duplicates?: number }): void;
  /** The text a scrape gets. */
  scrape(): Promise<{ contentType: string; body: string }>;
}

const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);

export function createMetrics(source: { projections: () => Promise<Record<string, ProjectionStatus>> }): LedgerMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });

  const duration = new Histogram({
    name: 'ledger_http_request_duration_seconds',
    help: 'Time to answer an HTTP request, by method, route pattern and status.',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [registry],
  });
  const imports = new Counter({
    name: 'ledger_imports_total',
    help: 'Files imported through the engineer routes, by kind and outcome (imported, rejected: bad input, nothing stored; failed).',
    labelNames: ['kind', 'outcome'] as const,
    registers: [registry],
  });
  const records = new Counter({
    name: 'ledger_import_records_total',
    help: 'Records of imported files, by kind and outcome (imported now, already present from an earlier import, duplicate within the file).',
    labelNames: ['kind', 'outcome'] as const,
    registers: [registry],
  });

  // Read at scrape time, all three from one status read.
  let pending: Promise<Record<string, ProjectionStatus>> | undefined;
  const status = () => {
    pending ??= source.projections().finally(() => {
      pending = undefined;
    });
    return pending;
  };
  new Gauge({
    name: 'ledger_projection_position',
    help: 'Global position of the last event each projection has applied.',
    labelNames: ['projection'] as const,
    registers: [registry],
    async collect() {
      this.reset();
      for (const [name, s] of Object.entries(await status())) this.set({ projection: name }, Number(s.position));
    },
  });
  new Gauge({
    name: 'ledger_projection_lag_events',
    help: 'Events in the store that each projection has not applied yet.',
    labelNames: ['projection'] as const,
    registers: [registry],
    async collect() {
      this.reset();
      for (const [name, s] of Object.entries(await status())) this.set({ projection: name }, s.lag);
    },
  });
  new Gauge({
    name: 'ledger_projection_stalled',
    help: '1 while a projection is stopped before an event it cannot apply, else 0.',
    labelNames: ['projection'] as const,
    registers: [registry],
    async collect() {
      this.reset();
      for (const [name, s] of Object.entries(await status())) this.set({ projection: name }, s.stalled ? 1 : 0);
    },
  });

  return {
    registry,
    async http(c, next) {
      const end = duration.startTimer();
      try {
        await next();
      } finally {
        end({ method: METHODS.has(c.req.method) ? c.req.method : 'OTHER', route: routePattern(c), status: String(c.res.status) });
      }
    },
    countImport(kind, outcome, counted) {
      imports.inc({ kind, outcome });
      if (!counted) return;
      records.inc({ kind, outcome: 'imported' }, counted.imported);
      records.inc({ kind, outcome: 'already_present' }, counted.alreadyPresent);
      records.inc({ kind, outcome: 'duplicate' }, counted.duplicates ?? 0);
    },
    async scrape() {
      return { contentType: registry.contentType, body: await registry.metrics() };
    },
  };
}

/**
 * The pattern of the route that answered: the last matched route that is a handler of this method
 * (middlewares are registered for every method). None: `unmatched`, one label for every unknown path.
 */
function routePattern(c: Parameters<MiddlewareHandler>[0]): string {
  const routes = matchedRoutes(c);
  for (let i = routes.length - 1; i >= 0; i--) {
    const route = routes[i]!;
    if (route.method !== 'ALL') return route.path;
  }
  return 'unmatched';
}
