// SPEC §5 CSV downloads: jobs persisted in the `exports` table, built in the background by a worker
// that polls the table, kept 48 hours.
//
// A finished file is stored in the database as chunks of CHUNK_BYTES (export_chunks), not in a file
// under the data directory: several servers on one PostgreSQL serve each other's files with no
// shared disk, a job turns ready in the transaction that writes its last chunk (never a ready job
// without its bytes), and expiry deletes rows. A download reads one chunk at a time as the client
// takes it, so a file is never whole in the server's memory, and holds no connection between chunks.
//
// One customer cannot fill the disk or the queue: a ready file of the same contract × month × kind ×
// encoding is handed out again while its month's figures are unchanged, and a contract has at most
// EXPORT_LIMITS.pendingJobs jobs and EXPORT_LIMITS.files unexpired files at once (ExportLimitReached).
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { Writable } from 'node:stream';
import { sql, type Kysely } from 'kysely';
import type pg from 'pg';
import { to as copyTo } from 'pg-copy-streams';
import type { Logger } from 'pino';
import type { Database, MigrationSet } from '../eventstore/database.ts';
import type { Month } from '../domain/time.ts';
import type { LedgerQueries } from '../projections/read-model.ts';
import { CHARGE_TABLES } from '../projections/charges.ts';
import type { CsvFileBuilder, ExportEncoding, ExportKind } from './ports.ts';

export const exportMigrations: MigrationSet = {
  '0202-api-exports': {
    async up(db) {
      await sql`
        create table exports (
          id uuid primary key,
          contract_code text not null,
          month text not null,
          kind text not null,
          encoding text not null,
          status text not null,
          error text,
          created_at timestamptz not null,
          ready_at timestamptz,
          expires_at timestamptz not null,
          claimed_at timestamptz,
          attempts integer not null default 0,
          content bytea,
          deleted_at timestamptz
        )`.execute(db);
      // "the same month and kind while one is pending returns that job": at most one pending job per key.
      await sql`create unique index exports_one_pending on exports (contract_code, month, kind, encoding) where status = 'pending'`.execute(db);
      await sql`create index exports_by_contract on exports (contract_code, created_at)`.execute(db);
    },
    async down(db) {
      await sql`drop table exports`.execute(db);
    },
  },
  // Files in chunks instead of one bytea per row; files of the version before are moved into chunks
  // (those past their 48 hours are dropped instead). Expiry and the bounds per contract are found
  // through indexes, not by reading the table.
  '0203-api-export-chunks': {
    async up(db) {
      await sql`
        create table export_chunks (
          export_id uuid not null references exports (id) on delete cascade,
          seq integer not null,
          bytes bytea not null,
          primary key (export_id, seq)
        )`.execute(db);
      await sql`alter table exports add column bytes bigint, add column figures text`.execute(db);
      await sql`
        insert into export_chunks (export_id, seq, bytes)
        select e.id, g.seq, substring(e.content from g.seq * ${sql.lit(CHUNK_BYTES)} + 1 for ${sql.lit(CHUNK_BYTES)})
        from exports e cross join lateral generate_series(0, greatest(length(e.content) - 1, 0) / ${sql.lit(CHUNK_BYTES)}) as g(seq)
        where e.content is not null and e.deleted_at is null and e.expires_at > now()`.execute(db);
      await sql`
        update exports set bytes = case when deleted_at is null and expires_at > now() then length(content) end,
          deleted_at = case when deleted_at is null and expires_at <= now() then now() else deleted_at end,
          content = null
        where content is not null`.execute(db);
      await sql`create index exports_expiry on exports (expires_at)`.execute(db);
      await sql`create index exports_of_contract on exports (contract_code, status, expires_at)`.execute(db);
    },
  },
};

/** Bytes of one stored chunk of a file: what a download holds in memory at a time. */
export const CHUNK_BYTES = 256 * 1024;

