// The projection framework (STYLE §6): each projection is a small named, versioned object with the
// event types it handles, an `apply` over a batch inside the runner's transaction, and the DDL of
// its tables (so a rebuild can create them fresh under another name and swap them in).
//
// Exactly-once effect: a batch's writes and the checkpoint move in ONE transaction, and that
// transaction first locks the projection's checkpoint row (`for update`), so two processes (the
// server's follower and a CLI replay) never apply the same batch twice.
//
// A projection that cannot apply an event STALLS at it, alone and loudly: the events before it are
// applied, the checkpoint stays just before it, the others go on, and the stall (projection, event,
// error) is kept in `projection_stalls` for /health, /ready and `ledger status`. It is never
// skipped: a ledger that leaves an event out is worse than one that stops. Errors of the
// connection (isConnectionError) are not the event's fault and never stall anything.
import { sql, type Kysely, type Transaction } from 'kysely';
import type { Database } from '../eventstore/database.ts';
import type { EventStore, RecordedEvent } from '../eventstore/port.ts';
import { databaseTrouble, describe } from '../eventstore/connection.ts';

export type Executor = Kysely<any> | Transaction<any>;

/** Where a projection writes: its live tables (suffix '') or the fresh ones of a rebuild ('_next'). */
export interface ApplyContext {
  readonly suffix: string;
  /** True while a rebuild fills fresh tables: a projection may defer set-based work to `finishRebuild`. */
  readonly rebuilding: boolean;
}

export interface Projection {
  readonly name: string;
  /** Bumped whenever the tables or the meaning of `apply` change: a stored other version means rebuild. */
  readonly version: number;
  /** Event types the projection reads (others are skipped before `apply`). */
  readonly handles: readonly string[];
  /** Only these streams are read (a narrower read of the log); all streams when absent. */
  readonly streamPrefixes?: readonly string[];
  /** Table base names, in creation order (dropped in reverse). */
  readonly tables: readonly string[];
  /** Create this projection's tables with the given suffix. Never name indexes: PostgreSQL picks unique names. */
  createTables(db: Executor, suffix: string): Promise<void>;
  /** Apply a batch (position order, only handled types). Must be idempotent per event position. */
  apply(trx: Transaction<any>, events: readonly RecordedEvent[], ctx: ApplyContext): Promise<void>;
  /** After a rebuild's last batch, inside the swap transaction: finish the work `apply` deferred while rebuilding. */
  finishRebuild?(trx: Transaction<any>, suffix: string): Promise<void>;
  /**
   * The fast path of a rebuild when the events live in the same database (the SQL store): fill the
   * fresh tables straight from the `events` table with set-based SQL, up to and including position
   * `upTo`, in transactions of its own (nobody reads the fresh tables before the swap, and a
   * rebuild that stopped half way starts again from empty fresh tables). Returns the number of
   * events it handled. Must leave exactly what `apply` of those events leaves outside a rebuild,
   * nothing deferred: later events are applied to the fresh tables as live updates (the property
   * tests compare both paths).
   */
  bulkRebuild?(db: Kysely<any>, suffix: string, upTo: bigint, options: BulkRebuildOptions): Promise<number>;
  /**
   * How far `bulkRebuild` may go when the log's head is `head` (the newest position it can take the
   * same way as `apply`); the rest is applied event by event. The head when omitted.
   */
  bulkLimit?(db: Kysely<any>, head: bigint): Promise<bigint>;
}

export interface BulkRebuildOptions {
  /** True when several transactions may run at once (PostgreSQL: a pool of connections; PGlite has one). */
  readonly concurrent: boolean;
}

export const CHECKPOINT_TABLE = 'projection_checkpoints';
export const STALL_TABLE = 'projection_stalls';

const REBUILD_LOCK_CLASS = 0x52424c44; // 'RBLD'


export async function createCheckpointTable(db: Executor): Promise<void> {
  await sql`
    create table if not exists projection_checkpoints (
      name text primary key,
      position bigint not null default 0,
      version integer not null,
      updated_at timestamptz not null default now()
    )`.execute(db);
}

