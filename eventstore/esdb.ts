// The EventStoreDB / KurrentDB adapter over @eventstore/db-client v6 (STYLE §4). The client is
// built outside (`EventStoreDBClient.connectionString(...)`) and handed in; vendor errors are
// translated into ours here and nowhere else.
//
// Traps in this client version, each handled below where it bites:
// - `readAll` has no server-side filter in v6 (it always sends `NoFilter`; only `subscribeToAll`
//   takes `streamNameFilter`). We filter system (`$…`) and foreign streams on the client while
//   streaming, and stop the gRPC read as soon as the page is full.
// - ESDB's own idempotency by event id is only durable with an exact expected revision; with `any`
//   it is best effort (a cache of recent writes). We read the stream first and always append with
//   the exact revision just read — see `plan` and `write`.
// - A client built with `throwOnAppendFailure=false` resolves a failed append with
//   `success: false` instead of throwing `WrongExpectedVersionError`; both are handled.
// - Event ids must be UUIDs (the client sends them as the gRPC UUID string); the server returns them
//   in lower case, so ids are compared in lower case.
// - The server rejects an append larger than `MaxAppendSize` (1 MiB by default): a larger batch is
//   written in several appends, each with the exact revision the previous one produced.
import { hash } from 'node:crypto';
import { EventEmitter } from 'node:events';
import {
  ANY,
  BACKWARDS,
  END,
  ErrorType,
  EventStoreDBClient,
  FORWARDS,
  NO_STREAM,
  START,
  StreamNotFoundError,
  WrongExpectedVersionError,
  excludeSystemEvents,
  jsonEvent,
  streamNameFilter,
} from '@eventstore/db-client';
import type {
  AllStreamRecordedEvent,
  AllStreamSubscription,
  AppendExpectedRevision,
  CurrentRevision,
  EventData,
  JSONType,
  Position,
  ReadPosition,
  RecordedEvent as EsdbRecordedEvent,
} from '@eventstore/db-client';
import { canonicalJson } from './canonical.ts';
import {
  EventIdConflict,
  ExpectedVersionConflict,
  type AppendResult,
  type EventStore,
  type EventToAppend,
  type ExpectedVersion,
  type ReadAllOptions,
  type RecordedEvent,
  type StoredEvent,
  type StreamAppend,
  type StreamSession,
} from './port.ts';

// ---- positions ---------------------------------------------------------------------------------
//
// An ESDB $all position is a pair (commit, prepare) of byte offsets in the transaction log, ordered
// lexicographically. Events appended over gRPC (implicit transactions) each get their own position
// with commit === prepare (the server's AllReader reports a committed prepare at
// `TFPos(prepare.LogPosition, prepare.LogPosition)`), so the commit position alone is already
// unique and increasing. Only events
// written in a legacy explicit transaction (the old TCP API) share one commit position — that of the
// commit record — with prepare positions *below* it, one per event.
//
// Our position is therefore `commit << 16 | index`, where `index` is the event's rank among the
// events sharing its commit position (0 for every gRPC-written event). This is strictly increasing in
// $all order, a plain bigint every follower can compare, and it decodes back to a place ESDB can
// resume from: reading forwards from (commit, 0) returns the whole group again, and we skip the first
// `index + 1` of it, so `after` is exclusive. We rejected the alternatives: the prepare position alone
// is not ordered like $all across legacy transactions (their prepares interleave), and the commit
// position alone repeats inside one. 16 bits allow 65,536 events in one legacy transaction and keep
// positions below 2^63 up to a 128 TiB log, so they fit a PostgreSQL `bigint` checkpoint column.
// (The rank of a legacy event would shift if a scavenge removed only part of its transaction, which
// happens only with $maxCount/$tb truncation; ledger streams are never truncated.)
const INDEX_BITS = 16n;
const MAX_INDEX = (1 << Number(INDEX_BITS)) - 1;

export function encodePosition(commit: bigint, indexInCommit: number): bigint {
  if (commit < 0n) throw new RangeError(`negative commit position ${commit}`);
  if (!Number.isInteger(indexInCommit) || indexInCommit < 0 || indexInCommit > MAX_INDEX) {
    throw new RangeError(`event #${indexInCommit} of the transaction committed at ${commit}: more than ${MAX_INDEX + 1} events in one transaction`);
  }
  return (commit << INDEX_BITS) | BigInt(indexInCommit);
}