/**
 * Per contract, at once. Two jobs: a customer asks for a file and maybe its other kind; the worker
 * builds one at a time anyway. Eight files: the four closed months of the window in both kinds, or
 * a month in every kind and encoding twice over — while each is reused, more is a loop, not a need.
 */
export const EXPORT_LIMITS = { pendingJobs: 2, files: 8 } as const;
export type ExportLimits = { readonly pendingJobs: number; readonly files: number };

/**
 * Downloads streaming at once: per process (each holds a chunk and a socket's buffers) and per
 * contract (so one customer's loop leaves room for the others). Beyond its contract's two, a
 * download waits for one of them to end (`waiting` of them, up to `waitMs`), then 429: refused at
 * once, a looping client came straight back, and that churn of refusals — not the bytes — was what
 * lengthened other customers' answers (bench/noisy.ts, pooled p99 of ten customers at work: 0.94 of
 * quiet with 2 download loops, 0.54–0.69 with 8 of which 6 were refused over and over). A waiting
 * download holds its socket, no more: not one of its contract's places in work (api/fairness.ts),
 * so that a customer whose files wait can still open its pages.
 * Beyond the process's 16, 503 at once: that is the server's bound, not the customer's.
 */
export const DOWNLOAD_LIMITS = { total: 16, perContract: 2, waiting: 2, waitMs: 30_000 } as const;
export type DownloadLimits = { readonly total: number; readonly perContract: number; readonly waiting?: number; readonly waitMs?: number };

export class DownloadGate {
  private active = 0;
  private readonly byContract = new Map<string, number>();
  /** Per contract: downloads waiting for one of its own to end, first come first served. */
  private readonly waiters = new Map<string, ((release: () => void) => void)[]>();
  /** Per contract: when its downloads may send their next bytes (performance.now() ms). */
  private readonly paceAt = new Map<string, number>();
  constructor(
    readonly limits: DownloadLimits = DOWNLOAD_LIMITS,
    /** A contract's downloads together, bytes per second at most (the benchmark changes it between its loads). */
    public bytesPerSecond: number = DOWNLOAD_BYTES_PER_SECOND,
  ) {}

  /**
   * A release function once the download may start — at once, or when one of its contract's
   * downloads has ended — or which bound it would pass: 'contract' when as many already wait (or
   * the wait ran out, or `signal` aborted it: the customer went away), 'total' at once.
   */
  async take(contractCode: string, signal?: AbortSignal): Promise<(() => void) | 'contract' | 'total'> {
    const now = this.enter(contractCode);
    if (now !== 'contract') return now;
    const queue = this.waiters.get(contractCode) ?? [];
    if (queue.length >= (this.limits.waiting ?? 0) || signal?.aborted) return 'contract';
    return new Promise((resolve) => {
      const handOver = (release: () => void) => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', giveUp);
        resolve(release);
      };
      const giveUp = () => {
        const left = (this.waiters.get(contractCode) ?? []).filter((w) => w !== handOver);
        if (left.length > 0) this.waiters.set(contractCode, left);
        else this.waiters.delete(contractCode);
        clearTimeout(timer);
        signal?.removeEventListener('abort', giveUp);
        resolve('contract');
      };
      const timer = setTimeout(giveUp, this.limits.waitMs ?? DOWNLOAD_LIMITS.waitMs);
      timer.unref();
      signal?.addEventListener('abort', giveUp, { once: true });
      queue.push(handOver);
      this.waiters.set(contractCode, queue);
    });
  }

  /** A release function for a download that may start, or which bound it would pass. */
  enter(contractCode: string): (() => void) | 'contract' | 'total' {
    const mine = this.byContract.get(contractCode) ?? 0;
    if (mine >= this.limits.perContract) return 'contract';
    if (this.active >= this.limits.total) return 'total';
    this.active++;
    this.byContract.set(contractCode, mine + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.active--;
      const left = (this.byContract.get(contractCode) ?? 1) - 1;
      if (left > 0) this.byContract.set(contractCode, left);
      else this.byContract.delete(contractCode);
      // The place goes to the contract's first waiting download, if any.
      const queue = this.waiters.get(contractCode);
      const next = queue?.shift();
      if (queue && queue.length === 0) this.waiters.delete(contractCode);
      if (next) {
        const release = this.enter(contractCode);
        if (typeof release === 'function') return next(release);
        queue!.unshift(next);
        this.waiters.set(contractCode, queue!);
      }
      if (left === 0 && (this.paceAt.get(contractCode) ?? 0) <= performance.now()) this.paceAt.delete(contractCode);
    };
  }

  /**
   * How long to wait before sending `bytes` more of one of the contract's downloads, and books
   * them: the contract's downloads share its pace, so a second download halves the first's.
   */
  delayFor(contractCode: string, bytes: number, now = performance.now()): number {
    const at = Math.max(now, this.paceAt.get(contractCode) ?? 0);
    this.paceAt.set(contractCode, at + (bytes / this.bytesPerSecond) * 1000);
    return at - now;
  }

  get downloads(): number {
    return this.active;
  }
}

