// The PostgreSQL event store, one SQL implementation over kysely for both `pg` and PGlite.
//
// Never skipping an event: every append transaction first takes one transaction-scoped advisory
// lock, and positions (a sequence) are drawn only while it is held. PostgreSQL makes a commit
// visible before it releases the transaction's locks, so the next writer's positions are always
// above every position already visible: a reader that has passed position P never later finds a
// committed event at or below P (the bigserial gap that lost events in Marten #1629 and Emmett #336).
// Writers are serialised; an import is one large transaction anyway.
//
// When an event became visible (as-of queries, SPEC §4.1): `recorded_at` is `now()`, the start of
// the writing transaction — a minute before the commit of a long import — and no value written
// inside a transaction can be its commit instant. So visibility is recorded *after* the commit:
// every append, once committed, seals the log — one row (position = the newest committed
// position, visible_by = clock_timestamp()) in `event_visibility`. The statement's snapshot is
// taken before its clock is read, so every position at or below the one it stamps was visible by
// that instant: the stamp is an upper bound of the commit, never earlier than it. Seals take a
// lock of their own, one after the other, so stamps grow with positions; an event is visible at T
// when a stamp at or above its position is at or before T. A seal lost to a crash is made up by the
// next one (an append's, or an as-of query's), which covers every position below it.
import { EventEmitter } from 'node:events';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { CompiledQuery, sql, type Kysely, type Transaction } from 'kysely';
import type pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import type { Database, MigrationSet } from './database.ts';
import { databaseTrouble, describe } from './connection.ts';
import { canonicalJson, hashOfCanonical } from './canonical.ts';
import {
  BulkIdTaken,
  EventIdConflict,
  ExpectedVersionConflict,
  LedgerBusy,
  type AppendResult,
  type BulkAppendResult,
  type BulkAppender,
  type BulkEvent,
  type BulkWriter,
  type EventStore,
  type EventToAppend,
  type ExpectedVersion,
  type ReadAllOptions,
  type RecordedEvent,
  type StoreTransaction,
  type StreamAppend,
} from './port.ts';

export const eventStoreMigrations: MigrationSet = {
  '0001-eventstore-events': {
    async up(db) {
      await sql`
        create table events (
          position bigserial primary key,
          event_id uuid not null unique,
          stream_id text not null,
          revision integer not null,
          type text not null,
          data jsonb not null,
          metadata jsonb not null default '{}'::jsonb,
          payload_hash text not null,
          recorded_at timestamptz not null default now(),
          unique (stream_id, revision)
        )`.execute(db);
    },
    async down(db) {
      await sql`drop table events`.execute(db);
    },
  },
  // Events written before this migration have no seal: they keep the instant they were recorded
  // with (their transaction's start), taken as a running maximum in log order so that stamps grow
  // with positions (two old writers whose transactions began in the other order than they took the
  // lock would otherwise put a later position before an earlier one).
  '0002-eventstore-visibility': {
    async up(db) {
      await sql`create table event_visibility (position bigint primary key, visible_by timestamptz not null)`.execute(db);
      await sql`create index event_visibility_by_instant on event_visibility (visible_by)`.execute(db);
      await sql`
        insert into event_visibility (position, visible_by)
        select g.position, max(g.recorded_at) over (order by g.position)
        from (select max(position) as position, recorded_at from events group by recorded_at) g`.execute(db);
    },
    async down(db) {
      await sql`drop table event_visibility`.execute(db);
    },
  },
};

const SEAL_LOCK_CLASS = 0x5345414c; // 'SEAL'

const LOCK_CLASS = 0x4c454447; // 'LEDG'
const INSERT_CHUNK = 4000;

interface Row {
  position: string;
  event_id: string;
  stream_id: string;
  revision: number;
  type: string;
  data: unknown;
  metadata: Record<string, unknown> | null;
  recorded_at: Date | string;
}

function toRecorded(row: Row): RecordedEvent {
  return {
    id: row.event_id,
    streamId: row.stream_id,
    revision: Number(row.revision),
    position: BigInt(row.position),
    type: row.type,
    data: row.data,
    metadata: row.metadata ?? {},
    recordedAt: row.recorded_at instanceof Date ? row.recorded_at.toISOString() : new Date(row.recorded_at).toISOString(),
  };
}

