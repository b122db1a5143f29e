// The one EventStore port (STYLE §4). Adapters: sql.ts (PostgreSQL over pg, and PGlite, through
// kysely) and esdb.ts (EventStoreDB / KurrentDB). One contract suite, test/eventstore.contract.ts,
// runs against every adapter. What only some adapters can do is a capability: a flag in
// `capabilities` and an optional member that callers reach through `bulkAppenderOf` /
// `sharedTransactionOf` / `streamSessionOf` (as kysely's dialect adapters declare theirs), never by
// asking which adapter it is.
import type { Kysely } from 'kysely';

// What idempotency compares (stream, type and canonical data): `BulkAppender.storedContent` answers
// in these terms, so a caller can tell an event already present from a conflicting one.
export { payloadHash } from './canonical.ts';

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
  /**
   * ISO-8601, as the adapter stamped the event when writing it (the SQL store: its transaction's
   * start). Not when it became visible: a long import is written over a minute and seen at its
   * commit; as-of queries use visiblePositionAt / visibleSince instead.
   */
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
  /** `bulk` is offered: a whole import in ONE transaction, fed chunk by chunk (COPY on PostgreSQL). */
  readonly bulkAppend: boolean;
  /** `inTransaction` is offered: events and the caller's own rows in the same database commit together. */
  readonly sharedTransaction: boolean;
  /**
   * `openStreamSession` is offered: a writer of many events into a few streams reads each stream
   * once and then only what was appended to it since (for a store that cannot look an id up
   * without reading a whole stream or log).
   */
  readonly streamSession: boolean;
}

/** A fresh event for `BulkAppender.bulkWrite`, encoded by the caller: data as canonical JSON text (what is hashed and stored). */
export interface BulkEvent {
  readonly id: string;
  readonly type: string;
  readonly dataText: string;
  readonly metadataText: string;
}

/** Rows of one `bulkWrite`, written a chunk at a time. */
export interface BulkWriter {
  /** Adds one event; a promise to await when the call had to wait (a new stream, a full chunk), else undefined. */
  add(streamId: string, event: BulkEvent): Promise<void> | undefined;
  /** A stream's events as the bulk write's own transaction sees them. */
  readStream(streamId: string): Promise<{ type: string; data: unknown }[]>;
}

export interface BulkAppendResult {
  readonly appended: number;
  readonly alreadyPresent: number;
  /** Events stored earlier in the same bulk append. */
  readonly duplicates: number;
}

/** What a store with `capabilities.bulkAppend` offers an importer of large files. */
export interface BulkAppender {
  /**
   * The fastest way in, for events the caller has made sure are new and never repeat: one
   * transaction, nothing looked up first. When an id is stored already, everything rolls back and
   * `BulkIdTaken` is thrown (take the careful way: `appendBulk`). Whatever `work` throws rolls
   * everything back.
   */
  bulkWrite<T>(work: (writer: BulkWriter) => Promise<T>, options?: { chunkSize?: number }): Promise<T>;
  /**
   * Appends chunk after chunk in ONE transaction (all commit or none), with the port's idempotency:
   * an event stored before counts as already present, one stored earlier in this bulk append as a
   * duplicate, a different one under a stored id is an EventIdConflict.
   */
  appendBulk(chunks: AsyncIterable<readonly StreamAppend[]> | Iterable<readonly StreamAppend[]>, onChunk?: (result: BulkAppendResult) => void): Promise<BulkAppendResult>;
  /** Of these event ids, the stored ones: their stream and `payloadHash`, many at a time. */
  storedContent(ids: readonly string[]): Promise<Map<string, { streamId: string; hash: string }>>;
}

/** A stored event as `StreamSession.held` reports it when it differs from the one offered. */
export interface StoredEvent {
  readonly id: string;
  readonly streamId: string;
  readonly type: string;
  readonly data: unknown;
}