export function decodePosition(position: bigint): { commit: bigint; indexInCommit: number } {
  if (position < 0n) throw new RangeError(`negative position ${position}`);
  return { commit: position >> INDEX_BITS, indexInCommit: Number(position & BigInt(MAX_INDEX)) };
}

/** Where to read $all from so that the whole transaction of `position` comes back (see above). */
export function resumePositionOf(position: bigint): Position {
  return { commit: decodePosition(position).commit, prepare: 0n };
}

// ---- expected versions and errors -------------------------------------------------------------

/**
 * The caller's expected version in ESDB's terms. The adapter itself checks the caller's version
 * against the stream it just read and then always sends the exact revision read (see `write`).
 */
export function toExpectedRevision(expected: ExpectedVersion): AppendExpectedRevision {
  if (expected === 'any') return ANY;
  if (expected === 'no_stream' || expected === -1) return NO_STREAM;
  if (!Number.isSafeInteger(expected) || expected < -1) throw new RangeError(`not a stream version: ${expected}`);
  return BigInt(expected);
}

/** ESDB's current revision as our version: -1 when the stream does not exist. */
export function versionOf(current: CurrentRevision): number {
  return current === NO_STREAM ? -1 : Number(current);
}

export function isWrongExpectedVersion(error: unknown): error is WrongExpectedVersionError {
  return error instanceof WrongExpectedVersionError || (error as { type?: unknown } | null)?.type === ErrorType.WRONG_EXPECTED_VERSION;
}

function isStreamNotFound(error: unknown): boolean {
  return error instanceof StreamNotFoundError || (error as { type?: unknown } | null)?.type === ErrorType.STREAM_NOT_FOUND;
}

/** The vendor error as ours, with the version the caller expected and the stream's real version. */
export function toExpectedVersionConflict(error: WrongExpectedVersionError, streamId: string, expected: ExpectedVersion): ExpectedVersionConflict {
  return new ExpectedVersionConflict(streamId, expected, versionOf(error.actualVersion));
}

// ---- the adapter -------------------------------------------------------------------------------

export interface EsdbEventStoreOptions {
  /**
   * Only streams whose id starts with one of these are seen by readAll, headPosition, findEvent and
   * waitForEvents (system `$…` streams never are). Omitted: every non-system stream.
   */
  readonly streamPrefixes?: readonly string[];
  /** Bytes of data and metadata per append call; stays under the server's MaxAppendSize (1 MiB). */
  readonly maxAppendBytes?: number;
}

const DEFAULT_MAX_APPEND_BYTES = 768 * 1024;
const DEFAULT_READ_ALL_LIMIT = 10_000;
/** Stream reads in flight at once while an appendMany checks its streams. */
const PLAN_CONCURRENCY = 8;
/** Appends that lose a race with another writer are planned again this many times. */
const RACE_RETRIES = 5;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function createEsdbEventStore(client: EventStoreDBClient, options: EsdbEventStoreOptions = {}): EventStore {
  return new EsdbEventStore(client, options, false);
}

/** Builds the client from a connection string (`esdb://…` / `kurrentdb://…`); close() disposes it. */
export function openEsdbEventStore(connectionString: string, options: EsdbEventStoreOptions = {}): EventStore {
  const client = EventStoreDBClient.connectionString(connectionString);
  return new EsdbEventStore(client, options, true);
}

interface Stored {
  readonly streamId: string;
  readonly type: string;
  readonly content: string;
}

/** How a stream holds an event offered for it. */
type Holding = { readonly kind: 'absent' } | { readonly kind: 'same' } | { readonly kind: 'differs'; readonly reason: string; readonly stored: StoredEvent };

/** A stream as a plan sees it: its version and how it holds each event offered. */
interface StreamView {
  readonly current: number;
  holds(e: EventToAppend): Holding | Promise<Holding>;
}

const ABSENT: Holding = { kind: 'absent' };
const SAME: Holding = { kind: 'same' };

/** The stored event against the offered one, compared as idempotency compares (type, then data). */
function compareStored(e: EventToAppend, stored: StoredEvent, storedContent: string): Holding {
  if (stored.type !== e.type) return { kind: 'differs', reason: `stored with type ${stored.type}`, stored };
  if (storedContent !== contentOf(e.data)) return { kind: 'differs', reason: 'stored with other data', stored };
  return SAME;
}