const SELECT_COLUMNS = sql`position::text as position, event_id::text as event_id, stream_id, revision, type, data, metadata, recorded_at`;

export interface SqlEventStoreOptions {
  /** Poll interval of waitForEvents when nothing in this process appended. */
  readonly pollMs?: number;
  /**
   * For a store that serves requests: appends never queue behind a long writer (an import holds
   * the writers' lock for its whole file). When the lock is taken, at most `maxWaiting` appends of
   * this store wait for it — each as long as the connection's lock_timeout allows (see
   * Database.forRequests) — and the others give up at once; both answer LedgerBusy. Unset: wait
   * as long as it takes (imports, the CLI).
   */
  readonly writerWait?: { readonly maxWaiting: number };
  /** Told when the LISTEN connection is lost, and when it is back (PostgreSQL). */
  readonly onListenChange?: (state: { listening: boolean; reason?: string }) => void;
}

export function createSqlEventStore(database: Database, options: SqlEventStoreOptions = {}): SqlEventStore {
  return new SqlEventStore(database, options);
}

export class SqlEventStore implements EventStore, BulkAppender {
  readonly name: string;
  readonly capabilities = { atomicMultiStreamAppend: true, durableIdempotency: true, bulkAppend: true, sharedTransaction: true, streamSession: false } as const;
  private readonly db: Kysely<any>;
  private readonly appended = new EventEmitter();
  private readonly gate?: WriterGate;
  private listener?: NotificationListener;

  constructor(readonly database: Database, private readonly options: SqlEventStoreOptions = {}) {
    this.db = database.db;
    this.name = database.engine === 'postgres' ? 'PostgreSQL' : 'PGlite';
    this.appended.setMaxListeners(0);
    if (options.writerWait && database.pool) this.gate = new WriterGate(options.writerWait.maxWaiting);
  }

  async append(streamId: string, events: readonly EventToAppend[], options: { expectedVersion?: ExpectedVersion } = {}): Promise<AppendResult> {
    const [result] = await this.appendMany([{ streamId, events, expectedVersion: options.expectedVersion }]);
    return result!;
  }

  async appendMany(batches: readonly StreamAppend[]): Promise<AppendResult[]> {
    const results = await this.db.transaction().execute((trx) => this.appendInTransaction(trx, batches));
    if (results.some((r) => r.appended > 0)) {
      await this.sealQuietly();
      this.appended.emit('appended');
    }
    return results;
  }

  get bulk(): BulkAppender {
    return this;
  }

  async inTransaction<T>(work: (trx: StoreTransaction) => Promise<T>): Promise<T> {
    let appended = false;
    const value = await this.db.transaction().execute((trx) =>
      work({
        db: trx,
        append: async (batches) => {
          const results = await this.appendInTransaction(trx, batches);
          if (results.some((r) => r.appended > 0)) appended = true;
          return results;
        },
      }),
    );
    if (appended) {
      await this.sealQuietly();
      this.appended.emit('appended');
    }
    return value;
  }

  async storedContent(ids: readonly string[]): Promise<Map<string, { streamId: string; hash: string }>> {
    const { rows } = await sql<{ event_id: string; stream_id: string; payload_hash: string }>`
      select event_id::text as event_id, stream_id, payload_hash from events where event_id = any(${[...ids]}::uuid[])`.execute(this.db);
    return new Map(rows.map((r) => [r.event_id, { streamId: r.stream_id, hash: r.payload_hash }]));
  }

  /**
   * The append itself, inside a caller's kysely transaction: for writing events and one's own
   * bookkeeping atomically. Takes the writers' lock. The caller calls `seal()` once it has
   * committed (else the next append or as-of query does, later: never too early).
   */
  async appendInTransaction(trx: Transaction<any> | Kysely<any>, batches: readonly StreamAppend[]): Promise<AppendResult[]> {
    const session = await AppendSession.begin(kyselyExecutor(trx), this.gate);
    const results = await session.append(batches.map(encodeBatch));
    // Outside a bulk append, an event twice in one call is simply already present.
    return results.map(({ duplicates = 0, ...r }) => ({ ...r, alreadyPresent: r.alreadyPresent + duplicates }));
  }

