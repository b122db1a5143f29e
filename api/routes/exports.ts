// SPEC §5 CSV downloads: ask for a file (作成), watch its status, download it (ダウンロード).
import { OpenAPIHono, createRoute, z } from '@hono/zod-openapi';
import { isExportBlackoutDay } from '../../domain/time.ts';
import { ApiError } from '../errors.ts';
import type { AppEnv, RouteDeps } from '../env.ts';
import { requireSession } from '../auth.ts';
import type { LanePlace } from '../fairness.ts';
import { errors, IsoTime, RequestText, utf8Json, validationHook } from '../schemas.ts';
import { isoJapan } from '../format.ts';
import { requirePortalMonth } from '../window.ts';
import { chunkReader, EXPORT_LIMITS, ExportLimitReached, exportStream, findExport, isExpired, purgeExpiredExports, requestExport, type ExportJob } from '../exports.ts';
import type { ExportEncoding, ExportKind } from '../ports.ts';

const ExportRequest = z.object({
  month: z.string().regex(/^\d{4}-(0[1-9]|1[0-2])$/, 'expected a month YYYY-MM').openapi({ example: '2017-11' }),
  kind: z.enum(['numbers', 'calls']).openapi({ description: 'numbers: 電話番号別ご利用料金 (SPEC §7.1); calls: 通話明細 (SPEC §7.2)' }),
  encoding: z.enum(['sjis', 'utf-8']).default('sjis').openapi({ description: 'Shift_JIS (CP932, CRLF) or UTF-8 with BOM' }),
});

const ExportStatusSchema = z
  .object({
    id: z.string(),
    month: z.string(),
    kind: z.enum(['numbers', 'calls']),
    encoding: z.enum(['sjis', 'utf-8']),
    status: z.enum(['pending', 'ready', 'failed']),
    createdAt: IsoTime,
    expiresAt: IsoTime,
    error: z.string().optional(),
  })
  .openapi('Export');

const IdParam = z.object({ id: RequestText(64).openapi({ param: { name: 'id', in: 'path' } }) });
const security = [{ session: [] }];

const createExport = createRoute({
  method: 'post',
  path: '/exports',
  operationId: 'createExport',
  summary: 'Ask for a CSV file to be created (作成); built in the background',
  security,
  request: { body: { required: true, content: { 'application/json': { schema: ExportRequest } } } },
  responses: {
    200: { description: 'a ready file of the same month, kind and encoding, made from the same figures and not expired: handed out again (same id, same 48 hours)', content: { 'application/json': { schema: ExportStatusSchema } } },
    202: { description: 'the job (the pending one with the same month, kind and encoding if there is one)', content: { 'application/json': { schema: ExportStatusSchema } } },
    ...errors(400, 401, 404, 413, 415, 429, 503),
  },
});

const exportStatus = createRoute({
  method: 'get',
  path: '/exports/{id}',
  operationId: 'getExport',
  summary: 'The status of a CSV file',
  security,
  request: { params: IdParam },
  responses: { 200: { description: 'status', content: { 'application/json': { schema: ExportStatusSchema } } }, ...errors(401, 404, 410) },
});

const exportFile = createRoute({
  method: 'get',
  path: '/exports/{id}/file',
  operationId: 'downloadExport',
  summary: 'Download the CSV file (ダウンロード)',
  security,
  request: { params: IdParam },
  responses: {
    200: { description: 'the CSV', content: { 'text/csv': { schema: z.string().openapi({ format: 'binary' }) } } },
    ...errors(401, 404, 409, 410, 429, 503),
  },
});

const BLACKOUT_MESSAGE =
  'CSV files can be neither created nor downloaded on the 1st and on the last day of the month (Japan time); please try again tomorrow (毎月1日および末日はCSVファイルの作成・ダウンロードはできません)';

function statusJson(job: ExportJob) {
  return {
    id: job.id,
    month: job.month,
    kind: job.kind,
    encoding: job.encoding,
    status: job.status,
    createdAt: isoJapan(job.createdAt),
    expiresAt: isoJapan(job.expiresAt),
    ...(job.status === 'failed' && job.error ? { error: job.error } : {}),
  };
}

const FILE_LABELS = { numbers: '電話番号別ご利用料金', calls: '通話明細' } as const;

type ExportDeps = Pick<RouteDeps, 'db' | 'database' | 'clock' | 'downloads' | 'exportLimits'>;

function notOnBlackoutDay(deps: Pick<ExportDeps, 'clock'>): void {
  if (isExportBlackoutDay(deps.clock())) {
    throw new ApiError(503, 'EXPORT_UNAVAILABLE_TODAY', BLACKOUT_MESSAGE, undefined, { 'Retry-After': '86400' });
  }
}

const gone = (job: ExportJob) =>
  new ApiError(410, 'EXPORT_EXPIRED', `the file for ${job.month} was kept 48 hours and has been deleted (expired ${isoJapan(job.expiresAt)}); ask for it to be created again`);

/**
 * 作成: the file to hand out for one of the portal's months — a ready one made from the same figures
 * (reused), the pending one, or a new job; refused on the 1st and the last day (SPEC §5), and with
 * 429 when the contract has as many jobs or files as it may. The JSON route and the portal both use it.
 */
