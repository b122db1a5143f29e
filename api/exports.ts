// SPEC §5 CSV downloads: jobs persisted in the `exports` table, built in the background by a worker
// that polls the table, kept 48 hours.
//
// The finished file is stored in the row (bytea), not in a file under the data directory: the job
// turns ready and gets its content in one UPDATE, so there is never a ready job without a file or a
// file without a job; several servers on one PostgreSQL serve each other's files; expiry is one
// UPDATE that drops the bytes. A file is one contract's month (kilobytes to a few megabytes), small
// enough to hold in memory while it is built and sent.
import { randomUUID } from 'node:crypto';
import { sql, type Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { MigrationSet } from '../eventstore/database.ts';
import type { Month } from '../domain/time.ts';
import type { LedgerQueries } from '../projections/read-model.ts';
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
};

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
}

const COLUMNS = sql`id::text as id, contract_code, month, kind, encoding, status, error, created_at, ready_at, expires_at, deleted_at`;

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
  };
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** A new pending job, or the pending job already asked for with the same contract, month, kind and encoding. */
export async function requestExport(
  db: Kysely<any>,
  input: { contractCode: string; month: Month; kind: ExportKind; encoding: ExportEncoding },
  now: Date,
): Promise<{ job: ExportJob; created: boolean }> {
  for (let attempt = 0; attempt < 5; attempt++) {
    const { rows } = await sql<ExportRow>`
      insert into exports (id, contract_code, month, kind, encoding, status, created_at, expires_at)
      values (${randomUUID()}::uuid, ${input.contractCode}, ${input.month}, ${input.kind}, ${input.encoding}, 'pending',
              ${now.toISOString()}::timestamptz, ${new Date(now.getTime() + EXPORT_RETENTION_MS).toISOString()}::timestamptz)
      on conflict (contract_code, month, kind, encoding) where status = 'pending' do nothing
      returning ${COLUMNS}`.execute(db);
    if (rows[0]) return { job: toJob(rows[0]), created: true };
    const { rows: pending } = await sql<ExportRow>`
      select ${COLUMNS} from exports
      where contract_code = ${input.contractCode} and month = ${input.month} and kind = ${input.kind}
        and encoding = ${input.encoding} and status = 'pending'`.execute(db);
    // The pending job may have finished between the two statements: then ask again.
    if (pending[0]) return { job: toJob(pending[0]), created: false };
  }
  throw new Error('could not create or find an export job');
}

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

export async function exportContent(db: Kysely<any>, id: string): Promise<Uint8Array | undefined> {
  const { rows } = await sql<{ content: Uint8Array | null }>`select content from exports where id = ${id}::uuid`.execute(db);
  const content = rows[0]?.content;
  return content == null ? undefined : content;
}

/** Deletes the files of every job past its 48 hours; returns how many were deleted. */
export async function purgeExpiredExports(db: Kysely<any>, now: Date): Promise<number> {
  const { rows } = await sql<{ id: string }>`
    update exports set content = null, deleted_at = ${now.toISOString()}::timestamptz
    where deleted_at is null and expires_at <= ${now.toISOString()}::timestamptz
    returning id::text as id`.execute(db);
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
    try {
      const content = await this.options.build({
        queries: this.options.queries,
        contractCode: job.contractCode,
        month: job.month,
        kind: job.kind,
        encoding: job.encoding,
      });
      const readyAt = clock();
      await sql`
        update exports set status = 'ready', content = ${Buffer.from(content.buffer, content.byteOffset, content.byteLength)},
          ready_at = ${readyAt.toISOString()}::timestamptz,
          expires_at = ${new Date(readyAt.getTime() + EXPORT_RETENTION_MS).toISOString()}::timestamptz, claimed_at = null
        where id = ${job.id}::uuid and status = 'pending'`.execute(db);
      log?.info({ kind: job.kind, month: job.month, bytes: content.byteLength }, 'export ready');
    } catch (e) {
      const message = e instanceof Error ? e.message : String(e);
      const coded = hasDomainCode(e);
      const giveUp = coded || row.attempts >= (this.options.maxAttempts ?? 3);
      log?.warn({ err: e, attempts: row.attempts, giveUp }, 'export failed');
      if (giveUp) {
        // A coded error (an unmappable character, a rule) says something the customer can act on;
        // anything else is ours and is not described to them.
        const shown = coded ? message : 'the file could not be created; please ask for it again later';
        await sql`update exports set status = 'failed', error = ${shown}, claimed_at = null where id = ${job.id}::uuid and status = 'pending'`.execute(db);
      } else {
        await sql`update exports set claimed_at = null where id = ${job.id}::uuid`.execute(db);
      }
    }
    return true;
  }

  /** Polls until the signal aborts: builds every pending job, deletes expired files. */
  async run(signal: AbortSignal): Promise<void> {
    const pollMs = this.options.pollMs ?? 1000;
    while (!signal.aborted) {
      try {
        await purgeExpiredExports(this.options.db, this.options.clock());
        while (!signal.aborted && (await this.runOnce()));
      } catch (e) {
        this.options.logger?.error({ err: e }, 'export worker poll failed');
      }
      await sleep(pollMs, signal);
    }
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