/** Where each stalled projection stopped (see the top of this file); a row per stalled projection. */
export async function createStallTable(db: Executor): Promise<void> {
  await sql`
    create table if not exists projection_stalls (
      name text primary key,
      position bigint not null,
      event_id text not null,
      event_type text not null,
      stream_id text not null,
      error text not null,
      since timestamptz not null default now()
    )`.execute(db);
}

/** A projection stopped before an event it cannot apply. */
export interface ProjectionStall {
  readonly projection: string;
  /** The event's global position; the projection's checkpoint is below it. */
  readonly position: string;
  readonly eventId: string;
  readonly eventType: string;
  readonly streamId: string;
  /** What applying it raised (a message, never a stack). */
  readonly error: string;
  /** When it first stopped at this event (ISO-8601). */
  readonly since: string;
}

/** A projection cannot apply one event: what the runner records as a stall, and a rebuild reports. */
export class ProjectionEventFailed extends Error {
  readonly code = 'PROJECTION_STALLED';
  /** Events the same catch-up applied before it stopped. */
  applied = 0;
  constructor(
    readonly projection: string,
    readonly event: Pick<RecordedEvent, 'id' | 'type' | 'streamId' | 'position'>,
    readonly reason: unknown,
  ) {
    super(`projection ${projection} cannot apply event ${event.id} (${event.type} at position ${event.position} in ${event.streamId}): ${messageOf(reason)}`);
  }
}

/**
 * An error of the database connection rather than of what was applied (SQLSTATE class 08, and an
 * administrator's or crash shutdown 57P01–57P03, or a socket error): retried, never a stall.
 */
export function isConnectionError(e: unknown): boolean {
  // The one list of such failures (eventstore/connection.ts): also the socket closed without a
  // code ("Connection terminated unexpectedly"), too many connections, a server that became a
  // standby, no writable host among several.
  return databaseTrouble(e) === 'unavailable';
}