/** How long an expired job is still known (410 rather than 404) after its bytes are deleted. */
export const EXPIRED_KEPT_MS = 7 * 24 * 3_600_000;

/** A contract has as many jobs or files as it may have at once. */
export class ExportLimitReached extends Error {
  readonly code = 'TOO_MANY_EXPORTS';
  constructor(
    readonly what: 'pendingJobs' | 'files',
    readonly limit: number,
  ) {
    super(
      what === 'pendingJobs'
        ? `${limit} files are being created for this contract already; ask again when one is ready`
        : `this contract keeps ${limit} files already (each for 48 hours); ask again when one has expired`,
    );
  }
}

/** SPEC §5: a created file is kept 48 hours. */
export const EXPORT_RETENTION_MS = 48 * 3_600_000;

export type ExportStatus = 'pending' | 'ready' | 'failed';

export interface ExportJob {
  readonly id: string;
  readonly contractCode: string;
  readonly month: Month;
  readonly kind: ExportKind;
  readonly encoding: ExportEncoding;
  readonly status: ExportStatus;
  readonly error: string | null;
  readonly createdAt: Date;
  readonly readyAt: Date | null;
  readonly expiresAt: Date;
  readonly deleted: boolean;
  /** Size of the file once ready. */
  readonly bytes: number | null;
}

interface ExportRow {
  id: string;
  contract_code: string;
  month: string;
  kind: string;
  encoding: string;
  status: string;
  error: string | null;
  created_at: Date | string;
  ready_at: Date | string | null;
  expires_at: Date | string;
  deleted_at: Date | string | null;
  bytes: string | number | null;
}

const COLUMNS = sql`id::text as id, contract_code, month, kind, encoding, status, error, created_at, ready_at, expires_at, deleted_at, bytes`;

