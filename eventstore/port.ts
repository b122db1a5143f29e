// The one EventStore port (STYLE §4). Adapters: sql.ts (PostgreSQL over pg, and PGlite, through
// kysely) and esdb.ts (EventStoreDB / KurrentDB). One contract suite, test/eventstore.contract.ts,
// runs against every adapter.

/**
 * The version of a stream is the 0-based revision of its last event; -1 when it has none.
 * `any` skips the check; `no_stream` requires -1; a number requires exactly that revision.
 */
export type ExpectedVersion = number | 'any' | 'no_stream';

export interface EventToAppend {
  /** Deterministic where the fact has an identity (a call, a command line): re-delivery is recognised by it. */
  readonly id: string;
  readonly type: string;
  readonly data: unknown;
  readonly metadata?: Record<string, unknown>;
}

export interface RecordedEvent {
  readonly id: string;
  readonly streamId: string;
  /** 0-based position within its stream. */
  readonly revision: number;
  /**
   * Global position, strictly increasing in commit order: a reader that has seen position P will
   * never later see an event at or below P appear (see the adapters for how each guarantees it).
   */
  readonly position: bigint;
  readonly type: string;
  readonly data: unknown;
  readonly metadata: Record<string, unknown>;
  /** ISO-8601. */
  readonly recordedAt: string;
}

export interface StreamAppend {
  readonly streamId: string;
  readonly events: readonly EventToAppend[];
  readonly expectedVersion?: ExpectedVersion;
}

export interface AppendResult {
  readonly streamId: string;
  /** The stream's version after the append. */
  readonly version: number;
  readonly appended: number;
  /** Events whose id was already stored with the same type and data: a no-op. */
  readonly alreadyPresent: number;
}

export interface ReadAllOptions {
  /** Exclusive; start of the log when omitted. */
  readonly after?: bigint;
  readonly limit?: number;
  /** Only streams whose id starts with one of these. */
  readonly streamPrefixes?: readonly string[];
}

export interface EventStoreCapabilities {
  /** appendMany commits all streams or none. */
  readonly atomicMultiStreamAppend: boolean;
  /** Idempotency by event id holds for any expected version, not only an exact one. */
  readonly durableIdempotency: boolean;
}

export interface EventStore {
  readonly name: string;
  readonly capabilities: EventStoreCapabilities;
  append(streamId: string, events: readonly EventToAppend[], options?: { expectedVersion?: ExpectedVersion }): Promise<AppendResult>;
  /** Atomic across streams where `capabilities.atomicMultiStreamAppend`; otherwise stream by stream, in order. */
  appendMany(batches: readonly StreamAppend[]): Promise<AppendResult[]>;
  readStream(streamId: string, options?: { fromRevision?: number }): Promise<RecordedEvent[]>;
  readAll(options?: ReadAllOptions): Promise<RecordedEvent[]>;
  /** The position of the newest event readers can see (0n when empty). */
  headPosition(): Promise<bigint>;
  /** Look an event up by id (corrections name a call by its id). */
  findEvent(id: string): Promise<RecordedEvent | undefined>;
  /**
   * Resolves when new events may be readable (a NOTIFY, a subscription tick) or after `timeoutMs`,
   * whichever comes first. Followers loop: readAll(after) → wait → readAll(after)…
   */
  waitForEvents(timeoutMs: number, signal?: AbortSignal): Promise<void>;
  close(): Promise<void>;
}

export class ExpectedVersionConflict extends Error {
  readonly code = 'EXPECTED_VERSION_CONFLICT';
  constructor(readonly streamId: string, readonly expected: ExpectedVersion, readonly actual: number) {
    super(`stream ${streamId}: expected version ${String(expected)}, actual ${actual}`);
  }
}

export class EventIdConflict extends Error {
  readonly code = 'EVENT_ID_CONFLICT';
  constructor(readonly eventId: string, readonly streamId: string, readonly reason: string) {
    super(`event ${eventId} is already stored with different content (${reason})`);
  }
}