/** What one stream append will do, decided from the stream as just read. */
interface Plan {
  readonly streamId: string;
  readonly expected: ExpectedVersion;
  /** The stream's version when read. */
  readonly current: number;
  readonly fresh: readonly EventToAppend[];
  readonly alreadyPresent: number;
}

class EsdbEventStore implements EventStore {
  readonly name = 'EventStoreDB';
  readonly capabilities = {
    // appendMany writes stream by stream, in the caller's order, after checking every stream first.
    // A crash (or a lost race) between two streams leaves the first written and the second not;
    // running the same command again converges, because its events carry deterministic ids and
    // the already-written ones count as already present. Callers that use one stream as a lock
    // (number-…) should put it first, so a half-done append never holds a fact without its lock.
    atomicMultiStreamAppend: false,
    // Every append reads the target stream and appends only ids it does not hold, with the exact
    // revision it read: a retry is recognised whatever expected version it carries. The check is per
    // stream (as ESDB's own is): an id already stored in *another* stream is not detected, unlike in
    // the SQL adapter (finding it would take a scan of $all per append; see findEvent).
    durableIdempotency: true,
    // Neither a transaction over many streams nor one shared with the caller's own database.
    bulkAppend: false,
    sharedTransaction: false,
    // ESDB finds an id only by reading: a whole stream (plan) or $all (findEvent). A session reads
    // each stream it writes to once and keeps its ids, so an import neither scans $all per call nor
    // reads a stream again for every chunk (see KnownStream).
    streamSession: true,
  } as const;

  private readonly prefixes: readonly string[] | undefined;
  private readonly maxAppendBytes: number;
  private readonly appended = new EventEmitter();

  constructor(
    private readonly client: EventStoreDBClient,
    options: EsdbEventStoreOptions,
    private readonly ownsClient: boolean,
  ) {
    this.prefixes = options.streamPrefixes && options.streamPrefixes.length > 0 ? [...options.streamPrefixes] : undefined;
    this.maxAppendBytes = options.maxAppendBytes ?? DEFAULT_MAX_APPEND_BYTES;
    this.appended.setMaxListeners(0);
  }

  // ---- appending -------------------------------------------------------------------------------

  async append(streamId: string, events: readonly EventToAppend[], options: { expectedVersion?: ExpectedVersion } = {}): Promise<AppendResult> {
    checkIds([{ streamId, events }]);
    return this.appendOne(streamId, events, options.expectedVersion ?? 'any');
  }

  async appendMany(batches: readonly StreamAppend[]): Promise<AppendResult[]> {
    return this.appendManyKnowing(batches, undefined);
  }

  openStreamSession(): StreamSession {
    const streams = new Map<string, KnownStream>();
    const known = (streamId: string) => {
      let stream = streams.get(streamId);
      if (!stream) streams.set(streamId, (stream = new KnownStream(streamId, (from, maxCount) => this.readStreamRaw(streamId, from, maxCount))));
      return stream;
    };
    return {
      held: async (streamId, events) => {
        checkIds([{ streamId, events }]);
        const view = await known(streamId).caughtUp();
        const out = new Map<string, 'same' | StoredEvent>();
        for (const e of events) {
          const holding = await view.holds(e);
          if (holding.kind === 'same') out.set(e.id, 'same');
          else if (holding.kind === 'differs') out.set(e.id, holding.stored);
        }
        return out;
      },
      appendMany: (batches) => this.appendManyKnowing(batches, known),
    };
  }

  /** appendMany, planning against a session's view of each stream when given one. */
  private async appendManyKnowing(batches: readonly StreamAppend[], known: ((streamId: string) => KnownStream) | undefined): Promise<AppendResult[]> {
    checkIds(batches);
    // Check every stream before writing any, so that an ordinary conflict writes nothing; only a
    // race between this check and the writes can leave a partial appendMany (see capabilities).
    const plans = await mapLimited(batches, PLAN_CONCURRENCY, (b) => this.plan(b.streamId, b.events, b.expectedVersion ?? 'any', known?.(b.streamId)));
    const results: AppendResult[] = [];
    const written = new Set<string>();
    for (const [i, batch] of batches.entries()) {
      // A stream named twice in one call is planned again after its first batch is written.
      const plan = written.has(batch.streamId) ? undefined : plans[i];
      results.push(await this.appendOne(batch.streamId, batch.events, batch.expectedVersion ?? 'any', plan, known?.(batch.streamId)));
      written.add(batch.streamId);
    }
    return results;
  }