function toJob(r: ExportRow): ExportJob {
  return {
    id: r.id,
    contractCode: r.contract_code,
    month: r.month,
    kind: r.kind as ExportKind,
    encoding: r.encoding as ExportEncoding,
    status: r.status as ExportStatus,
    error: r.error,
    createdAt: new Date(r.created_at),
    readyAt: r.ready_at === null ? null : new Date(r.ready_at),
    expiresAt: new Date(r.expires_at),
    deleted: r.deleted_at !== null,
    bytes: r.bytes === null ? null : Number(r.bytes),
  };
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * The month's figures as the monthly totals hold them, as one digest: a file made when they were
 * the same has the same content (SPEC §7's rows come from the same calls), so it is handed out
 * again; a provisional month that has moved gets a new file.
 */
async function monthFigures(db: Kysely<any>, contractCode: string, month: Month): Promise<string> {
  const { rows } = await sql<{ figures: string | null }>`
    select md5(string_agg(number || ' ' || category || ' ' || normal::text || ' ' || billed::text || ' ' || calls::text, ',' order by number, category)) as figures
    from ${sql.table(CHARGE_TABLES.monthly)} where contract_code = ${contractCode} and billing_month = ${month}`.execute(db);
  return rows[0]?.figures ?? 'none';
}

/**
 * The file to hand out for this contract × month × kind × encoding: a ready one made from the same
 * figures and not expired (`reused`), the pending one, or a new pending job — unless the contract
 * is at its bounds (ExportLimitReached). Serialised per contract (an advisory lock for the
 * transaction), so two requests at once cannot both pass the bounds.
 */
export async function requestExport(
  db: Kysely<any>,
  input: { contractCode: string; month: Month; kind: ExportKind; encoding: ExportEncoding },
  now: Date,
  limits: ExportLimits = EXPORT_LIMITS,
): Promise<{ job: ExportJob; created: boolean; reused: boolean }> {
  const at = now.toISOString();
  return db.transaction().execute(async (trx) => {
    await sql`select pg_advisory_xact_lock(${EXPORT_LOCK_CLASS}, hashtext(${input.contractCode}))`.execute(trx);
    const figures = await monthFigures(trx, input.contractCode, input.month);
    const { rows: same } = await sql<ExportRow>`
      select ${COLUMNS} from exports
      where contract_code = ${input.contractCode} and month = ${input.month} and kind = ${input.kind} and encoding = ${input.encoding}
        and (status = 'pending' or (status = 'ready' and figures = ${figures} and deleted_at is null and expires_at > ${at}::timestamptz))
      order by status = 'pending' desc, created_at desc
      limit 1`.execute(trx);
    if (same[0]) return { job: toJob(same[0]), created: false, reused: same[0].status === 'ready' };
    const { rows: counts } = await sql<{ pending: string; files: string }>`
      select count(*) filter (where status = 'pending')::text as pending,
        count(*) filter (where status = 'ready')::text as files
      from exports
      where contract_code = ${input.contractCode} and status in ('pending', 'ready') and expires_at > ${at}::timestamptz and deleted_at is null`.execute(trx);
    if (Number(counts[0]!.pending) >= limits.pendingJobs) throw new ExportLimitReached('pendingJobs', limits.pendingJobs);
    if (Number(counts[0]!.files) >= limits.files) throw new ExportLimitReached('files', limits.files);
    const { rows } = await sql<ExportRow>`
      insert into exports (id, contract_code, month, kind, encoding, status, created_at, expires_at, figures)
      values (${randomUUID()}::uuid, ${input.contractCode}, ${input.month}, ${input.kind}, ${input.encoding}, 'pending',
              ${at}::timestamptz, ${new Date(now.getTime() + EXPORT_RETENTION_MS).toISOString()}::timestamptz, ${figures})
      returning ${COLUMNS}`.execute(trx);
    return { job: toJob(rows[0]!), created: true, reused: false };
  });
}

const EXPORT_LOCK_CLASS = 0x45585054; // 'EXPT'

/** The job, only when it belongs to the contract (another contract's id is not found). */
export async function findExport(db: Kysely<any>, contractCode: string, id: string): Promise<ExportJob | undefined> {
  if (!UUID.test(id)) return undefined;
  const { rows } = await sql<ExportRow>`select ${COLUMNS} from exports where id = ${id}::uuid and contract_code = ${contractCode}`.execute(db);
  return rows[0] ? toJob(rows[0]) : undefined;
}

/** The newest job of each kind for a contract's month (the portal's ダウンロード page), newest first. */
export async function latestExports(db: Kysely<any>, contractCode: string, month: Month): Promise<ExportJob[]> {
  const { rows } = await sql<ExportRow>`
    select distinct on (kind) ${COLUMNS} from exports
    where contract_code = ${contractCode} and month = ${month}
    order by kind, created_at desc, id`.execute(db);
  return rows.map(toJob).sort((a, b) => b.createdAt.getTime() - a.createdAt.getTime());
}

/** The newest job of each kind for each of several months, in one query (the portal's monthly table picks its buttons from them). */
export async function latestExportsOf(db: Kysely<any>, contractCode: string, months: readonly Month[]): Promise<Map<Month, Partial<Record<ExportKind, ExportJob>>>> {
  const { rows } = await sql<ExportRow>`
    select distinct on (month, kind) ${COLUMNS} from exports
    where contract_code = ${contractCode} and month = any(${[...months]}::text[])
    order by month, kind, created_at desc, id`.execute(db);
  const out = new Map<Month, Partial<Record<ExportKind, ExportJob>>>();
  for (const job of rows.map(toJob)) out.set(job.month, { ...out.get(job.month), [job.kind]: job });
  return out;
}

export function isExpired(job: ExportJob, now: Date): boolean {
  return job.deleted || job.expiresAt.getTime() <= now.getTime();
}

/** Reads chunk `seq` of a file: undefined past its end (or once it has been deleted). */
export type ChunkReader = (id: string, seq: number) => Promise<Uint8Array | undefined>;

/**
 * Reads a file's chunks from the database it is stored in, through its downloads' lane
 * (Database.forDownloads): a connection for one chunk at a time, never one of the requests' pool.
 *
 * On PostgreSQL a chunk comes as a binary COPY: `pg` reads every column of a result as text, so a
 * `select bytes` sends the chunk as hex (twice its size, encoded by the server) and decodes it
 * into a JavaScript string and back into bytes — measured at a quarter of the server's CPU while
 * one customer downloaded in a loop (bench/noisy.ts). COPY's data reaches the client as the bytes
 * themselves.
 */
export function chunkReader(database: Database): ChunkReader {
  const lane = database.forDownloads();
  const pool = lane.engine === 'postgres' ? lane.pool : undefined;
  if (pool) return (id, seq) => readChunkByCopy(pool, id, seq);
  return async (id, seq) => {
    const { rows } = await sql<{ bytes: Uint8Array }>`select bytes from export_chunks where export_id = ${id}::uuid and seq = ${seq}`.execute(lane.db);
    return rows[0]?.bytes;
  };
}

/** PGCOPY's binary header: signature (11 bytes), flags (int32), header extension length (int32). */
const COPY_SIGNATURE = Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1');

/** The most one chunk's COPY may take before its connection is given up (a server that stopped answering). */
export const CHUNK_READ_MS = 20_000;

async function readChunkByCopy(pool: pg.Pool, id: string, seq: number): Promise<Uint8Array | undefined> {
  if (!UUID.test(id) || !Number.isSafeInteger(seq) || seq < 0) return undefined;
  const client = await pool.connect();
  let finished = false;
  // COPY takes no parameters: the id is a checked UUID and seq an integer.
  const copy = client.query(copyTo(`copy (select bytes from export_chunks where export_id = '${id}' and seq = ${seq}) to stdout (format binary)`));
  const timer = setTimeout(() => copy.destroy(new Error('Query read timeout')), CHUNK_READ_MS);
  try {
    const parts: Buffer[] = [];
    for await (const part of copy as AsyncIterable<Buffer>) parts.push(part);
    finished = true;
    return fieldOfBinaryCopy(parts.length === 1 ? parts[0]! : Buffer.concat(parts));
  } finally {
    clearTimeout(timer);
    // Stopped half way (the connection is mid-COPY): closed, not given back.
    client.release(finished ? undefined : true);
  }
}

/** The one field of the one row of a binary COPY, or undefined when it has no row. */
export function fieldOfBinaryCopy(data: Buffer): Uint8Array | undefined {
  if (data.length < 19 || !data.subarray(0, 11).equals(COPY_SIGNATURE)) throw new Error('not a binary COPY');
  let at = 15 + 4 + data.readUInt32BE(15);
  const fields = data.readInt16BE(at);
  if (fields === -1) return undefined;
  if (fields !== 1) throw new Error(`binary COPY row of ${fields} fields, expected 1`);
  const length = data.readInt32BE(at + 2);
  at += 6;
  if (length < 0 || at + length > data.length) throw new Error('binary COPY field cut short');
  return data.subarray(at, at + length);
}

/**
 * A contract's downloads together send 4 MiB/s at most (32 Mbit/s: a 200,000-call month's file,
 * 15 MB, in 4 s; 1M calls in 19 s). Every byte sent costs the server and the database CPU that the
 * other customers' requests need: in bench/noisy.ts, one customer downloading in 8 loops left
 * another 0.09–0.27 of its quiet throughput at 16 MiB/s per download, 0.35–0.42 at 4 MiB/s per
 * download and 0.84 at 2 MiB/s per download (its 2 downloads: 4 MiB/s), same run.
 */
export const DOWNLOAD_BYTES_PER_SECOND = 4 * 1024 * 1024;

/**
 * The file as a stream that reads its next chunk only when the client has taken the one before
 * (pull): one chunk in memory per download, no connection held between two chunks, each chunk
 * sent when `delayFor` (the contract's pace, DownloadGate.delayFor) says.
 */
export function exportStream(read: ChunkReader, id: string, onEnd: () => void = () => {}, delayFor: (bytes: number) => number = () => 0): ReadableStream<Uint8Array> {
  let seq = 0;
  let ended = false;
  const end = () => {
    if (ended) return;
    ended = true;
    onEnd();
  };
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        try {
          const chunk = await read(id, seq++);
          if (chunk) {
            // Paced by the bytes sent; the end is found without waiting, so the place is free at once.
            const wait = delayFor(chunk.byteLength);
            if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
            controller.enqueue(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength));
          } else {
            end();
            controller.close();
          }
        } catch (e) {
          end();
          controller.error(e);
        }
      },
      cancel() {
        end();
      },
    },
    { highWaterMark: 0 },
  );
}

