// Readiness (GET /ready): may a load balancer send this process traffic now? Liveness is /health.
// Readiness is a list of named checks, each saying why not (or nothing when fine); the composition
// root and other parts add their own (a draining server, an unreachable database) to the defaults.
import type { EventStore } from '../eventstore/port.ts';
import { databaseTrouble, describe } from '../eventstore/connection.ts';
import type { ProjectionStatus } from '../projections/read-model.ts';

/** Why a check says "not now": a code in the domain's words and one sentence. */
export interface NotReady {
  readonly code: string;
  readonly message: string;
}

export interface ReadinessCheck {
  readonly name: string;
  /** undefined when fine. A check that throws or takes longer than the bound counts as not ready. */
  check(): Promise<NotReady | undefined>;
}

export type CheckOutcome = { readonly ready: true } | ({ readonly ready: false } & NotReady);

export interface ReadinessReport {
  readonly ready: boolean;
  /** The first reason, when not ready. */
  readonly reason?: NotReady;
  readonly checks: Record<string, CheckOutcome>;
}

export type Readiness = () => Promise<ReadinessReport>;

/** Projections further behind the store's head than this many events are not ready (LEDGER_READY_MAX_LAG). */
export const DEFAULT_READY_MAX_LAG = 10_000;
export const DEFAULT_READY_TIMEOUT_MS = 2_000;

export function createReadiness(checks: readonly ReadinessCheck[], options: { timeoutMs?: number } = {}): Readiness {
  const timeoutMs = options.timeoutMs ?? DEFAULT_READY_TIMEOUT_MS;
  return async () => {
    const outcomes = await Promise.all(checks.map(async (c) => [c.name, await outcomeOf(c, timeoutMs)] as const));
    const reason = outcomes.map(([, o]) => o).find((o): o is { ready: false } & NotReady => !o.ready);
    return { ready: reason === undefined, ...(reason ? { reason: { code: reason.code, message: reason.message } } : {}), checks: Object.fromEntries(outcomes) };
  };
}

async function outcomeOf(check: ReadinessCheck, timeoutMs: number): Promise<CheckOutcome> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<NotReady>((resolve) => {
    timer = setTimeout(() => resolve({ code: 'CHECK_TIMED_OUT', message: `${check.name} did not answer within ${timeoutMs} ms` }), timeoutMs);
  });
  try {
    const notReady = await Promise.race([check.check(), late]);
    return notReady ? { ready: false, ...notReady } : { ready: true };
  } catch (e) {
    return { ready: false, code: 'CHECK_FAILED', message: `${check.name}: ${e instanceof Error ? e.message : String(e)}` };
  } finally {
    clearTimeout(timer);
  }
}

/** The event store answers (its head position can be read). */
export function eventStoreAnswers(store: Pick<EventStore, 'name' | 'headPosition'>): ReadinessCheck {
  return {
    name: 'eventStore',
    async check() {
      try {
        await store.headPosition();
        return undefined;
      } catch (e) {
        // A lost or refused connection is the database being away, not the store being wrong.
        if (databaseTrouble(e) === 'unavailable') return { code: 'DATABASE_UNAVAILABLE', message: `the database cannot be reached: ${describe(e)}` };
        return { code: 'EVENT_STORE_UNAVAILABLE', message: `the event store (${store.name}) does not answer: ${e instanceof Error ? e.message : String(e)}` };
      }
    },
  };
}

/** No projection stalled before an event it cannot apply, none further behind than `maxLag` events. */
export function projectionsCurrent(status: () => Promise<Record<string, ProjectionStatus>>, maxLag = DEFAULT_READY_MAX_LAG): ReadinessCheck {
  return {
    name: 'projections',
    async check() {
      const all = Object.entries(await status());
      const stalled = all.find(([, s]) => s.stalled);
      if (stalled) {
        const [name, s] = stalled;
        return {
          code: 'PROJECTION_STALLED',
          message: `projection ${name} is stopped before event ${s.stalled!.eventId} (${s.stalled!.eventType} at position ${s.stalled!.position}): ${s.stalled!.error}`,
        };
      }
      const behind = all.find(([, s]) => s.lag > maxLag);
      if (behind) return { code: 'PROJECTION_BEHIND', message: `projection ${behind[0]} is ${behind[1].lag} events behind the event store (ready within ${maxLag})` };
      return undefined;
    },
  };
}

/** Not ready while the projection follower waits for the database (it retries with backoff). */
export function followerConnected(lost: () => { readonly since: Date; readonly reason: string } | undefined): ReadinessCheck {
  return {
    name: 'follower',
    async check() {
      const l = lost();
      return l ? { code: 'DATABASE_UNAVAILABLE', message: `the projections have been waiting for the database since ${l.since.toISOString()}: ${l.reason}` } : undefined;
    },
  };
}

/** Not ready once the server has been told to stop: no new traffic while it finishes what it has. */
export function notStopping(stopping: () => boolean): ReadinessCheck {
  return {
    name: 'server',
    async check() {
      return stopping() ? { code: 'SHUTTING_DOWN', message: 'the server is stopping' } : undefined;
    },
  };
}