  private async appendOne(streamId: string, events: readonly EventToAppend[], expected: ExpectedVersion, planned?: Plan, known?: KnownStream): Promise<AppendResult> {
    const writtenHere = new Set<string>();
    let plan = planned ?? (await this.plan(streamId, events, expected, known));
    for (let attempt = 0; ; attempt++) {
      // Chunks this call wrote before losing a race are found stored by the next plan; they are
      // still ours to report as appended, not "already present".
      const writtenBefore = writtenHere.size;
      try {
        const result = await this.write(plan, writtenHere, known);
        return { ...result, appended: result.appended + writtenBefore, alreadyPresent: result.alreadyPresent - writtenBefore };
      } catch (error) {
        if (!isWrongExpectedVersion(error)) throw error;
        // Another writer appended between our read and our write. Read again: the retry finds our
        // events if they were the ones written (a duplicate delivery), or the caller's expected
        // version refused with the real actual version, or — for `any` — a new exact revision.
        if (attempt + 1 >= RACE_RETRIES) throw toExpectedVersionConflict(error, streamId, expected);
        plan = await this.plan(streamId, events, expected, known);
      }
    }
  }

  /**
   * Reads the stream (or what a session has not read of it yet), sorts the batch into stored and
   * fresh events, and checks the expected version.
   */
  private async plan(streamId: string, events: readonly EventToAppend[], expected: ExpectedVersion, known?: KnownStream): Promise<Plan> {
    const view = known ? await known.caughtUp() : await this.wholeStream(streamId);
    const current = view.current;
    const fresh: EventToAppend[] = [];
    const inBatch = new Set<string>();
    let alreadyPresent = 0;
    for (const e of events) {
      const id = e.id.toLowerCase();
      const holding = await view.holds(e);
      if (holding.kind === 'differs') throw new EventIdConflict(e.id, streamId, holding.reason);
      if (holding.kind === 'same') {
        alreadyPresent++;
      } else if (inBatch.has(id)) {
        alreadyPresent++; // the same event twice in one call counts once (checkIds made sure it is the same)
      } else {
        inBatch.add(id);
        fresh.push(e);
      }
    }
    // A retry of an append that already succeeded is a no-op, whatever version it expected.
    if (fresh.length > 0 && expected !== 'any') {
      const wanted = expected === 'no_stream' ? -1 : expected;
      if (wanted !== current) throw new ExpectedVersionConflict(streamId, expected, current);
    }
    return { streamId, expected, current, fresh, alreadyPresent };
  }

  /** The whole stream, read now, as a plan's view of it. */
  private async wholeStream(streamId: string): Promise<StreamView> {
    const stored = new Map<string, { event: StoredEvent; content: string }>();
    let current = -1;
    for await (const e of this.readStreamRaw(streamId, 0)) {
      stored.set(e.id.toLowerCase(), { event: { id: e.id, streamId, type: e.type, data: e.data }, content: contentOf(e.data) });
      current = Number(e.revision);
    }
    return {
      current,
      holds(e) {
        const found = stored.get(e.id.toLowerCase());
        return found ? compareStored(e, found.event, found.content) : ABSENT;
      },
    };
  }

  /** Appends the plan's fresh events, always with the exact revision they were planned against. */
  private async write(plan: Plan, writtenHere: Set<string>, known?: KnownStream): Promise<AppendResult> {
    let version = plan.current;
    for (const chunk of chunksOf(plan.fresh, this.maxAppendBytes)) {
      const expectedRevision = version === -1 ? NO_STREAM : BigInt(version);
      const result = await this.client.appendToStream(plan.streamId, chunk.map(toEventData), { expectedRevision });
      if (!result.success) {
        // throwOnAppendFailure=false: the same refusal, as a value.
        throw new WrongExpectedVersionError(undefined, {
          streamName: plan.streamId,
          expected: expectedRevision,
          current: result.nextExpectedRevision < 0n ? NO_STREAM : result.nextExpectedRevision,
        });
      }
      for (const e of chunk) writtenHere.add(e.id.toLowerCase());
      known?.wrote(chunk, version, Number(result.nextExpectedRevision));
      version = Number(result.nextExpectedRevision);
      this.appended.emit('appended');
    }
    return { streamId: plan.streamId, version, appended: plan.fresh.length, alreadyPresent: plan.alreadyPresent };
  }

  // ---- reading ---------------------------------------------------------------------------------