/**
 * Deletes the bytes of every file past its 48 hours (the job stays, so that its id answers 410),
 * then the jobs expired for EXPIRED_KEPT_MS; returns how many files were deleted. Both through
 * the index on expires_at, at most `batch` jobs a call.
 */
export async function purgeExpiredExports(db: Kysely<any>, now: Date, batch = 500): Promise<number> {
  const at = now.toISOString();
  const { rows } = await sql<{ id: string }>`
    with due as (
      select id from exports
      where expires_at <= ${at}::timestamptz and deleted_at is null
      order by expires_at limit ${batch}
      for update skip locked
    ), chunks as (
      delete from export_chunks where export_id in (select id from due)
    )
    update exports set deleted_at = ${at}::timestamptz, content = null
    where id in (select id from due)
    returning id::text as id`.execute(db);
  await sql`
    delete from exports where id in (
      select id from exports where expires_at <= ${new Date(now.getTime() - EXPIRED_KEPT_MS).toISOString()}::timestamptz
      order by expires_at limit ${batch})`.execute(db);
  return rows.length;
}

// ---- the worker -------------------------------------------------------------------------------

export interface ExportWorkerOptions {
  readonly db: Kysely<any>;
  readonly queries: LedgerQueries;
  readonly build: CsvFileBuilder;
  readonly clock: () => Date;
  readonly logger?: Logger;
  /** Poll interval. Default 1 s. */
  readonly pollMs?: number;
  /** A claim older than this belongs to a worker that died: the job is taken again. Default 2 min. */
  readonly claimTimeoutMs?: number;
  /** Failed builds are retried this many times before the job is marked failed. Default 3. */
  readonly maxAttempts?: number;
}