  /**
   * A bulk append in ONE transaction, fed chunk by chunk so that memory stays flat (a 1,000,000-call
   * file): all chunks commit together or none does. On PostgreSQL rows go in with COPY. An event
   * stored earlier in the same bulk append counts as a duplicate, not as already present.
   */
  async appendBulk(chunks: AsyncIterable<readonly StreamAppend[]> | Iterable<readonly StreamAppend[]>, onChunk?: (result: BulkAppendResult) => void): Promise<BulkAppendResult> {
    async function* encoded() {
      for await (const batches of chunks) yield batches.map(encodeBatch);
    }
    return this.appendEncoded(encoded(), onChunk);
  }

  private async appendEncoded(
    chunks: AsyncIterable<readonly EncodedStreamAppend[]> | Iterable<readonly EncodedStreamAppend[]>,
    onChunk?: (result: BulkAppendResult) => void,
  ): Promise<BulkAppendResult> {
    const total = { appended: 0, alreadyPresent: 0, duplicates: 0 };
    await this.inOneTransaction(async (executor) => {
      const session = await AppendSession.begin(executor);
      for await (const batches of prefetched(chunks)) {
        const results = await session.append(batches);
        for (const r of results) {
          total.appended += r.appended;
          total.alreadyPresent += r.alreadyPresent;
          total.duplicates += r.duplicates ?? 0;
        }
        onChunk?.({ ...total });
      }
    });
    if (total.appended > 0) {
      await this.sealQuietly();
      this.appended.emit('appended');
    }
    return total;
  }

  /**
   * The fastest bulk append, for an importer that encodes its own events and has made sure no id
   * repeats among them: one transaction holding the writers' lock, rows written chunk by chunk
   * (COPY on PostgreSQL) while the caller prepares the next chunk. Nothing is looked up first: when
   * an id is stored already, the unique index refuses its chunk, the whole transaction rolls back,
   * and BulkIdTaken tells the caller to take the careful path (appendBulk), which says which
   * events are already present and which conflict. Whatever `work` throws rolls everything back.
   */
  async bulkWrite<T>(work: (writer: BulkWriter) => Promise<T>, options: { chunkSize?: number } = {}): Promise<T> {
    let appended = 0;
    const result = await this.inOneTransaction(async (executor) => {
      await AppendSession.begin(executor);
      const writer = new ChunkedBulkWriter(executor, options.chunkSize ?? 10_000);
      try {
        const value = await work(writer);
        await writer.finish();
        appended = writer.appended;
        if (appended > 0) await executor.query(`select pg_notify('ledger_events', '')`, []);
        return value;
      } catch (e) {
        await writer.settle().catch(() => {});
        throw e;
      }
    });
    if (appended > 0) {
      await this.sealQuietly();
      this.appended.emit('appended');
    }
    return result;
  }