  private async *readStreamRaw(streamId: string, fromRevision: number, maxCount?: number): AsyncGenerator<EsdbRecordedEvent> {
    const read = this.client.readStream(streamId, {
      fromRevision: BigInt(Math.max(0, Math.floor(fromRevision))),
      direction: FORWARDS,
      resolveLinkTos: false,
      ...(maxCount !== undefined ? { maxCount } : {}),
    });
    let completed = false;
    try {
      for await (const resolved of read) {
        if (resolved.event) yield resolved.event;
      }
      completed = true;
    } catch (error) {
      completed = true;
      if (isStreamNotFound(error)) return;
      throw error;
    } finally {
      if (!completed) await read.cancel().catch(() => undefined);
      read.destroy();
    }
  }

  async readStream(streamId: string, options: { fromRevision?: number } = {}): Promise<RecordedEvent[]> {
    const raw: EsdbRecordedEvent[] = [];
    for await (const e of this.readStreamRaw(streamId, options.fromRevision ?? 0)) raw.push(e);
    // Servers before 22.6, and events of legacy explicit transactions, carry no $all position on a
    // stream read; those are looked up in $all (a scan — never the case for gRPC-written events on
    // a current server).
    const missing = new Set(raw.filter((e) => !e.position).map((e) => e.id.toLowerCase()));
    const located = missing.size > 0 ? await this.locateInAll(missing) : new Map<string, bigint>();
    const out: RecordedEvent[] = [];
    for (const e of raw) {
      const position = e.position ? await this.positionOf(e.position) : located.get(e.id.toLowerCase());
      if (position === undefined) throw new Error(`event ${e.id} of ${streamId} was not found in $all`);
      out.push(toRecorded(e, position));
    }
    return out;
  }

  async readAll(options: ReadAllOptions = {}): Promise<RecordedEvent[]> {
    const limit = options.limit ?? DEFAULT_READ_ALL_LIMIT;
    if (limit <= 0) return [];
    const after = options.after;
    const out: RecordedEvent[] = [];
    for await (const { event, position } of this.scanForwards(after === undefined ? START : resumePositionOf(after))) {
      if (after !== undefined && position <= after) continue;
      if (!this.visible(event, options.streamPrefixes)) continue;
      out.push(toRecorded(event, position));
      if (out.length >= limit) break;
    }
    return out;
  }

  async headPosition(): Promise<bigint> {
    // Backwards from the end to the newest visible event: system events written after it (stats,
    // projections' bookkeeping) are no position a follower could ever reach.
    for await (const event of this.scan(END, BACKWARDS)) {
      if (this.visible(event)) return this.positionOf(event.position);
    }
    return 0n;
  }

  /**
   * ESDB has no index by event id (idempotency checks are per stream), so this scans $all from the
   * newest event backwards: O(events in the log) when the id is unknown. Acceptable for the rare
   * correction that names a call by id; if it becomes hot, keep an id → stream projection instead.
   */
  async findEvent(id: string): Promise<RecordedEvent | undefined> {
    if (!UUID.test(id)) return undefined;
    const wanted = id.toLowerCase();
    for await (const event of this.scan(END, BACKWARDS)) {
      if (event.id.toLowerCase() === wanted && this.visible(event)) {
        return toRecorded(event, await this.positionOf(event.position));
      }
    }
    return undefined;
  }

  /**
   * As-of on EventStoreDB: an event counts from its `created` instant, which the server stamps as it
   * writes the event to its log; an append is committed as it is written there (one writer, one log
   * in $all order), so `created` grows with positions and is when the event became readable. Found
   * by reading $all backwards from the end: O(events written after `instant`). Not verified against
   * a server here (see README).
   */
  async visiblePositionAt(instant: Date): Promise<bigint> {
    if (Number.isNaN(instant.getTime())) throw new RangeError('not an instant');
    for await (const event of this.scan(END, BACKWARDS)) {
      if (this.visible(event) && event.created.getTime() <= instant.getTime()) return this.positionOf(event.position);
    }
    return 0n;
  }

  async visibleSince(positions: readonly bigint[]): Promise<ReadonlyMap<bigint, string>> {
    const out = new Map<bigint, string>();
    for (const position of new Set(positions)) {
      // One seek per event: its transaction's group is read from its commit position on.
      for await (const { event, position: at } of this.scanForwards(resumePositionOf(position))) {
        if (at < position) continue;
        if (at === position) out.set(position, event.created.toISOString());
        break;
      }
    }
    return out;
  }