export class ExportWorker {
  constructor(private readonly options: ExportWorkerOptions) {}

  /** Takes one pending job and builds it; false when there was none. */
  async runOnce(): Promise<boolean> {
    const { db, clock } = this.options;
    const now = clock();
    const stale = new Date(now.getTime() - (this.options.claimTimeoutMs ?? 120_000));
    const { rows } = await sql<ExportRow & { attempts: number }>`
      update exports set claimed_at = ${now.toISOString()}::timestamptz, attempts = attempts + 1
      where id = (
        select id from exports
        where status = 'pending' and (claimed_at is null or claimed_at <= ${stale.toISOString()}::timestamptz)
        order by created_at, id
        limit 1
        for update skip locked)
      returning ${COLUMNS}, attempts`.execute(db);
    const row = rows[0];
    if (!row) return false;
    const job = toJob(row);
    const log = this.options.logger?.child({ exportId: job.id });
    const maxAttempts = this.options.maxAttempts ?? 3;
    if (row.attempts > maxAttempts) {
      // Claimed that often without ending ready or failed: each build stopped the process (out of
      // memory, killed) or outlived its claim. Not tried again at every restart.
      log?.error({ attempts: row.attempts - 1 }, 'export given up: its build never finished');
      await this.fail(job.id, `the file could not be created: its build stopped ${maxAttempts} times before finishing; please ask for it again later`);
      return true;
    }
    let stored: ChunkStore | undefined;
    try {
      // Chunks of an attempt that stopped half way are replaced.
      await sql`delete from export_chunks where export_id = ${job.id}::uuid`.execute(db);
      stored = new ChunkStore(db, job.id);
      const input = { queries: this.options.queries, contractCode: job.contractCode, month: job.month, kind: job.kind, encoding: job.encoding };
      const answered = await this.options.build(input, stored);
      if (answered instanceof Uint8Array) await stored.put(answered);
      await stored.finish();
      const readyAt = clock();
      await db.transaction().execute(async (trx) => {
        // The job turns ready in one statement with a check that its chunks are the ones this
        // build wrote (another worker that took the job over may have replaced them).
        const { rows: done } = await sql`
          update exports set status = 'ready', bytes = ${stored!.bytes}, ready_at = ${readyAt.toISOString()}::timestamptz,
            expires_at = ${new Date(readyAt.getTime() + EXPORT_RETENTION_MS).toISOString()}::timestamptz, claimed_at = null
          where id = ${job.id}::uuid and status = 'pending'
            and (select count(*) from export_chunks where export_id = ${job.id}::uuid) = ${stored!.chunks}
            and (select coalesce(sum(length(bytes)), 0) from export_chunks where export_id = ${job.id}::uuid) = ${stored!.bytes}
          returning id`.execute(trx);
        if (done.length === 0) throw new JobGone();
      }).catch((e: unknown) => {
        if (!(e instanceof JobGone)) throw e;
      });
      log?.info({ kind: job.kind, month: job.month, bytes: stored.bytes, chunks: stored.chunks }, 'export ready');
    } catch (e) {
      const message = e instanceof Error ? e.message : String(e);
      const coded = hasDomainCode(e);
      const giveUp = coded || row.attempts >= maxAttempts;
      log?.warn({ err: e, attempts: row.attempts, giveUp }, 'export failed');
      stored?.destroy();
      // A build that stopped leaves no chunks behind (a retry writes them again).
      await sql`delete from export_chunks where export_id = ${job.id}::uuid and exists (select 1 from exports where id = ${job.id}::uuid and status = 'pending')`.execute(db).catch(() => {});
      if (giveUp) {
        // A coded error (an unmappable character, a rule) says something the customer can act on;
        // anything else is ours and is not described to them.
        await this.fail(job.id, coded ? message : `the file could not be created (${row.attempts} attempts); please ask for it again later`);
      } else {
        await sql`update exports set claimed_at = null where id = ${job.id}::uuid`.execute(db);
      }
    }
    return true;
  }