  /**
   * Records that every committed event is visible by now (see the header): one stamp at the newest
   * committed position, unless it is stamped already. Seals run one after another (their own lock),
   * so each one's snapshot and clock come after the previous one's and stamps grow with positions.
   */
  async seal(): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      await sql`select pg_advisory_xact_lock(${SEAL_LOCK_CLASS}::int, hashtext(current_schema()))`.execute(trx);
      await sql`
        insert into event_visibility (position, visible_by)
        select h.position, clock_timestamp() from (select max(position) as position from events) h
        where h.position > coalesce((select max(position) from event_visibility), 0)`.execute(trx);
    });
  }

  /** After a commit: the append has succeeded whatever happens here, and a missed seal is made up later. */
  private async sealQuietly(): Promise<void> {
    await this.seal().catch(() => undefined);
  }

  async visiblePositionAt(instant: Date): Promise<bigint> {
    if (Number.isNaN(instant.getTime())) throw new RangeError('not an instant');
    // Whatever is committed and not yet stamped gets its stamp now (later than its commit: honest).
    await this.seal();
    const { rows } = await sql<{ position: string | null }>`
      select max(position)::text as position from event_visibility where visible_by <= ${instant.toISOString()}::timestamptz`.execute(this.db);
    return BigInt(rows[0]?.position ?? '0');
  }

  async visibleSince(positions: readonly bigint[]): Promise<ReadonlyMap<bigint, string>> {
    const out = new Map<bigint, string>();
    if (positions.length === 0) return out;
    await this.seal();
    const wanted = [...new Set(positions.map((p) => p.toString()))];
    // Stamps grow with positions: the first stamp at or above a position is when it became visible.
    const { rows } = await sql<{ position: string; since: Date | string | null }>`
      select p.position::text as position,
        (select v.visible_by from event_visibility v where v.position >= p.position order by v.position limit 1) as since
      from unnest(${wanted}::bigint[]) as p(position)`.execute(this.db);
    for (const r of rows) if (r.since !== null) out.set(BigInt(r.position), new Date(r.since).toISOString());
    return out;
  }

  /** One transaction on one connection (a pool client on PostgreSQL, for COPY). */
  private async inOneTransaction<T>(run: (executor: Executor) => Promise<T>): Promise<T> {
    if (this.database.pool) {
      const client = await this.database.pool.connect();
      try {
        await client.query('begin');
        const value = await run(pgExecutor(client));
        await client.query('commit');
        return value;
      } catch (e) {
        await client.query('rollback').catch(() => {});
        throw e;
      } finally {
        client.release();
      }
    }
    return this.db.transaction().execute((trx) => run(kyselyExecutor(trx)));
  }

  async readStream(streamId: string, options: { fromRevision?: number } = {}): Promise<RecordedEvent[]> {
    const { rows } = await sql<Row>`
      select ${SELECT_COLUMNS} from events
      where stream_id = ${streamId} and revision >= ${options.fromRevision ?? 0}
      order by revision`.execute(this.db);
    return rows.map(toRecorded);
  }

  async readAll(options: ReadAllOptions = {}): Promise<RecordedEvent[]> {
    const after = (options.after ?? 0n).toString();
    const limit = options.limit ?? 10_000;
    const prefixes = options.streamPrefixes?.map((p) => `${p.replace(/[\\%_]/g, (c) => `\\${c}`)}%`);
    const { rows } = prefixes
      ? await sql<Row>`
          select ${SELECT_COLUMNS} from events
          where position > ${after}::bigint and stream_id like any(${prefixes}::text[])
          order by events.position limit ${limit}`.execute(this.db)
      : await sql<Row>`
          select ${SELECT_COLUMNS} from events
          where position > ${after}::bigint
          order by events.position limit ${limit}`.execute(this.db);
    return rows.map(toRecorded);
  }

  async headPosition(): Promise<bigint> {
    const { rows } = await sql<{ head: string | null }>`select max(position)::text as head from events`.execute(this.db);
    return BigInt(rows[0]?.head ?? '0');
  }

  async findEvent(id: string): Promise<RecordedEvent | undefined> {
    if (!/^[0-9a-f-]{36}$/i.test(id)) return undefined;
    const { rows } = await sql<Row>`select ${SELECT_COLUMNS} from events where event_id = ${id}::uuid`.execute(this.db);
    return rows[0] ? toRecorded(rows[0]) : undefined;
  }

  waitForEvents(timeoutMs: number, signal?: AbortSignal): Promise<void> {
    // Appends from this process wake at once, other processes' appends by their NOTIFY (PostgreSQL:
    // a LISTEN connection, opened by the first wait); the poll is there for the moments that
    // connection is being made again.
    if (!this.listener && this.database.newClient) {
      this.listener = new NotificationListener(() => this.database.newClient!(), 'ledger_events', () => this.appended.emit('appended'), this.options.onListenChange);
    }
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.appended.off('appended', done);
        signal?.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, Math.min(timeoutMs, this.options.pollMs ?? timeoutMs));
      this.appended.on('appended', done);
      signal?.addEventListener('abort', done);
    });
  }

  async close(): Promise<void> {
    this.appended.removeAllListeners();
    await this.listener?.close();
  }
}

/**
 * One LISTEN connection, made again with backoff (0.1 s doubling to 5 s) whenever it is lost: a
 * restart, a failover, pg_terminate_backend. Once back it wakes the follower, which reads whatever
 * was appended meanwhile.
 */