  waitForEvents(timeoutMs: number, signal?: AbortSignal): Promise<void> {
    // A short-lived subscription from the end of $all, filtered on the server. An event committed by
    // another process between the follower's last read and this subscription's start does not wake
    // it; the timeout does, and the follower's next readAll(after) finds it — late, never lost.
    // Appends through this store wake at once.
    return new Promise((resolve) => {
      if (signal?.aborted) return resolve();
      let subscription: AllStreamSubscription | undefined;
      let settled = false;
      const done = () => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        this.appended.off('appended', done);
        signal?.removeEventListener('abort', done);
        if (subscription) void subscription.unsubscribe().catch(() => undefined);
        resolve();
      };
      const timer = setTimeout(done, Math.max(0, timeoutMs));
      this.appended.on('appended', done);
      signal?.addEventListener('abort', done);
      try {
        subscription = this.client.subscribeToAll({
          fromPosition: END,
          resolveLinkTos: false,
          filter: this.prefixes ? streamNameFilter({ prefixes: [...this.prefixes] }) : excludeSystemEvents(),
        });
        subscription.on('data', done);
        // A broken subscription must not turn the follower's loop into a busy loop: the timer ends
        // the wait, and the next readAll reports a real outage.
        subscription.on('error', () => undefined);
      } catch {
        // same: wait for the timer
      }
    });
  }

  async close(): Promise<void> {
    this.appended.removeAllListeners();
    if (this.ownsClient) await this.client.dispose();
  }

  // ---- $all helpers ------------------------------------------------------------------------------

  private visible(event: AllStreamRecordedEvent | EsdbRecordedEvent, callPrefixes?: readonly string[]): boolean {
    const { streamId, type } = event;
    // `$…` streams are the server's; `$…` types in ordinary streams are links (`$>`), stream
    // metadata and deletion markers — none of them is a ledger event.
    if (streamId.startsWith('$') || type.startsWith('$')) return false;
    if (this.prefixes && !this.prefixes.some((p) => streamId.startsWith(p))) return false;
    if (callPrefixes && !callPrefixes.some((p) => streamId.startsWith(p))) return false;
    return true;
  }

  private async *scan(from: ReadPosition, direction: typeof FORWARDS | typeof BACKWARDS): AsyncGenerator<AllStreamRecordedEvent> {
    const read = this.client.readAll({ fromPosition: from, direction, resolveLinkTos: false });
    let completed = false;
    try {
      for await (const resolved of read) {
        if (resolved.event) yield resolved.event;
      }
      completed = true;
    } finally {
      // Leaving early (a full page, a found event) must end the gRPC call, not just our loop.
      if (!completed) await read.cancel().catch(() => undefined);
      read.destroy();
    }
  }

  /** Forwards, with each event's encoded position (counting ranks inside a shared commit). */
  private async *scanForwards(from: ReadPosition): AsyncGenerator<{ event: AllStreamRecordedEvent; position: bigint }> {
    let commit = -1n;
    let index = 0;
    for await (const event of this.scan(from, FORWARDS)) {
      if (event.position.commit === commit) index++;
      else {
        commit = event.position.commit;
        index = 0;
      }
      yield { event, position: encodePosition(commit, index) };
    }
  }

  /** Our position for an ESDB position met outside a forward scan from the start of its group. */
  private async positionOf(position: Position): Promise<bigint> {
    if (position.commit === position.prepare) return encodePosition(position.commit, 0);
    // A legacy transaction: rank the event within its group by reading the group again.
    let index = 0;
    for await (const event of this.scan({ commit: position.commit, prepare: 0n }, FORWARDS)) {
      if (event.position.commit !== position.commit || event.position.prepare >= position.prepare) break;
      index++;
    }
    return encodePosition(position.commit, index);
  }

  private async locateInAll(ids: Set<string>): Promise<Map<string, bigint>> {
    const found = new Map<string, bigint>();
    for await (const event of this.scan(END, BACKWARDS)) {
      const id = event.id.toLowerCase();
      if (!ids.has(id) || found.has(id)) continue;
      found.set(id, await this.positionOf(event.position));
      if (found.size === ids.size) break;
    }
    return found;
  }
}

// ---- a session's view of one stream -------------------------------------------------------------