function messageOf(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

export async function readStalls(db: Executor): Promise<Map<string, ProjectionStall>> {
  const { rows } = await sql<{ name: string; position: string; event_id: string; event_type: string; stream_id: string; error: string; since: string }>`
    select name, position::text as position, event_id, event_type, stream_id, error,
      to_char(since at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') as since
    from projection_stalls`.execute(db);
  return new Map(
    rows.map((r) => [
      r.name,
      { projection: r.name, position: r.position, eventId: r.event_id, eventType: r.event_type, streamId: r.stream_id, error: r.error, since: r.since },
    ]),
  );
}

async function recordStall(db: Executor, failure: ProjectionEventFailed): Promise<void> {
  const e = failure.event;
  // The same event again keeps the time it first stopped there.
  await sql`
    insert into projection_stalls as s (name, position, event_id, event_type, stream_id, error, since)
    values (${failure.projection}, ${e.position.toString()}::bigint, ${e.id}, ${e.type}, ${e.streamId}, ${messageOf(failure.reason)}, now())
    on conflict (name) do update set position = excluded.position, event_id = excluded.event_id, event_type = excluded.event_type,
      stream_id = excluded.stream_id, error = excluded.error,
      since = case when s.event_id = excluded.event_id then s.since else excluded.since end`.execute(db);
}

/** Forget a stall once the projection's checkpoint has passed it (or a rebuild went through). */
async function clearStall(db: Executor, projection: Projection, passed?: bigint): Promise<void> {
  if (passed === undefined) await sql`delete from projection_stalls where name = ${projection.name}`.execute(db);
  else await sql`delete from projection_stalls where name = ${projection.name} and position <= ${passed.toString()}::bigint`.execute(db);
}

/** Drop a projection's tables with the given suffix, if present. */
export async function dropTables(db: Executor, projection: Projection, suffix: string): Promise<void> {
  for (const table of [...projection.tables].reverse()) {
    await sql`drop table if exists ${sql.table(table + suffix)} cascade`.execute(db);
  }
}

/** Reset: fresh, empty live tables and a checkpoint at 0 (what a rebuild does without the shadow tables). */
export async function resetProjection(db: Kysely<any>, projection: Projection): Promise<void> {
  await db.transaction().execute(async (trx) => {
    await lockCheckpoint(trx, projection);
    await dropTables(trx, projection, '');
    await projection.createTables(trx, '');
    await writeCheckpoint(trx, projection, 0n);
  });
}

interface CheckpointRow {
  position: bigint;
  version: number;
}

async function ensureCheckpointRow(db: Executor, projection: Projection): Promise<void> {
  await sql`
    insert into projection_checkpoints (name, position, version) values (${projection.name}, 0, ${projection.version})
    on conflict (name) do nothing`.execute(db);
}

async function lockCheckpoint(trx: Transaction<any>, projection: Projection): Promise<CheckpointRow> {
  await ensureCheckpointRow(trx, projection);
  const { rows } = await sql<{ position: string; version: number }>`
    select position::text as position, version from projection_checkpoints where name = ${projection.name} for update`.execute(trx);
  const row = rows[0]!;
  return { position: BigInt(row.position), version: Number(row.version) };
}

async function readCheckpoint(db: Executor, projection: Projection): Promise<CheckpointRow | undefined> {
  const { rows } = await sql<{ position: string; version: number }>`
    select position::text as position, version from projection_checkpoints where name = ${projection.name}`.execute(db);
  const row = rows[0];
  return row ? { position: BigInt(row.position), version: Number(row.version) } : undefined;
}

async function writeCheckpoint(trx: Executor, projection: Projection, position: bigint): Promise<void> {
  await sql`
    insert into projection_checkpoints (name, position, version, updated_at)
    values (${projection.name}, ${position.toString()}::bigint, ${projection.version}, now())
    on conflict (name) do update set position = excluded.position, version = excluded.version, updated_at = excluded.updated_at`.execute(trx);
}

export interface RunnerOptions {
  /** Events read per batch (one transaction each). */
  readonly batchSize?: number;
  /** Batch size of a rebuild's bulk phase. */
  readonly rebuildBatchSize?: number;
  /** Wait between polls when following (the store wakes earlier on its own appends). */
  readonly pollMs?: number;
  /** Use a projection's set-based rebuild when the events are in the same database (default true). */
  readonly bulkRebuild?: boolean;
  /**
   * Catch a projection up by a set-based rebuild rather than batch by batch when the events it
   * has not applied are at least `share` of the log and at least `minEvents` (after a large import,
   * say): the rebuild re-derives everything several times faster per event than live updates
   * apply the new part. Only with a set-based rebuild (see `bulkRebuild`); `false` never.
   * Default { share: 0.5, minEvents: 100_000 }.
   */
  readonly catchUpByRebuild?: { readonly share: number; readonly minEvents: number } | false;
  /**
   * Called with errors while following (the loop keeps going after a pause), and with a
   * ProjectionEventFailed each time a projection stalls.
   */
  readonly onError?: (error: unknown, projection: string) => void;
  /**
   * How long a projection this runner found stalled waits before it tries the event again
   * (default 60 s): a stall recorded by another process or an earlier run is tried at once.
   */
  readonly retryStalledAfterMs?: number;
  /**
   * Called when following stops because the database cannot be reached (once, with the reason),
   * and when it goes on again (`undefined`). Meanwhile the follower tries again with backoff.
   */
  readonly onDatabaseChange?: (lost: DatabaseLost | undefined) => void;
}

/** Since when, and why, the follower has been waiting for the database. */
export interface DatabaseLost {
  readonly since: Date;
  readonly reason: string;
}

/** Backoff of a follower waiting for the database: 0.25 s, doubling, at most 5 s. */
const RECONNECT_FIRST_MS = 250;
const RECONNECT_MAX_MS = 5_000;

export interface ProjectionState {
  readonly position: bigint;
  readonly version: number;
}

export interface ProjectionRunStatus {
  readonly position: string;
  readonly lag: number;
  readonly version: number;
  /** Present while the projection is stopped before an event it cannot apply. */
  readonly stalled?: ProjectionStall;
}

export interface RebuildReport {
  readonly projection: string;
  readonly events: number;
  readonly position: string;
  readonly ms: number;
}

/**
 * Runs projections against an event store. In-process, all work of one runner is serialised (PGlite
 * has a single connection, and a runner never needs two of its own transactions at once);
 * across processes the checkpoint row lock does it.
 */
export class ProjectionRunner {
  private readonly db: Kysely<any>;
  private chain: Promise<unknown> = Promise.resolve();
  private readonly batchSize: number;
  private readonly rebuildBatchSize: number;
  /** Projections this runner found stalled, and when it may try again. */
  private readonly retryAt = new Map<string, number>();

  constructor(
    readonly database: Database,
    readonly store: EventStore,
    readonly projections: readonly Projection[],
    private readonly options: RunnerOptions = {},
  ) {
    this.db = database.db;
    this.batchSize = options.batchSize ?? 1000;
    this.rebuildBatchSize = options.rebuildBatchSize ?? 5000;
    const names = new Set<string>();
    for (const p of projections) {
      if (names.has(p.name)) throw new Error(`two projections named ${p.name}`);
      names.add(p.name);
    }
  }

  projection(name: string): Projection {
    const p = this.projections.find((x) => x.name === name);
    if (!p) throw new UnknownProjectionError(name, this.projections.map((x) => x.name));
    return p;
  }

  private serialised<T>(work: () => Promise<T>): Promise<T> {
    const next = this.chain.then(work, work);
    this.chain = next.catch(() => undefined);
    return next;
  }

  /**
   * Apply everything up to the store's current head; returns the number of events applied (all of a
   * projection's events when catching it up meant rebuilding it: see RunnerOptions.catchUpByRebuild).
   * An aborted `signal` stops it after the batch in hand (a stopping server does not wait for a backlog).
   */
  catchUp(signal?: AbortSignal): Promise<number> {
    return this.serialised(async () => {
      let total = 0;
      const stalls = await readStalls(this.db);
      for (const p of this.projections) {
        if (signal?.aborted) break;
        const retryAt = this.retryAt.get(p.name);
        if (retryAt !== undefined && Date.now() < retryAt) continue;
        try {
          total += await this.catchUpOne(p, signal);
        } catch (e) {
          if (!(e instanceof ProjectionEventFailed)) throw e;
          total += e.applied;
          await this.stall(e);
          continue;
        }
        this.retryAt.delete(p.name);
        if (stalls.has(p.name)) await clearStall(this.db, p, (await readCheckpoint(this.db, p))?.position ?? 0n);
      }
      return total;
    });
  }

  /** Keep the stall for /health and `ledger status`, say it, and leave the projection alone for a while. */
  private async stall(failure: ProjectionEventFailed): Promise<void> {
    await recordStall(this.db, failure);
    this.retryAt.set(failure.projection, Date.now() + (this.options.retryStalledAfterMs ?? 60_000));
    this.options.onError?.(failure, failure.projection);
  }

  /** The projections stopped before an event they cannot apply (this process's or another's finding). */
  async stalls(): Promise<ProjectionStall[]> {
    return [...(await readStalls(this.db)).values()];
  }

  /**
   * Keep catching up until the signal aborts. A batch that fails because the connection was lost
   * (a restart, a failover) left nothing behind (its transaction rolled back): it is tried again,
   * with backoff, until the database answers; the process never stops on it.
   */
  async follow(signal: AbortSignal): Promise<void> {
    const pollMs = this.options.pollMs ?? 500;
    let backoffMs = RECONNECT_FIRST_MS;
    while (!signal.aborted) {
      try {
        const applied = await this.catchUp(signal);
        if (this.lost) {
          this.lost = undefined;
          this.options.onDatabaseChange?.(undefined);
        }
        backoffMs = RECONNECT_FIRST_MS;
        if (applied > 0) continue;
      } catch (e) {
        if (isConnectionError(e)) {
          if (!this.lost) {
            this.lost = { since: new Date(), reason: describe(e) };
            this.options.onDatabaseChange?.(this.lost);
          }
          await sleep(backoffMs, signal);
          backoffMs = Math.min(backoffMs * 2, RECONNECT_MAX_MS);
          continue;
        }
        this.options.onError?.(e, '*');
      }
      if (signal.aborted) break;
      await this.store.waitForEvents(pollMs, signal);
    }
  }

  private lost: DatabaseLost | undefined;

  /** Set while the follower waits for the database (for `/health` and `/ready`). */
  get databaseLost(): DatabaseLost | undefined {
    return this.lost;
  }

  /** Position, lag and any stall of every projection (for `/health`). */
  async status(): Promise<Record<string, ProjectionRunStatus>> {
    const head = await this.store.headPosition();
    const stalls = await readStalls(this.db);
    const out: Record<string, ProjectionRunStatus> = {};
    for (const p of this.projections) {
      const cp = await readCheckpoint(this.db, p);
      const position = cp?.position ?? 0n;
      const stalled = stalls.get(p.name);
      out[p.name] = { position: position.toString(), lag: Number(head > position ? head - position : 0n), version: p.version, ...(stalled ? { stalled } : {}) };
    }
    return out;
  }

  private async catchUpOne(p: Projection, signal?: AbortSignal): Promise<number> {
    let cp = await readCheckpoint(this.db, p);
    if (!cp) {
      await ensureCheckpointRow(this.db, p);
      cp = (await readCheckpoint(this.db, p))!;
    }
    // Code of another version wrote these tables: rebuild rather than mix two meanings.
    if (cp.version !== p.version || (await this.rebuildIsQuicker(p, cp.position))) {
      const rebuilt = await this.exclusively(p, async () => {
        // Another process may have rebuilt it while this one waited.
        const now = (await readCheckpoint(this.db, p))!;
        if (now.version === p.version && !(await this.rebuildIsQuicker(p, now.position))) return undefined;
        return (await this.rebuildOne(p)).events;
      });
      if (rebuilt !== undefined) return rebuilt;
    }
    let applied = 0;
    try {
      for (;;) {
        const step = await this.step(p, this.batchSize);
        applied += step.applied;
        if (step.done || signal?.aborted) return applied;
      }
    } catch (e) {
      if (e instanceof ProjectionEventFailed) e.applied += applied;
      throw e;
    }
  }

  /**
   * One batch: read after the checkpoint, then (in one transaction) lock the checkpoint row, check
   * nobody moved it meanwhile, apply, move it. Reading before the transaction keeps the store's
   * connection free (PGlite has one) and works for any EventStore adapter.
   */
  private async step(p: Projection, limit: number): Promise<{ applied: number; done: boolean }> {
    const before = await readCheckpoint(this.db, p);
    const after = before?.position ?? 0n;
    const head = await this.store.headPosition();
    if (head <= after) return { applied: 0, done: true };
    const events = await this.store.readAll({ after, limit, streamPrefixes: p.streamPrefixes });
    // The store never shows an event at or below a head it has reported later (port.ts): when the
    // read came back short, everything up to `head` has been seen, and the checkpoint may skip to it.
    const last = events.length > 0 ? events[events.length - 1]!.position : after;
    const target = events.length < limit && head > last ? head : last;
    if (target <= after) return { applied: 0, done: true };
    const handled = events.filter((e) => p.handles.includes(e.type));
    const moveTo = (from: bigint, batch: readonly RecordedEvent[], to: bigint) =>
      this.db.transaction().execute(async (trx) => {
        const locked = await lockCheckpoint(trx, p);
        if (locked.position !== from || locked.version !== p.version) return false; // another process got there first
        if (batch.length > 0) await p.apply(trx, batch, { suffix: '', rebuilding: false });
        await writeCheckpoint(trx, p, to);
        return true;
      });
    let moved: boolean;
    try {
      moved = await moveTo(after, handled, target);
    } catch (e) {
      if (isConnectionError(e) || handled.length === 0) throw e;
      // Which event? One at a time, each with its checkpoint: those before it are applied, the
      // checkpoint stops right below it.
      let from = after;
      for (const [i, event] of handled.entries()) {
        try {
          if (!(await moveTo(from, [event], event.position))) return { applied: i, done: false };
        } catch (err) {
          if (isConnectionError(err)) throw err;
          throw Object.assign(new ProjectionEventFailed(p.name, event, err), { applied: i });
        }
        from = event.position;
      }
      // Each event went in on its own: the batch's failure was not theirs. Finish the step.
      moved = await moveTo(from, [], target);
      if (!moved) return { applied: handled.length, done: false };
    }
    if (!moved) return { applied: 0, done: false };
    return { applied: handled.length, done: events.length < limit };
  }

  /** Rebuild the named projections (all when none named) into fresh tables, then swap them in. */
  rebuild(names?: readonly string[]): Promise<RebuildReport[]> {
    const targets = names && names.length > 0 ? names.map((n) => this.projection(n)) : this.projections;
    return this.serialised(async () => {
      const reports: RebuildReport[] = [];
      for (const p of targets) {
        try {
          reports.push(await this.exclusively(p, () => this.rebuildOne(p)));
        } catch (e) {
          if (e instanceof ProjectionEventFailed) await this.stall(e);
          throw e;
        }
        this.retryAt.delete(p.name);
      }
      return reports;
    });
  }

  /**
   * Fill `<table>_next` from position 0 while queries keep answering from the live tables; then,
   * in one transaction holding the checkpoint row: apply what arrived meanwhile, finish, drop the
   * old tables, rename the new ones into place and set the checkpoint. An event the projection
   * cannot apply fails the rebuild with a ProjectionEventFailed naming it; the live tables stay.
   */
  private async rebuildOne(p: Projection): Promise<RebuildReport> {
    const started = performance.now();
    const suffix = '_next';
    let ctx: ApplyContext = { suffix, rebuilding: true };
    const freshTables = () =>
      this.db.transaction().execute(async (trx) => {
        await dropTables(trx, p, suffix);
        await p.createTables(trx, suffix);
      });
    await freshTables();
    let position = 0n;
    let count = 0;
    if (p.bulkRebuild && this.eventsInThisDatabase()) {
      const head = await this.store.headPosition();
      try {
        const upTo = p.bulkLimit ? await p.bulkLimit(this.db, head) : head;
        count += await p.bulkRebuild(this.db, suffix, upTo, { concurrent: this.database.pool !== undefined });
        position = upTo;
        // Stopped short of the head (see bulkLimit): the rest goes on as a rebuild, totals at the end.
        ctx = { suffix, rebuilding: upTo < head };
      } catch (e) {
        if (isConnectionError(e)) throw e;
        // Set-based SQL cannot say which event it could not take; the rebuild event by event can.
        await freshTables();
        count = 0;
      }
    }
    // Nothing lies past the head, yet a read filtered by stream finds that out by scanning the log
    // when the statistics are stale (after an import of 1,000,000 calls: 0.8 s a read, two reads
    // for each projection so filtered): a rebuild whose set-based part reached the head reads nothing.
    let head = await this.store.headPosition();
    for (;;) {
      if (position >= head) break;
      const events = await this.store.readAll({ after: position, limit: this.rebuildBatchSize, streamPrefixes: p.streamPrefixes });
      if (events.length === 0) break;
      const handled = events.filter((e) => p.handles.includes(e.type));
      if (handled.length > 0) {
        const batchCtx = ctx;
        await this.db.transaction().execute((trx) => p.apply(trx, handled, batchCtx)).catch((e: unknown) => this.blame(p, handled, batchCtx, e));
      }
      count += handled.length;
      position = events[events.length - 1]!.position;
      if (events.length < this.rebuildBatchSize) break;
    }
    head = await this.store.headPosition();
    const tail = head > position ? await this.readAllAfter(p, position) : [];
    const tailHandled = tail.filter((e) => p.handles.includes(e.type));
    await this.db
      .transaction()
      .execute(async (trx) => {
        await lockCheckpoint(trx, p);
        if (tailHandled.length > 0) await p.apply(trx, tailHandled, ctx);
        count += tailHandled.length;
        if (tail.length > 0) position = tail[tail.length - 1]!.position;
        if (head > position) position = head;
        if (ctx.rebuilding && p.finishRebuild) await p.finishRebuild(trx, suffix);
        await dropTables(trx, p, '');
        for (const table of p.tables) {
          await sql`alter table ${sql.table(table + suffix)} rename to ${sql.table(table)}`.execute(trx);
        }
        await writeCheckpoint(trx, p, position);
        await clearStall(trx, p);
      })
      .catch((e: unknown) => this.blame(p, tailHandled, ctx, e));
    return { projection: p.name, events: count, position: position.toString(), ms: Math.round(performance.now() - started) };
  }

  /**
   * After applying `events` to a rebuild's fresh tables failed with `error`: apply them one at a
   * time to find the one the projection cannot take, and throw a ProjectionEventFailed naming it;
   * when each goes in on its own (the failure was not theirs), throw `error` itself.
   */
  private async blame(p: Projection, events: readonly RecordedEvent[], ctx: ApplyContext, error: unknown): Promise<never> {
    if (isConnectionError(error)) throw error;
    for (const event of events) {
      try {
        await this.db.transaction().execute((trx) => p.apply(trx, [event], ctx));
      } catch (e) {
        if (isConnectionError(e)) throw e;
        throw new ProjectionEventFailed(p.name, event, e);
      }
    }
    throw error;
  }

  private async readAllAfter(p: Projection, after: bigint): Promise<RecordedEvent[]> {
    const out: RecordedEvent[] = [];
    let position = after;
    for (;;) {
      const events = await this.store.readAll({ after: position, limit: this.rebuildBatchSize, streamPrefixes: p.streamPrefixes });
      out.push(...events);
      if (events.length < this.rebuildBatchSize) return out;
      position = events[events.length - 1]!.position;
    }
  }

  /**
   * Rebuilds of one projection never overlap, in this process or another (the server's follower
   * and a CLI command may both decide to rebuild): they would fill, and swap in, the same fresh
   * tables. A session-level advisory lock, on a connection of its own, so that it goes with the
   * connection if the process dies. PGlite is one process with one connection: nothing to guard.
   */
  private async exclusively<T>(p: Projection, work: () => Promise<T>): Promise<T> {
    const pool = this.database.pool;
    if (!pool) return work();
    const client = await pool.connect();
    let keep = false;
    try {
      await client.query(`select pg_advisory_lock($1, hashtext(current_schema() || '/' || $2))`, [REBUILD_LOCK_CLASS, p.name]);
      try {
        return await work();
      } finally {
        // When the unlock fails, the connection is closed rather than kept, and the lock goes with it.
        keep = await client.query(`select pg_advisory_unlock($1, hashtext(current_schema() || '/' || $2))`, [REBUILD_LOCK_CLASS, p.name]).then(
          () => true,
          () => false,
        );
      }
    } finally {
      client.release(!keep);
    }
  }

  /** See RunnerOptions.catchUpByRebuild. Positions stand for event counts (a position is never reused). */
  private async rebuildIsQuicker(p: Projection, position: bigint): Promise<boolean> {
    const rule = this.options.catchUpByRebuild ?? { share: 0.5, minEvents: 100_000 };
    if (rule === false || !p.bulkRebuild || !this.eventsInThisDatabase()) return false;
    const head = await this.store.headPosition();
    const behind = head - position;
    return behind >= BigInt(rule.minEvents) && Number(behind) >= rule.share * Number(head);
  }

  /** True when the store's `events` table is in the database the projections write to. */
  private eventsInThisDatabase(): boolean {
    const own = (this.store as { database?: unknown }).database;
    return own === this.database && this.options.bulkRebuild !== false;
  }

  /** Checkpoints as stored (tests, `/health`). */
  async checkpoint(name: string): Promise<ProjectionState | undefined> {
    return readCheckpoint(this.db, this.projection(name));
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done);
  });
}

export class UnknownProjectionError extends Error {
  readonly code = 'UNKNOWN_PROJECTION';
  constructor(readonly projection: string, readonly known: readonly string[]) {
    super(`no projection named ${projection}; known: ${known.join(', ')}`);
  }
}