class NotificationListener {
  private client?: pg.Client;
  private closed = false;
  private delayMs = 100;
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly newClient: () => pg.Client,
    private readonly channel: string,
    private readonly wake: () => void,
    private readonly onChange?: (state: { listening: boolean; reason?: string }) => void,
  ) {
    void this.connect();
  }

  private async connect(): Promise<void> {
    if (this.closed) return;
    const client = this.newClient();
    this.client = client;
    let lost = false;
    const onLost = (e?: unknown) => {
      if (lost) return;
      lost = true;
      client.removeAllListeners('notification');
      client.end().catch(() => {});
      if (this.closed) return;
      this.onChange?.({ listening: false, reason: e ? describe(e) : 'connection ended' });
      this.timer = setTimeout(() => void this.connect(), this.delayMs);
      this.delayMs = Math.min(this.delayMs * 2, 5_000);
    };
    client.on('error', onLost);
    client.on('end', () => onLost());
    client.on('notification', (n) => {
      if (n.channel === this.channel) this.wake();
    });
    try {
      await client.connect();
      await client.query(`listen ${this.channel}`);
      if (this.closed) {
        await client.end().catch(() => {});
        return;
      }
      this.delayMs = 100;
      this.onChange?.({ listening: true });
      this.wake();
    } catch (e) {
      onLost(e);
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    await this.client?.end().catch(() => {});
  }
}

/** See SqlEventStoreOptions.writerWait. */
class WriterGate {
  private waiting = 0;

  constructor(private readonly maxWaiting: number) {}

  async lock(x: Executor): Promise<void> {
    const [free] = await x.query<{ ok: boolean }>(`select pg_try_advisory_xact_lock(${LOCK_CLASS}::int, hashtext(current_schema())) as ok`, []);
    if (free?.ok) return;
    if (this.waiting >= this.maxWaiting) throw new LedgerBusy(WRITER_BUSY);
    this.waiting++;
    try {
      await x.query(WRITERS_LOCK, []);
    } catch (e) {
      if (databaseTrouble(e) === 'busy') throw new LedgerBusy(WRITER_BUSY, { cause: e });
      throw e;
    } finally {
      this.waiting--;
    }
  }
}

const WRITERS_LOCK = `select pg_advisory_xact_lock(${LOCK_CLASS}::int, hashtext(current_schema()))`;
const WRITER_BUSY = 'the ledger is busy with another write (an import, say); nothing was changed — try again in a minute';

/** An event encoded once: its data as canonical JSON text (what is hashed and what is stored). */
type EncodedEvent = BulkEvent;

interface EncodedStreamAppend {
  readonly streamId: string;
  readonly events: readonly EncodedEvent[];
  readonly expectedVersion?: ExpectedVersion;
}

/** One encoding per event: the canonical text is both what is hashed and what is stored. */
function encodeBatch(batch: StreamAppend): EncodedStreamAppend {
  return {
    streamId: batch.streamId,
    expectedVersion: batch.expectedVersion,
    events: batch.events.map((e: EventToAppend) => ({ id: e.id, type: e.type, dataText: canonicalJson(e.data), metadataText: JSON.stringify(e.metadata ?? {}) })),
  };
}

interface InsertRow {
  id: string;
  streamId: string;
  revision: number;
  type: string;
  data: string;
  metadata: string;
  hash: string;
}

/** What an append needs from a transaction: queries, and a way to insert many rows fast. */
interface Executor {
  query<T>(text: string, params: unknown[]): Promise<T[]>;
  insert(rows: readonly InsertRow[]): Promise<void>;
  /** A chunk of rows for a bulk write, encoded as they are added. */
  newChunk(): RowChunk;
}

interface RowChunk {
  readonly size: number;
  add(row: InsertRow): void;
  /** The insert of the chunk's rows, run when called. */
  seal(): () => Promise<void>;
}

function kyselyExecutor(trx: Transaction<any> | Kysely<any>): Executor {
  return {
    async query<T>(text: string, params: unknown[]) {
      const result = await trx.executeQuery<T>(CompiledQuery.raw(text, params));
      return result.rows as T[];
    },
    newChunk() {
      const rows: InsertRow[] = [];
      return {
        get size() {
          return rows.length;
        },
        add: (row) => void rows.push(row),
        seal: () => () => this.insert(rows),
      };
    },
    async insert(rows) {
      for (let i = 0; i < rows.length; i += INSERT_CHUNK) {
        const chunk = rows.slice(i, i + INSERT_CHUNK);
        await trx.executeQuery(
          CompiledQuery.raw(
            `insert into events (event_id, stream_id, revision, type, data, metadata, payload_hash)
             select u.id, u.stream_id, u.revision, u.type, u.data, u.metadata, u.hash
             from unnest($1::uuid[], $2::text[], $3::int[], $4::text[], $5::jsonb[], $6::jsonb[], $7::text[])
                  with ordinality as u(id, stream_id, revision, type, data, metadata, hash, ord)
             order by u.ord`,
            [chunk.map((r) => r.id), chunk.map((r) => r.streamId), chunk.map((r) => r.revision), chunk.map((r) => r.type), chunk.map((r) => r.data), chunk.map((r) => r.metadata), chunk.map((r) => r.hash)],
          ),
        );
      }
    },
  };
}