/**
 * One stream as a StreamSession knows it: read through `revision`, with the id, a 64-bit digest of
 * type and data, and the revision of every event up to there (IdTable, ~50 bytes an event). Each
 * question reads only the events appended since (by anyone: another writer's events are found as
 * they would be by a whole read), and the session's own appends are noted as written, so nothing
 * is read twice. An event whose id is held with another digest is read back (one event) to say
 * exactly how it differs.
 */
class KnownStream {
  private revision = -1;
  private readonly ids = new IdTable();
  private reading: Promise<void> = Promise.resolve();

  constructor(
    private readonly streamId: string,
    private readonly read: (fromRevision: number, maxCount?: number) => AsyncGenerator<EsdbRecordedEvent>,
  ) {}

  async caughtUp(): Promise<StreamView> {
    // One tail read at a time: plans of the same stream in one appendMany wait for the one in flight.
    const next = this.reading.then(() => this.readTail());
    this.reading = next.catch(() => undefined);
    await next;
    return { current: this.revision, holds: (e) => this.holds(e) };
  }

  /** The session appended `events` right after `before`, leaving the stream at `after`. */
  wrote(events: readonly EventToAppend[], before: number, after: number): void {
    // Only when nothing else was noted since `before`; otherwise the next tail read finds them.
    if (this.revision !== before || after !== before + events.length) return;
    events.forEach((e, i) => this.ids.set(e.id, digestOf(e.type, contentOf(e.data)), before + 1 + i));
    this.revision = after;
  }

  private async readTail(): Promise<void> {
    for await (const e of this.read(this.revision + 1)) {
      const revision = Number(e.revision);
      if (revision <= this.revision) continue;
      // Ids of events not written by us over gRPC may not be UUIDs; none of ours can clash with them.
      if (UUID.test(e.id)) this.ids.set(e.id, digestOf(e.type, contentOf(e.data)), revision);
      this.revision = revision;
    }
  }

  private async holds(e: EventToAppend): Promise<Holding> {
    const found = this.ids.get(e.id);
    if (!found) return ABSENT;
    const digest = digestOf(e.type, contentOf(e.data));
    if (digest[0] === found.digest[0] && digest[1] === found.digest[1]) return SAME;
    for await (const stored of this.read(found.revision, 1)) {
      return compareStored(e, { id: stored.id, streamId: this.streamId, type: stored.type, data: stored.data }, contentOf(stored.data));
    }
    throw new Error(`event ${e.id} of ${this.streamId} at revision ${found.revision} is gone (the stream was truncated)`);
  }
}

/** 64 bits of SHA-256 over type and canonical data: equal for the same event, different otherwise (but for 2^-64). */
function digestOf(type: string, content: string): readonly [number, number] {
  const hex = hash('sha256', `${type}\n${content}`, 'hex');
  return [Number.parseInt(hex.slice(0, 8), 16), Number.parseInt(hex.slice(8, 16), 16)];
}

/**
 * UUID → (digest, revision), open addressing over one Uint32Array: 7 words a slot (the id's 128
 * bits, the digest's 64, revision + 1 with 0 for empty), at most three quarters full.
 */
export class IdTable {
  private static readonly WORDS = 7;
  private slots: Uint32Array;
  private mask: number;
  private count = 0;

  constructor(capacity = 16) {
    this.slots = new Uint32Array(capacity * IdTable.WORDS);
    this.mask = capacity - 1;
  }

  get size(): number {
    return this.count;
  }

  set(id: string, digest: readonly [number, number], revision: number): void {
    if ((this.count + 1) * 4 > (this.mask + 1) * 3) this.grow();
    const k = keyOf(id);
    const at = this.find(k);
    const s = this.slots;
    if (s[at + 6] === 0) this.count++;
    s.set([k[0]!, k[1]!, k[2]!, k[3]!, digest[0], digest[1], revision + 1], at);
  }

  get(id: string): { digest: readonly [number, number]; revision: number } | undefined {
    const at = this.find(keyOf(id));
    const s = this.slots;
    return s[at + 6] === 0 ? undefined : { digest: [s[at + 4]!, s[at + 5]!], revision: s[at + 6]! - 1 };
  }

  /** The slot holding the key, or the empty one where it would go. */
  private find(k: Uint32Array): number {
    const s = this.slots;
    // UUIDv1/v7 share their leading (time) bits: mix all four words before taking the low ones.
    let h = Math.imul(k[0]! ^ Math.imul(k[1]!, 0x85ebca6b) ^ Math.imul(k[2]!, 0xc2b2ae35) ^ k[3]!, 0x9e3779b1);
    h ^= h >>> 16;
    for (let i = h & this.mask; ; i = (i + 1) & this.mask) {
      const at = i * IdTable.WORDS;
      if (s[at + 6] === 0 || (s[at] === k[0] && s[at + 1] === k[1] && s[at + 2] === k[2] && s[at + 3] === k[3])) return at;
    }
  }