  private async fail(id: string, reason: string): Promise<void> {
    await sql`update exports set status = 'failed', error = ${reason}, claimed_at = null where id = ${id}::uuid and status = 'pending'`.execute(this.options.db);
  }

  /** Polls until the signal aborts: builds every pending job, deletes expired files. */
  async run(signal: AbortSignal): Promise<void> {
    const pollMs = this.options.pollMs ?? 1000;
    let purgedAt = 0;
    while (!signal.aborted) {
      try {
        // Expiry is a matter of hours: once a minute is enough (an expired id answers 410 anyway).
        if (Date.now() - purgedAt >= 60_000) {
          await purgeExpiredExports(this.options.db, this.options.clock());
          purgedAt = Date.now();
        }
        while (!signal.aborted && (await this.runOnce()));
      } catch (e) {
        this.options.logger?.error({ err: e }, 'export worker poll failed');
      }
      await sleep(pollMs, signal);
    }
  }
}

/** The job stopped being pending while it was built (another worker finished it first). */
class JobGone extends Error {}

/**
 * Where a file being built goes: a Writable that stores each CHUNK_BYTES it is given as the file's
 * next chunk (a statement of its own on the work pool) before it takes more, so a build holds at
 * most about two chunks in memory (the part of a chunk gathered, and the writes its back-pressure
 * lets through), whatever the file's size.
 */