// COPY text format: backslash, newline, carriage return and tab are escaped.
function copyText(s: string): string {
  return /[\\\n\r\t]/.test(s) ? s.replace(/[\\\n\r\t]/g, (c) => (c === '\\' ? '\\\\' : c === '\n' ? '\\n' : c === '\r' ? '\\r' : '\\t')) : s;
}

// JSON text (data, metadata) holds no raw newline, carriage return or tab — JSON escapes them —
// so only its backslashes need doubling.
function jsonCopyText(s: string): string {
  return s.includes('\\') ? s.replaceAll('\\', '\\\\') : s;
}

function pgExecutor(client: pg.PoolClient): Executor {
  return {
    async query<T>(text: string, params: unknown[]) {
      const result = await client.query(text, params);
      return result.rows as T[];
    },
    async insert(rows) {
      if (rows.length === 0) return;
      const chunk = this.newChunk();
      for (const r of rows) chunk.add(r);
      await chunk.seal()();
    },
    newChunk() {
      return new CopyChunk(client);
    },
  };
}

/**
 * Rows in COPY text format, written into one buffer as they come: the rows' strings die young
 * instead of waiting in the JavaScript heap for their chunk to be sent (a million-row import spent
 * a sixth of its time copying them from one young generation to the next).
 */
class CopyChunk implements RowChunk {
  size = 0;
  private buffer = Buffer.allocUnsafe(4 << 20);
  private length = 0;

  constructor(private readonly client: pg.PoolClient) {}

  add(r: InsertRow): void {
    const streamId = copyText(r.streamId);
    const type = copyText(r.type);
    const data = jsonCopyText(r.data);
    const metadata = jsonCopyText(r.metadata);
    // One write a row: each Buffer#write is a call into C++, and seven a row cost more than the
    // concatenation (the uuid, revision and hash are ASCII, so UTF-8 writes them as they are).
    const line = `${r.id}\t${streamId}\t${r.revision}\t${type}\t${data}\t${metadata}\t${r.hash}\n`;
    // at most 3 UTF-8 bytes a UTF-16 unit
    this.reserve(3 * line.length);
    this.length += this.buffer.write(line, this.length, 'utf8');
    this.size++;
  }

  seal(): () => Promise<void> {
    const text = this.buffer.subarray(0, this.length);
    const client = this.client;
    return async () => {
      if (text.length === 0) return;
      const stream = client.query(copyFrom('copy events (event_id, stream_id, revision, type, data, metadata, payload_hash) from stdin'));
      await pipeline(Readable.from([text]), stream);
    };
  }

  private reserve(bytes: number): void {
    if (this.length + bytes <= this.buffer.length) return;
    const bigger = Buffer.allocUnsafe(Math.max(this.buffer.length * 2, this.length + bytes));
    this.buffer.copy(bigger, 0, 0, this.length);
    this.buffer = bigger;
  }
}

const FIRST_CHUNK_ROWS = 500;

/**
 * Rows of one bulk write: revisions counted per stream (a stream's stored version is read once,
 * when it first appears), written a chunk at a time. Up to two chunks are in flight — one being
 * taken by the database, the next encoded and waiting for it — so the database does not wait
 * for the caller between chunks while the caller fills the one after.
 */
class ChunkedBulkWriter implements BulkWriter {
  private chunk: RowChunk;
  private inFlight: Promise<void>[] = [];
  private readonly versions = new Map<string, number>();
  /**
   * Rows of the chunk being filled. The database has nothing to do until the first chunk is sent,
   * so the first is small and each next one twice the size, up to chunkSize: a full first chunk
   * of 5,000 calls was read with the JIT still cold, the slowest chunk of the file, while the
   * database waited.
   */
  private limit: number;
  /** Rows handed to the database so far. */
  appended = 0;