/**
 * What a store with `capabilities.streamSession` offers an importer: a view of the streams it
 * writes to, kept for the session. The first question about a stream reads it whole; later ones
 * read only the events appended to it since (by anyone), so an import of N events into streams
 * holding S events reads O(N + S) events however its chunks interleave the streams, instead of a
 * whole stream per chunk or a whole log per id. The view keeps about 50 bytes per event of the
 * streams touched; open one per import and drop it afterwards.
 */
export interface StreamSession {
  /**
   * Which of these events `streamId` holds already, by id: `'same'` when stored with the same type
   * and data, the stored event when it differs. Events it does not hold are left out.
   */
  held(streamId: string, events: readonly EventToAppend[]): Promise<Map<string, 'same' | StoredEvent>>;
  /** `EventStore.appendMany`, with the same guarantees, checked against the session's view of each stream. */
  appendMany(batches: readonly StreamAppend[]): Promise<AppendResult[]>;
}

/** One transaction of a store with `capabilities.sharedTransaction`. */
export interface StoreTransaction {
  append(batches: readonly StreamAppend[]): Promise<AppendResult[]>;
  /** The same transaction, for the caller's own tables in the store's database. */
  readonly db: Kysely<any>;
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
   * As-of queries ("as it stood at T"): the newest position P such that the event at P and every
   * event below it was visible to readers at `instant`; 0n when none was. The adapters' instants
   * are upper bounds of the commit: an event may have been visible a little before its instant,
   * never after it, so nothing is ever counted at a moment before its commit.
   */
  visiblePositionAt(instant: Date): Promise<bigint>;
  /** The instant (ISO-8601) from which each of these events counts as visible, by position. */
  visibleSince(positions: readonly bigint[]): Promise<ReadonlyMap<bigint, string>>;
  /**
   * Resolves when new events may be readable (a NOTIFY, a subscription tick) or after `timeoutMs`,
   * whichever comes first. Followers loop: readAll(after) → wait → readAll(after)…
   */
  waitForEvents(timeoutMs: number, signal?: AbortSignal): Promise<void>;
  close(): Promise<void>;
  /** Where `capabilities.bulkAppend` (ask through `bulkAppenderOf`). */
  readonly bulk?: BulkAppender;
  /** Where `capabilities.sharedTransaction` (ask through `sharedTransactionOf`): commits when `work` resolves. */
  inTransaction?<T>(work: (trx: StoreTransaction) => Promise<T>): Promise<T>;
  /** Where `capabilities.streamSession` (ask through `streamSessionOf`). */
  openStreamSession?(): StreamSession;
}

export function bulkAppenderOf(store: EventStore): BulkAppender | undefined {
  return store.capabilities.bulkAppend ? store.bulk : undefined;
}

export function sharedTransactionOf(store: EventStore): (<T>(work: (trx: StoreTransaction) => Promise<T>) => Promise<T>) | undefined {
  return store.capabilities.sharedTransaction && store.inTransaction ? (work) => store.inTransaction!(work) : undefined;
}

export function streamSessionOf(store: EventStore): (() => StreamSession) | undefined {
  return store.capabilities.streamSession && store.openStreamSession ? () => store.openStreamSession!() : undefined;
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

/** An id of a `bulkWrite` is stored already: nothing was written; the caller goes the careful way. */
export class BulkIdTaken extends Error {
  readonly code = 'BULK_ID_TAKEN';
  constructor() {
    super('an event id of the bulk write is stored already');
  }
}

/**
 * The database cannot be reached now: connection refused or lost, the server shutting down or
 * restarting, no writable server among the hosts. Nothing of the failed call was stored (a
 * transaction that lost its connection is rolled back); the same call later succeeds.
 */
export class DatabaseUnavailable extends Error {
  readonly code = 'DATABASE_UNAVAILABLE';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** The database answers, but not within the bound a request may wait (the writers' lock held by an import, a full pool). */
export class LedgerBusy extends Error {
  readonly code = 'LEDGER_BUSY';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}