export class ChunkStore extends Writable {
  private gathered: Buffer[] = [];
  private gatheredBytes = 0;
  /** Chunks stored so far. */
  chunks = 0;
  /** Bytes stored so far. */
  bytes = 0;

  constructor(
    private readonly db: Kysely<any>,
    private readonly id: string,
  ) {
    super({ highWaterMark: CHUNK_BYTES });
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, done: (error?: Error | null) => void): void {
    this.gathered.push(chunk);
    this.gatheredBytes += chunk.length;
    this.storeFull().then(() => done(), done);
  }

  override _final(done: (error?: Error | null) => void): void {
    // A file has at least one chunk (an empty file: one empty chunk), as downloads expect.
    const rest = this.take(this.gatheredBytes);
    (rest.length > 0 || this.chunks === 0 ? this.store(rest) : Promise.resolve()).then(() => done(), done);
  }

  /** Writes the whole of `bytes` (a builder that answered the file instead of writing it). */
  async put(bytes: Uint8Array): Promise<void> {
    for (let at = 0; at < bytes.byteLength; at += CHUNK_BYTES) {
      if (!this.write(Buffer.from(bytes.buffer, bytes.byteOffset + at, Math.min(CHUNK_BYTES, bytes.byteLength - at)))) await once(this, 'drain');
    }
  }

  /** Ends the file and waits until its last chunk is stored. */
  async finish(): Promise<void> {
    if (this.errored) throw this.errored;
    if (this.writableFinished) return;
    await new Promise<void>((resolve, reject) => {
      this.once('error', reject);
      this.end((e?: Error | null) => (e ? reject(e) : resolve()));
    });
  }

  private async storeFull(): Promise<void> {
    while (this.gatheredBytes >= CHUNK_BYTES) await this.store(this.take(CHUNK_BYTES));
  }

  private take(n: number): Buffer {
    const all = this.gathered.length === 1 ? this.gathered[0]! : Buffer.concat(this.gathered, this.gatheredBytes);
    const out = all.subarray(0, n);
    const rest = all.subarray(n);
    this.gathered = rest.length > 0 ? [rest] : [];
    this.gatheredBytes = rest.length;
    return out;
  }

  private async store(bytes: Buffer): Promise<void> {
    await sql`insert into export_chunks (export_id, seq, bytes) values (${this.id}::uuid, ${this.chunks}, ${bytes})`.execute(this.db);
    this.chunks++;
    this.bytes += bytes.length;
  }
}

/** A domain code (`UNMAPPABLE_CHARACTER`), not a system one (`ECONNRESET`, `ERR_…`). */
function hasDomainCode(e: unknown): boolean {
  const code = e !== null && typeof e === 'object' ? (e as { code?: unknown }).code : undefined;
  return typeof code === 'string' && /^[A-Z]+(_[A-Z0-9]+)+$/.test(code) && !code.startsWith('ERR_');
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}