  constructor(private readonly x: Executor, private readonly chunkSize: number) {
    this.chunk = x.newChunk();
    this.limit = Math.min(chunkSize, FIRST_CHUNK_ROWS);
  }

  /** Adds one event; a promise to await when the call had to wait (a new stream, a full chunk), else undefined. */
  add(streamId: string, event: BulkEvent): Promise<void> | undefined {
    const version = this.versions.get(streamId);
    if (version === undefined) return this.addToNewStream(streamId, event);
    const revision = version + 1;
    this.versions.set(streamId, revision);
    this.chunk.add({ id: event.id, streamId, revision, type: event.type, data: event.dataText, metadata: event.metadataText, hash: hashOfCanonical(streamId, event.type, event.dataText) });
    return this.chunk.size >= this.limit ? this.ship() : undefined;
  }

  private async addToNewStream(streamId: string, event: BulkEvent): Promise<void> {
    await this.settle();
    const [row] = await this.x.query<{ version: number | null }>('select max(revision) as version from events where stream_id = $1', [streamId]);
    this.versions.set(streamId, row?.version == null ? -1 : Number(row.version));
    await this.add(streamId, event);
  }

  /** A stream's events as this transaction sees them (waits for the chunk in flight). */
  async readStream(streamId: string): Promise<{ type: string; data: unknown }[]> {
    await this.settle();
    return this.x.query<{ type: string; data: unknown }>('select type, data from events where stream_id = $1 order by revision', [streamId]);
  }

  private async ship(): Promise<void> {
    const chunk = this.chunk;
    this.chunk = this.x.newChunk();
    this.limit = Math.min(this.limit * 2, this.chunkSize);
    this.appended += chunk.size;
    // Sent when the chunk before it is in: the database goes from one to the next.
    const run = chunk.seal();
    const writing = (this.inFlight.at(-1) ?? Promise.resolve()).then(run);
    writing.catch(() => {}); // reported by settle, in order
    this.inFlight.push(writing);
    if (this.inFlight.length > 2) await this.settle(2);
  }

  /**
   * Waits for the chunks in flight, oldest first (all but `keep` of them); the first failure is
   * the one reported (the chunks after it fail only because the transaction is aborted). An id
   * stored already becomes BulkIdTaken.
   */
  async settle(keep = 0): Promise<void> {
    while (this.inFlight.length > keep) {
      const writing = this.inFlight.shift()!;
      try {
        await writing;
      } catch (e) {
        this.inFlight = [];
        if (isEventIdTaken(e)) throw new BulkIdTaken();
        throw e;
      }
    }
  }

  async finish(): Promise<void> {
    if (this.chunk.size > 0) await this.ship();
    await this.settle();
  }
}

function isEventIdTaken(e: unknown): boolean {
  const error = e as { code?: unknown; constraint?: unknown; message?: unknown };
  return error?.code === '23505' && (error.constraint === 'events_event_id_key' || String(error.message).includes('events_event_id_key'));
}

/** One append transaction, holding the writers' lock; may take several chunks (bulk imports). */
class AppendSession {
  private readonly versions = new Map<string, number>();

  private constructor(private readonly x: Executor, private readonly headAtStart: bigint) {}

  static async begin(x: Executor, gate?: WriterGate): Promise<AppendSession> {
    if (gate) await gate.lock(x);
    else await x.query(WRITERS_LOCK, []);
    // Taken under the lock: any stored row above it was written by this very transaction.
    const [row] = await x.query<{ head: string | null }>('select max(position)::text as head from events', []);
    return new AppendSession(x, BigInt(row?.head ?? '0'));
  }

