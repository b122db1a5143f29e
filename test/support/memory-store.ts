// A small in-memory EventStore for domain service tests: faithful to the port (exact expected
// versions, idempotency by id — same type and data is alreadyPresent, anything else EventIdConflict —
// atomic appendMany, strictly increasing positions), with no persistence.
import { canonicalJson } from '../../domain/canonical-json.ts';
import type {
  AppendResult,
  EventStore,
  EventToAppend,
  ExpectedVersion,
  ReadAllOptions,
  RecordedEvent,
  StreamAppend,
} from '../../eventstore/port.ts';
import { EventIdConflict, ExpectedVersionConflict } from '../../eventstore/port.ts';

export interface MemoryEventStore extends EventStore {
  /** Hook run before every append (tests use it to slip in a concurrent writer). */
  beforeAppend?: (batches: readonly StreamAppend[]) => Promise<void> | void;
}

export function createMemoryEventStore(): MemoryEventStore {
  const log: RecordedEvent[] = [];
  const byStream = new Map<string, RecordedEvent[]>();
  const byId = new Map<string, RecordedEvent>();
  let waiters: Array<() => void> = [];
  let closed = false;

  const versionOf = (streamId: string) => (byStream.get(streamId)?.length ?? 0) - 1;

  function plan(batches: readonly StreamAppend[]): { results: AppendResult[]; commit: () => void } {
    const staged: RecordedEvent[] = [];
    const stagedVersions = new Map<string, number>();
    const stagedIds = new Map<string, RecordedEvent>();
    const results: AppendResult[] = [];
    let position = BigInt(log.length);
    for (const batch of batches) {
      const current = stagedVersions.get(batch.streamId) ?? versionOf(batch.streamId);
      let version = current;
      let appended = 0;
      let alreadyPresent = 0;
      const fresh: EventToAppend[] = [];
      for (const event of batch.events) {
        const existing = stagedIds.get(event.id) ?? byId.get(event.id);
        if (existing) {
          if (existing.streamId !== batch.streamId) throw new EventIdConflict(event.id, batch.streamId, `stored in ${existing.streamId}`);
          if (existing.type !== event.type) throw new EventIdConflict(event.id, batch.streamId, `stored as ${existing.type}`);
          if (canonical(existing.data) !== canonical(event.data)) throw new EventIdConflict(event.id, batch.streamId, 'different data');
          alreadyPresent++;
        } else {
          fresh.push(event);
        }
      }
      // Idempotency holds whatever the expected version (durableIdempotency): a fully re-delivered
      // batch is a no-op; anything new is checked against the expected version.
      if (fresh.length > 0) checkExpected(batch.streamId, batch.expectedVersion ?? 'any', current);
      for (const event of fresh) {
        version++;
        position++;
        const recorded: RecordedEvent = {
          id: event.id,
          streamId: batch.streamId,
          revision: version,
          position,
          type: event.type,
          data: clone(event.data),
          metadata: clone(event.metadata ?? {}) as Record<string, unknown>,
          recordedAt: new Date().toISOString(),
        };
        staged.push(recorded);
        stagedIds.set(event.id, recorded);
        appended++;
      }
      stagedVersions.set(batch.streamId, version);
      results.push({ streamId: batch.streamId, version, appended, alreadyPresent });
    }
    return {
      results,
      commit() {
        for (const recorded of staged) {
          log.push(recorded);
          byId.set(recorded.id, recorded);
          const stream = byStream.get(recorded.streamId) ?? [];
          stream.push(recorded);
          byStream.set(recorded.streamId, stream);
        }
        if (staged.length > 0) {
          const ready = waiters;
          waiters = [];
          for (const wake of ready) wake();
        }
      },
    };
  }

  const store: MemoryEventStore = {
    name: 'memory',
    capabilities: { atomicMultiStreamAppend: true, durableIdempotency: true, bulkAppend: false, sharedTransaction: false, streamSession: false },

    async append(streamId, events, options) {
      const [result] = await store.appendMany([{ streamId, events, ...(options?.expectedVersion !== undefined ? { expectedVersion: options.expectedVersion } : {}) }]);
      return result!;
    },

    async appendMany(batches) {
      if (closed) throw new Error('store closed');
      await store.beforeAppend?.(batches);
      const { results, commit } = plan(batches);
      commit();
      return results;
    },

    async readStream(streamId, options) {
      const from = options?.fromRevision ?? 0;
      return (byStream.get(streamId) ?? []).filter((e) => e.revision >= from);
    },

    async readAll(options: ReadAllOptions = {}) {
      const after = options.after ?? 0n;
      const out: RecordedEvent[] = [];
      for (const e of log) {
        if (e.position <= after) continue;
        if (options.streamPrefixes && !options.streamPrefixes.some((p) => e.streamId.startsWith(p))) continue;
        out.push(e);
        if (options.limit !== undefined && out.length >= options.limit) break;
      }
      return out;
    },

    async headPosition() {
      return BigInt(log.length);
    },

    async findEvent(id) {
      return byId.get(id);
    },

    // An append here is committed the moment it is stamped: recordedAt is its visibility.
    async visiblePositionAt(instant) {
      let position = 0n;
      for (const e of log) if (Date.parse(e.recordedAt) <= instant.getTime()) position = e.position;
      return position;
    },

    async visibleSince(positions) {
      const out = new Map<bigint, string>();
      for (const p of positions) {
        const e = log[Number(p) - 1];
        if (e) out.set(p, e.recordedAt);
      }
      return out;
    },

    waitForEvents(timeoutMs, signal) {
      return new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer);
          signal?.removeEventListener('abort', done);
          waiters = waiters.filter((w) => w !== done);
          resolve();
        };
        const timer = setTimeout(done, timeoutMs);
        signal?.addEventListener('abort', done, { once: true });
        waiters.push(done);
      });
    },

    async close() {
      closed = true;
      const ready = waiters;
      waiters = [];
      for (const wake of ready) wake();
    },
  };
  return store;
}

function checkExpected(streamId: string, expected: ExpectedVersion, actual: number): void {
  if (expected === 'any') return;
  const wanted = expected === 'no_stream' ? -1 : expected;
  if (wanted !== actual) throw new ExpectedVersionConflict(streamId, expected, actual);
}

function clone<T>(value: T): T {
  return value === undefined ? value : (JSON.parse(JSON.stringify(value)) as T);
}

const canonical = canonicalJson;