export async function createExportJob(deps: ExportDeps, contractCode: string, input: { month: string; kind: ExportKind; encoding: ExportEncoding }): Promise<{ job: ExportJob; reused: boolean }> {
  notOnBlackoutDay(deps);
  requirePortalMonth(input.month, deps.clock());
  try {
    const { job, reused } = await requestExport(deps.db, { contractCode, month: input.month, kind: input.kind, encoding: input.encoding }, deps.clock(), deps.exportLimits ?? EXPORT_LIMITS);
    return { job, reused };
  } catch (e) {
    if (e instanceof ExportLimitReached) {
      throw new ApiError(429, e.code, `${e.message} (しばらくしてから、もう一度お試しください)`, undefined, { 'Retry-After': e.what === 'pendingJobs' ? '60' : '3600' });
    }
    throw e;
  }
}

/**
 * ダウンロード: the file of a ready job of this contract as a stream read from the database chunk by
 * chunk, with its response headers; ApiError 404 / 409 / 410 / 503 otherwise. Beyond its
 * contract's downloads going at once it waits for one of them to end (until `signal` aborts: the
 * customer went away), and beyond the ones waiting it gets 429; 503 at once while the server sends
 * as many files as it may. The stream must be consumed or cancelled: it holds a place among the
 * downloads until then.
 */
export async function openExportFile(deps: ExportDeps, contractCode: string, id: string, lane?: LanePlace, signal?: AbortSignal): Promise<{ job: ExportJob; body: ReadableStream<Uint8Array>; headers: Record<string, string> }> {
  notOnBlackoutDay(deps);
  const now = deps.clock();
  const job = await findExport(deps.db, contractCode, id);
  if (!job) throw new ApiError(404, 'EXPORT_NOT_FOUND', 'no such export');
  if (isExpired(job, now)) {
    await purgeExpiredExports(deps.db, now);
    throw gone(job);
  }
  if (job.status === 'pending') throw new ApiError(409, 'EXPORT_NOT_READY', 'the file is still being created (作成中); try again in a moment');
  if (job.status === 'failed') throw new ApiError(409, 'EXPORT_FAILED', job.error ?? 'the file could not be created');
  // The contract's place in its lane goes with the file until its last byte (api/fairness.ts). A
  // download waiting for its turn holds no place meanwhile, neither the server's handler place nor
  // its contract's: a customer whose files wait can still open its pages.
  const backInLane = lane?.setAside();
  const release = await deps.downloads.take(contractCode, signal);
  if (release === 'contract') {
    throw new ApiError(429, 'TOO_MANY_DOWNLOADS', `at most ${deps.downloads.limits.perContract} downloads at once per contract, and ${deps.downloads.limits.waiting ?? 0} waiting (しばらくしてから、もう一度お試しください)`, undefined, { 'Retry-After': '5' });
  }
  if (release === 'total') throw new ApiError(503, 'DOWNLOADS_BUSY', 'the server is sending as many files as it can; try again in a moment', undefined, { 'Retry-After': '5' });
  const keptPlace = backInLane?.();
  const ended = () => {
    release();
    keptPlace?.();
  };
  const ascii = `${contractCode}_${job.month}_${job.kind}.csv`;
  const label = `${FILE_LABELS[job.kind]}_${job.month.replace('-', '')}.csv`;
  return {
    job,
    body: exportStream(chunkReader(deps.database), job.id, ended, (bytes) => deps.downloads.delayFor(contractCode, bytes)),
    headers: {
      'Content-Type': job.encoding === 'sjis' ? 'text/csv; charset=Shift_JIS' : 'text/csv; charset=utf-8',
      'Content-Disposition': `attachment; filename="${ascii}"; filename*=UTF-8''${encodeURIComponent(label)}`,
      'Cache-Control': 'no-store',
      ...(job.bytes !== null ? { 'Content-Length': String(job.bytes) } : {}),
    },
  };
}

export function exportRoutes(deps: RouteDeps) {
  const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });
  const session = requireSession(deps);

  app.openapi({ ...createExport, middleware: [session, utf8Json] as const }, async (c) => {
    const { contractCode } = c.get('session');
    const body = c.req.valid('json');
    const { job, reused } = await createExportJob(deps, contractCode, body);
    return reused ? c.json(statusJson(job), 200) : c.json(statusJson(job), 202);
  });

  app.openapi({ ...exportStatus, middleware: [session] as const }, async (c) => {
    const { contractCode } = c.get('session');
    const job = await findExport(deps.db, contractCode, c.req.valid('param').id);
    if (!job) throw new ApiError(404, 'EXPORT_NOT_FOUND', 'no such export');
    if (isExpired(job, deps.clock())) throw gone(job);
    return c.json(statusJson(job), 200);
  });

  app.openapi({ ...exportFile, middleware: [session] as const }, async (c) => {
    const { contractCode } = c.get('session');
    const file = await openExportFile(deps, contractCode, c.req.valid('param').id, c.get('lane'), c.req.raw.signal);
    for (const [name, value] of Object.entries(file.headers)) c.header(name, value);
    return c.body(file.body, 200) as never;
  });

  return app;
}