  async append(batches: readonly EncodedStreamAppend[]): Promise<(AppendResult & { duplicates?: number })[]> {
    // Idempotency first: which of these ids are stored already, and with what content?
    const byId = new Map<string, { streamId: string; hash: string }>();
    const batchHashes: string[][] = [];
    for (const batch of batches) {
      const hashes: string[] = [];
      for (const e of batch.events) {
        const hash = hashOfCanonical(batch.streamId, e.type, e.dataText);
        hashes.push(hash);
        const seen = byId.get(e.id);
        if (seen && seen.hash !== hash) {
          throw new EventIdConflict(e.id, batch.streamId, 'the same id twice in one append with different content');
        }
        byId.set(e.id, { streamId: batch.streamId, hash });
      }
      batchHashes.push(hashes);
    }
    const existing = new Map<string, { streamId: string; hash: string; mine: boolean }>();
    const ids = [...byId.keys()];
    for (let i = 0; i < ids.length; i += 10_000) {
      const chunk = ids.slice(i, i + 10_000);
      const rows = await this.x.query<{ event_id: string; stream_id: string; payload_hash: string; position: string }>(
        'select event_id::text as event_id, stream_id, payload_hash, position::text as position from events where event_id = any($1::uuid[])',
        [chunk],
      );
      for (const r of rows) existing.set(r.event_id, { streamId: r.stream_id, hash: r.payload_hash, mine: BigInt(r.position) > this.headAtStart });
    }

    const unknownStreams = [...new Set(batches.map((b) => b.streamId))].filter((s) => !this.versions.has(s));
    if (unknownStreams.length > 0) {
      for (const s of unknownStreams) this.versions.set(s, -1);
      const rows = await this.x.query<{ stream_id: string; version: number }>(
        'select stream_id, max(revision) as version from events where stream_id = any($1::text[]) group by stream_id',
        [unknownStreams],
      );
      for (const r of rows) this.versions.set(r.stream_id, Number(r.version));
    }

    const results: (AppendResult & { duplicates: number })[] = [];
    const toInsert: InsertRow[] = [];
    const insertedNow = new Set<string>();
    batches.forEach((batch, b) => {
      let alreadyPresent = 0;
      let duplicates = 0;
      const fresh: { e: EncodedEvent; hash: string }[] = [];
      batch.events.forEach((e, i) => {
        const hash = batchHashes[b]![i]!;
        const stored = existing.get(e.id);
        if (stored) {
          if (stored.hash !== hash) {
            throw new EventIdConflict(e.id, batch.streamId, stored.streamId !== batch.streamId ? `stored in stream ${stored.streamId}` : 'stored with other data');
          }
          if (stored.mine) duplicates++;
          else alreadyPresent++;
        } else if (insertedNow.has(e.id)) {
          duplicates++;
        } else {
          insertedNow.add(e.id);
          fresh.push({ e, hash });
        }
      });
      const current = this.versions.get(batch.streamId)!;
      const expected = batch.expectedVersion ?? 'any';
      // A retry of an append that already succeeded is a no-op, whatever version it expected.
      if (fresh.length > 0 && expected !== 'any') {
        const wanted = expected === 'no_stream' ? -1 : expected;
        if (wanted !== current) throw new ExpectedVersionConflict(batch.streamId, expected, current);
      }
      let revision = current;
      for (const { e, hash } of fresh) {
        revision++;
        toInsert.push({ id: e.id, streamId: batch.streamId, revision, type: e.type, data: e.dataText, metadata: e.metadataText, hash });
      }
      this.versions.set(batch.streamId, revision);
      results.push({ streamId: batch.streamId, version: revision, appended: fresh.length, alreadyPresent, duplicates });
    });

    await this.x.insert(toInsert);
    if (toInsert.length > 0) await this.x.query(`select pg_notify('ledger_events', '')`, []);
    return results;
  }
}

/**
 * Asks for the next chunk as soon as the current one is handed out, so that the producer (parsing
 * the next part of a file) works while the database takes the current chunk: two cores, both busy.
 */
async function* prefetched<T>(source: AsyncIterable<T> | Iterable<T>): AsyncGenerator<T> {
  const it: AsyncIterator<T> | Iterator<T> =
    Symbol.asyncIterator in source ? (source as AsyncIterable<T>)[Symbol.asyncIterator]() : (source as Iterable<T>)[Symbol.iterator]();
  let next: Promise<IteratorResult<T>> = Promise.resolve(it.next());
  let finished = false;
  try {
    for (;;) {
      const current = await next;
      if (current.done) {
        finished = true;
        return;
      }
      next = Promise.resolve(it.next());
      // A failing producer is reported by the await above on the next turn, not as unhandled.
      next.catch(() => {});
      yield current.value;
    }
  } finally {
    if (!finished) await it.return?.();
  }
}