  private grow(): void {
    const old = this.slots;
    const capacity = (this.mask + 1) * 2;
    this.slots = new Uint32Array(capacity * IdTable.WORDS);
    this.mask = capacity - 1;
    for (let at = 0; at < old.length; at += IdTable.WORDS) {
      if (old[at + 6] === 0) continue;
      this.slots.set(old.subarray(at, at + IdTable.WORDS), this.find(old.subarray(at, at + 4)));
    }
  }
}

function keyOf(id: string): Uint32Array {
  const hex = id.replaceAll('-', '');
  if (hex.length !== 32) throw new TypeError(`event id ${id} is not a UUID`);
  const k = new Uint32Array(4);
  for (let i = 0; i < 4; i++) k[i] = Number.parseInt(hex.slice(i * 8, i * 8 + 8), 16);
  return k;
}

// ---- mapping -----------------------------------------------------------------------------------

async function mapLimited<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

/** What idempotency compares besides the type: the data as the server will hand it back. */
function contentOf(data: unknown): string {
  if (data instanceof Uint8Array) return `binary:${Buffer.from(data).toString('base64')}`;
  const json = JSON.stringify(data);
  return canonicalJson(json === undefined ? null : JSON.parse(json));
}

/** Ids must be UUIDs, and one id names one event within a call (across all its streams). */
function checkIds(batches: readonly { readonly streamId: string; readonly events: readonly EventToAppend[] }[]): void {
  const seen = new Map<string, Stored>();
  for (const batch of batches) {
    for (const e of batch.events) {
      if (!UUID.test(e.id)) throw new TypeError(`event id ${e.id} is not a UUID (EventStoreDB requires one)`);
      const id = e.id.toLowerCase();
      const content = contentOf(e.data);
      const before = seen.get(id);
      if (before && before.streamId !== batch.streamId) {
        throw new EventIdConflict(e.id, batch.streamId, `also appended to ${before.streamId} in the same call`);
      }
      if (before && (before.type !== e.type || before.content !== content)) {
        throw new EventIdConflict(e.id, batch.streamId, 'the same id twice in one append with different content');
      }
      seen.set(id, { streamId: batch.streamId, type: e.type, content });
    }
  }
}

function toEventData(e: EventToAppend): EventData {
  return jsonEvent({
    id: e.id,
    type: e.type,
    // The client JSON.stringifies whatever it gets; JSONType is narrower than our `unknown` only in
    // its declaration.
    data: (e.data === undefined ? null : e.data) as JSONType,
    ...(e.metadata ? { metadata: e.metadata } : {}),
  });
}

function approximateBytes(e: EventToAppend): number {
  return Buffer.byteLength(JSON.stringify(e.data) ?? 'null') + Buffer.byteLength(JSON.stringify(e.metadata ?? {})) + Buffer.byteLength(e.type) + 64;
}

/** Consecutive chunks under `maxBytes`; an event larger than that goes alone (and the server may refuse it). */
export function chunksOf(events: readonly EventToAppend[], maxBytes: number): EventToAppend[][] {
  const chunks: EventToAppend[][] = [];
  let chunk: EventToAppend[] = [];
  let bytes = 0;
  for (const e of events) {
    const size = approximateBytes(e);
    if (chunk.length > 0 && bytes + size > maxBytes) {
      chunks.push(chunk);
      chunk = [];
      bytes = 0;
    }
    chunk.push(e);
    bytes += size;
  }
  if (chunk.length > 0) chunks.push(chunk);
  return chunks;
}

function toMetadata(metadata: unknown): Record<string, unknown> {
  if (metadata === null || typeof metadata !== 'object' || Array.isArray(metadata) || metadata instanceof Uint8Array) return {};
  return metadata as Record<string, unknown>;
}

function toRecorded(e: EsdbRecordedEvent, position: bigint): RecordedEvent {
  return {
    id: e.id,
    streamId: e.streamId,
    revision: Number(e.revision),
    position,
    type: e.type,
    data: e.data,
    metadata: toMetadata(e.metadata),
    recordedAt: e.created.toISOString(),
  };
}
