// The PostgreSQL event store, one SQL implementation over kysely for both `pg` and PGlite.
//
// Never skipping an event: every append transaction first takes one transaction-scoped advisory
// lock, and positions (a sequence) are drawn only while it is held. PostgreSQL makes a commit
// visible before it releases the transaction's locks, so the next writer's positions are always
// above every position already visible: a reader that has passed position P never later finds a
// committed event at or below P (the bigserial gap that lost events in Marten #1629 and Emmett #336).
// Writers are serialised; an import is one large transaction anyway.
import { EventEmitter } from 'node:events';
import { sql, type Kysely, type Transaction } from 'kysely';
import type { Database, MigrationSet } from './database.ts';
import { payloadHash } from './canonical.ts';
import {
  EventIdConflict,
  ExpectedVersionConflict,
  type AppendResult,
  type EventStore,
  type EventToAppend,
  type ExpectedVersion,
  type ReadAllOptions,
  type RecordedEvent,
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
};

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
}

export function createSqlEventStore(database: Database, options: SqlEventStoreOptions = {}): SqlEventStore {
  return new SqlEventStore(database, options);
}

export class SqlEventStore implements EventStore {
  readonly name: string;
  readonly capabilities = { atomicMultiStreamAppend: true, durableIdempotency: true } as const;
  private readonly db: Kysely<any>;
  private readonly appended = new EventEmitter();

  constructor(readonly database: Database, private readonly options: SqlEventStoreOptions = {}) {
    this.db = database.db;
    this.name = database.engine === 'postgres' ? 'PostgreSQL' : 'PGlite';
    this.appended.setMaxListeners(0);
  }

  async append(streamId: string, events: readonly EventToAppend[], options: { expectedVersion?: ExpectedVersion } = {}): Promise<AppendResult> {
    const [result] = await this.appendMany([{ streamId, events, expectedVersion: options.expectedVersion }]);
    return result!;
  }

  async appendMany(batches: readonly StreamAppend[]): Promise<AppendResult[]> {
    const results = await this.db.transaction().execute((trx) => this.appendInTransaction(trx, batches));
    if (results.some((r) => r.appended > 0)) this.appended.emit('appended');
    return results;
  }

  /**
   * The append itself, inside a caller's transaction: importers use it to write events and their
   * own bookkeeping atomically. Takes the writers' lock.
   */
  async appendInTransaction(trx: Transaction<any> | Kysely<any>, batches: readonly StreamAppend[]): Promise<AppendResult[]> {
    await sql`select pg_advisory_xact_lock(${LOCK_CLASS}::int, hashtext(current_schema()))`.execute(trx);

    // Idempotency first: which of these ids are stored already, and with what content?
    const byId = new Map<string, { streamId: string; hash: string }>();
    const batchHashes: string[][] = [];
    for (const batch of batches) {
      const hashes: string[] = [];
      for (const e of batch.events) {
        const hash = payloadHash(batch.streamId, e.type, e.data);
        hashes.push(hash);
        const seen = byId.get(e.id);
        if (seen && seen.hash !== hash) {
          throw new EventIdConflict(e.id, batch.streamId, 'the same id twice in one append with different content');
        }
        byId.set(e.id, { streamId: batch.streamId, hash });
      }
      batchHashes.push(hashes);
    }
    const existing = new Map<string, { streamId: string; hash: string }>();
    const ids = [...byId.keys()];
    for (let i = 0; i < ids.length; i += 10_000) {
      const chunk = ids.slice(i, i + 10_000);
      const { rows } = await sql<{ event_id: string; stream_id: string; payload_hash: string }>`
        select event_id::text as event_id, stream_id, payload_hash from events where event_id = any(${chunk}::uuid[])`.execute(trx);
      for (const r of rows) existing.set(r.event_id, { streamId: r.stream_id, hash: r.payload_hash });
    }

    const streamIds = [...new Set(batches.map((b) => b.streamId))];
    const { rows: versionRows } = await sql<{ stream_id: string; version: number }>`
      select stream_id, max(revision) as version from events where stream_id = any(${streamIds}::text[]) group by stream_id`.execute(trx);
    const versions = new Map<string, number>(streamIds.map((s) => [s, -1]));
    for (const r of versionRows) versions.set(r.stream_id, Number(r.version));

    const results: AppendResult[] = [];
    const toInsert: { id: string; streamId: string; revision: number; type: string; data: string; metadata: string; hash: string }[] = [];
    const insertedInThisCall = new Set<string>();
    batches.forEach((batch, b) => {
      let alreadyPresent = 0;
      const fresh: { e: EventToAppend; hash: string }[] = [];
      batch.events.forEach((e, i) => {
        const hash = batchHashes[b]![i]!;
        const stored = existing.get(e.id);
        if (stored) {
          if (stored.hash !== hash) {
            throw new EventIdConflict(e.id, batch.streamId, stored.streamId !== batch.streamId ? `stored in stream ${stored.streamId}` : 'stored with other data');
          }
          alreadyPresent++;
        } else if (insertedInThisCall.has(e.id)) {
          alreadyPresent++; // the same event twice in one call (an exact duplicate row) counts once
        } else {
          insertedInThisCall.add(e.id);
          fresh.push({ e, hash });
        }
      });
      const current = versions.get(batch.streamId)!;
      const expected = batch.expectedVersion ?? 'any';
      // A retry of an append that already succeeded is a no-op, whatever version it expected.
      if (fresh.length > 0 && expected !== 'any') {
        const wanted = expected === 'no_stream' ? -1 : expected;
        if (wanted !== current) throw new ExpectedVersionConflict(batch.streamId, expected, current);
      }
      let revision = current;
      for (const { e, hash } of fresh) {
        revision++;
        toInsert.push({
          id: e.id,
          streamId: batch.streamId,
          revision,
          type: e.type,
          data: JSON.stringify(e.data),
          metadata: JSON.stringify(e.metadata ?? {}),
          hash,
        });
      }
      versions.set(batch.streamId, revision);
      results.push({ streamId: batch.streamId, version: revision, appended: fresh.length, alreadyPresent });
    });

    for (let i = 0; i < toInsert.length; i += INSERT_CHUNK) {
      const chunk = toInsert.slice(i, i + INSERT_CHUNK);
      await sql`
        insert into events (event_id, stream_id, revision, type, data, metadata, payload_hash)
        select u.id, u.stream_id, u.revision, u.type, u.data, u.metadata, u.hash
        from unnest(${chunk.map((r) => r.id)}::uuid[], ${chunk.map((r) => r.streamId)}::text[], ${chunk.map((r) => r.revision)}::int[],
                    ${chunk.map((r) => r.type)}::text[], ${chunk.map((r) => r.data)}::jsonb[], ${chunk.map((r) => r.metadata)}::jsonb[],
                    ${chunk.map((r) => r.hash)}::text[])
             with ordinality as u(id, stream_id, revision, type, data, metadata, hash, ord)
        order by u.ord`.execute(trx);
    }
    if (toInsert.length > 0) await sql`select pg_notify('ledger_events', '')`.execute(trx);
    return results;
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
    // Appends from this process wake at once; other processes' appends are seen by the poll
    // (the follower reads again after at most `timeoutMs`).
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
  }
}
