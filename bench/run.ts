// `npm run bench` — the ledger against its physical limits, each figure beside a baseline measured
// in the same run (the machine is noisy: compare ratios). Prints one table (and writes it to
// bench/out/results.md). Sizes on PostgreSQL: import and export at 50,000, 200,000 and BENCH_CALLS
// (default 1,000,000; --quick: 10,000 and 50,000; BENCH_SIZES=a,b,c to choose), each in a fresh
// schema; catch-up, rebuild and the portal at the largest. BENCH_PGLITE_CALLS (default 50,000;
// --quick 5,000) on the embedded store.
import { spawn } from 'node:child_process';
import { createReadStream, createWriteStream, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { PassThrough } from 'node:stream';
import { stringify } from 'csv-stringify';
import iconv from 'iconv-lite';
import pg from 'pg';
import { from as copyFrom, to as copyTo } from 'pg-copy-streams';
import { Hono } from 'hono';
import { serve as listen } from '@hono/node-server';
import { sql } from 'kysely';
import { PGlite } from '@electric-sql/pglite';
import { addMonths, japanMonthAt } from '../domain/time.ts';
import { openLedger, type Ledger } from '../cli/context.ts';
import { configFromEnv } from '../cli/config.ts';
import { importContracts } from '../importers/contracts.ts';
import { createProjectionRunner } from '../projections/index.ts';
import { prepareServer } from '../cli/commands/serve.ts';
import { createSession, DEFAULT_SESSION_POLICY } from '../api/sessions.ts';
import { createLogger } from '../api/logger.ts';
import { CONTRACT_REQUEST_LIMITS, ContractRequestGate, type RequestLimits } from '../api/fairness.ts';
import { benchContracts, callRows, contractLines, writeCallCsv } from './generate.ts';
import { asOfOnFreshContract, measureAsOf } from './as-of.ts';
import { fmt, latenciesBySwitch, printTable, processRssMb, quantile, runJsonScript, runMeasured, SETTLE_MS, treeRssMb, type TableRow } from './measure.ts';

const quick = process.argv.includes('--quick');
const CALLS = Number(process.env.BENCH_CALLS ?? (quick ? 50_000 : 1_000_000));
/** Where start-up matters: the import and export at each size, smallest first; the largest is CALLS. */
const SIZES = [...new Set([...(process.env.BENCH_SIZES?.split(',').map(Number) ?? (quick ? [10_000] : [50_000, 200_000])), CALLS])]
  .filter((n) => Number.isSafeInteger(n) && n > 0 && n <= CALLS)
  .sort((a, b) => a - b);
const PGLITE_CALLS = Number(process.env.BENCH_PGLITE_CALLS ?? (quick ? 5_000 : 50_000));
const LOAD_SECONDS = quick ? 3 : 10;
const only = process.env.BENCH_ONLY?.split(',');
const importOnly = only?.includes('import') && !only.includes('postgres');
const DATABASE_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const root = new URL('..', import.meta.url).pathname;
const work = join(tmpdir(), `ledger-bench-${process.pid}`);
mkdirSync(work, { recursive: true });
const rows: TableRow[] = [];
const log = (line: string) => process.stderr.write(`[bench] ${line}\n`);
const month = addMonths(japanMonthAt(new Date()), -1); // a closed month inside the portal's window
const contracts = benchContracts(1);
const contract = contracts[0]!;

/** Met or not, per part of a goal with two parts: `[['rate', false], ['ratio', true]]` → "rate **no**, ratio yes". */
function metText(met: boolean | undefined | readonly (readonly [string, boolean])[]): string {
  if (met === undefined) return '—';
  if (typeof met === 'boolean') return met ? 'yes' : '**no**';
  return met.every(([, ok]) => ok) ? 'yes' : met.map(([part, ok]) => `${part} ${ok ? 'yes' : '**no**'}`).join(', ');
}

function row(what: string, size: string, figure: string, baseline: string, ratio: string, goal: string, met: boolean | undefined | readonly (readonly [string, boolean])[]): void {
  rows.push({ what, size, figure, baseline, ratio, goal, met: metText(met) });
  log(`${what}: ${figure} (baseline ${baseline}, ratio ${ratio})`);
}

/** The rows grouped by their benchmark's number (1, 2a, 2b, …), in run order within one; unnumbered ones last. */
function byBenchmark(all: readonly TableRow[]): TableRow[] {
  const rank = (what: string) => {
    const m = /^(\d+)([a-z]?)\s/.exec(what);
    return m ? Number(m[1]) * 100 + (m[2] ? m[2].charCodeAt(0) - 96 : 0) : Number.MAX_SAFE_INTEGER;
  };
  return [...all].sort((a, b) => rank(a.what) - rank(b.what));
}

function child(command: string, args: string[], env: NodeJS.ProcessEnv = {}) {
  return runMeasured(command, args, { ...process.env, ...env });
}

async function openBenchLedger(env: Record<string, string>): Promise<Ledger> {
  return openLedger(configFromEnv({ ...process.env, ...env } as NodeJS.ProcessEnv));
}

// ---- 1, 2, 3, 4 on PostgreSQL ------------------------------------------------------------------

async function postgresBenchmarks(): Promise<void> {
  for (const calls of SIZES) await postgresAtSize(calls, calls === CALLS);
  if (importOnly) return;
  // 6 at the goal's size, 100 queries: a p99 that is not only the slowest of 20.
  const asOfCalls = quick ? 10_000 : 100_000;
  log(`as-of on a fresh contract of ${fmt(asOfCalls)} calls`);
  const asOf = await asOfOnFreshContract(asOfCalls, 100);
  row('6 as-of totals of one contract (GET …/charges/:month?asOf=), PostgreSQL, 100 queries', `${fmt(asOfCalls)} calls`, `p50 ${fmt(asOf.p50)} ms, p99 ${fmt(asOf.p99)} ms (by a fold of the events: p50 ${fmt(asOf.foldP50)} ms)`, `the month now, from the projection: p50 ${fmt(asOf.projectionP50, 1)} ms`, fmt(asOf.p50 / asOf.projectionP50, 0), '≤ 200 ms p99 (100k calls)', asOf.p99 <= 200);
}

/** Import and export of `calls` calls in a schema of their own; at the largest size also catch-up, rebuild and the portal. */
async function postgresAtSize(calls: number, largest: boolean): Promise<void> {
  const schema = `bench_${process.pid}_${calls}`;
  const env = { DATABASE_URL, LEDGER_DB_SCHEMA: schema };
  const csv = join(work, `calls-${calls}.csv`);
  const size = `${fmt(calls)} calls`;
  log(`generating ${fmt(calls)} calls for ${month}`);
  await writeCallCsv(csv, contracts, calls, { months: [month] });
  const ledger = await openBenchLedger(env);
  try {
    await importContracts(ledger.store, Buffer.from(contractLines(contracts)), { name: 'bench-contracts.jsonl', credentialsDb: ledger.database.db });

    // 1. the CLI import, the whole process (the compiled CLI in dist/), vs a raw COPY of the same
    // event rows into an identically indexed table
    log(`importing ${size} through the CLI`);
    const imported = await child(process.execPath, [join(root, 'cli/bin.mjs'), 'import', 'calls', csv], env);
    if (imported.code !== 0) throw new Error(`import failed: ${imported.stderr}`);
    rmSync(csv, { force: true });
    const importRate = calls / (imported.ms / 1000);
    const pool = ledger.database.pool!;
    const copyRate = await rawCopyRate(pool, schema, calls);
    const importGoal = calls >= 200_000 ? 0.8 : 0.6;
    row('1 import (CLI process, CP932 CSV → events), PostgreSQL', size, `${fmt(importRate)} calls/s (${fmt(imported.ms / 1000, 1)} s, peak ${fmt(imported.peakRssMb)} MB)`, `raw COPY ${fmt(copyRate)} rows/s`, fmt(importRate / copyRate, 2), `≥ ${importGoal.toFixed(2)} of COPY`, importRate / copyRate >= importGoal);
    if (importOnly) return;

    // 2. projection catch-up after the import, then a full rebuild (at the largest size)
    const runner = createProjectionRunner(ledger.database, ledger.store);
    let started = performance.now();
    const applied = await runner.catchUp();
    const catchUpRate = applied / ((performance.now() - started) / 1000);

    // 6. as-of totals (the time machine) of the contract holding every call, from the projection's history
    if (calls <= 200_000) {
      const asOf = await measureAsOf(ledger, contract.contractCode, month);
      row('6 as-of totals of one contract (GET …/charges/:month?asOf=), PostgreSQL', size, `p50 ${fmt(asOf.p50)} ms, p99 ${fmt(asOf.p99)} ms (by a fold of the events: p50 ${fmt(asOf.foldP50)} ms)`, `the month now, from the projection: p50 ${fmt(asOf.projectionP50, 1)} ms`, fmt(asOf.p50 / asOf.projectionP50, 0), '— (the goal is at 100k: the 100-query row)', undefined);
    }
    if (largest) {
      const replayBaseline = await decimalReplayBaseline(pool, schema);
      row('2a projection catch-up after import, PostgreSQL', `${fmt(applied)} events`, `${fmt(catchUpRate)} ev/s`, `read + decimal sum ${fmt(replayBaseline)} ev/s`, fmt(catchUpRate / replayBaseline, 2), '—', undefined);
      started = performance.now();
      const reports = await runner.rebuild();
      const rebuilt = reports.reduce((a, r) => a + r.events, 0);
      const rebuildRate = rebuilt / ((performance.now() - started) / 1000);
      row('2b full rebuild (all projections), PostgreSQL', `${fmt(rebuilt)} events`, `${fmt(rebuildRate)} ev/s`, `read + decimal sum ${fmt(replayBaseline)} ev/s`, fmt(rebuildRate / replayBaseline, 2), '≥ 150,000 ev/s', rebuildRate >= 150_000);

      // 3. portal queries over HTTP vs a bare Hono + pg lookup, same process, 50 connections
      await httpBenchmarks(ledger, pool, schema);
    }

    // 4. call-detail export in CP932, the whole CLI process, vs csv-stringify + iconv-lite over the same rows
    const out = join(work, 'export.csv');
    const exported = await child(process.execPath, [join(root, 'cli/bin.mjs'), 'export', 'calls', contract.contractCode, month, '-o', out], env);
    if (exported.code !== 0) throw new Error(`export failed: ${exported.stderr}`);
    rmSync(out, { force: true });
    const exportRate = calls / (exported.ms / 1000);
    const encodeRate = await stringifyBaseline(calls);
    const rateGoal = calls >= 1_000_000;
    row(
      '4 call-detail export, CP932 (CLI process)',
      `${fmt(calls)} rows`,
      `${fmt(exportRate)} rows/s, peak ${fmt(exported.peakRssMb)} MB`,
      `csv-stringify + iconv ${fmt(encodeRate)} rows/s`,
      fmt(exportRate / encodeRate, 2),
      rateGoal ? '≥ 200,000 rows/s, ≤ 120 MB' : '≤ 120 MB',
      rateGoal ? [['rate', exportRate >= 200_000], ['memory', exported.peakRssMb <= 120]] : exported.peakRssMb <= 120,
    );
  } finally {
    await sql.raw(`drop schema if exists ${schema} cascade`).execute(ledger.database.db).catch(() => {});
    await ledger.close();
  }
}

/** A raw COPY of the import's own event rows into a table indexed like the events table: the floor of an import. */
async function rawCopyRate(pool: pg.Pool, schema: string, calls: number): Promise<number> {
  const client = await pool.connect();
  try {
    const dump = join(work, 'events.copy');
    await pipeline(client.query(copyTo(`copy (select event_id, stream_id, revision, type, data, metadata, payload_hash from ${schema}.events where type = 'CallRecorded' order by position) to stdout`)), createWriteStream(dump));
    await client.query(`create table ${schema}.events_copy (like ${schema}.events including all)`);
    const started = performance.now();
    await client.query('begin');
    await pipeline(createReadStream(dump), client.query(copyFrom(`copy ${schema}.events_copy (event_id, stream_id, revision, type, data, metadata, payload_hash) from stdin`)));
    await client.query('commit');
    const rate = calls / ((performance.now() - started) / 1000);
    await client.query(`drop table ${schema}.events_copy`);
    rmSync(dump, { force: true });
    return rate;
  } finally {
    client.release();
  }
}

/** The floor of a replay: read every call event and sum its charge with decimal.js, nothing written. */
async function decimalReplayBaseline(pool: pg.Pool, schema: string): Promise<number> {
  const { Money } = await import('../domain/money.ts');
  const started = performance.now();
  let after = '0';
  let count = 0;
  let total = Money.zero;
  for (;;) {
    const { rows: events } = await pool.query(`select position::text as pos, data from ${schema}.events where position > $1 order by events.position limit 5000`, [after]);
    if (events.length === 0) break;
    for (const e of events) {
      if (e.data.charge) total = total.plus(Money.fromEvent(e.data.charge));
      count++;
    }
    after = events[events.length - 1].pos;
  }
  return count / ((performance.now() - started) / 1000);
}

function load(url: string, authorization?: string, seconds = LOAD_SECONDS): Promise<{ requestsPerSecond: number; p99: number; non2xx: number; errors: number }> {
  return runJsonScript(root, 'bench/load.mjs', [url, '50', String(seconds), ...(authorization ? [authorization] : [])]);
}

async function httpBenchmarks(ledger: Ledger, pool: pg.Pool, schema: string): Promise<void> {
  // The contract's lane (api/fairness.ts): a customer has 4 requests in work at once, whatever it
  // opens. The bench's customer opens 50 connections, so 3a and 3b are measured twice: through the
  // lane as it is (what one customer gets), and with it widened to 50 (what a request costs the
  // server: the goal's figure, as 50 customers' connections would load it). 3c and 3d, the lane's
  // own benchmarks, run with it as it is.
  // The gate's limits are changed in place between loads (the gate reads them on each request).
  const gate = new ContractRequestGate();
  const lane: RequestLimits = gate.limits;
  const asServed = () => Object.assign(lane, CONTRACT_REQUEST_LIMITS);
  const prepared = await prepareServer(ledger, { demo: false, adminToken: 'bench-admin-token', logger: createLogger({ level: 'silent' }), requestGate: gate });
  await prepared.start();
  const server = listen({ fetch: prepared.app.fetch, port: 0 });
  await once(server, 'listening');
  const port = (server.address() as { port: number }).port;
  const bare = new Hono();
  bare.get('/bare/:id', async (c) => {
    const { rows: found } = await pool.query(`select call_id, charge::text as charge from ${schema}.proj_call_details where call_id = $1`, [c.req.param('id')]);
    return c.json(found[0] ?? null);
  });
  const bareServer = listen({ fetch: bare.fetch, port: 0 });
  await once(bareServer, 'listening');
  const barePort = (bareServer.address() as { port: number }).port;
  try {
    const { token } = await createSession(ledger.database.db, contract.contractCode, new Date(), DEFAULT_SESSION_POLICY);
    const auth = `Bearer ${token}`;
    const { rows: sample } = await pool.query(`select call_id::text as id from ${schema}.proj_call_details limit 1`);
    const bareUrl = `http://127.0.0.1:${barePort}/bare/${sample[0].id}`;
    const calls = `/api/v1/charges/${month}/numbers/${contract.dialInNumbers[0]}/calls`;
    const first = (await (await fetch(`http://127.0.0.1:${port}${calls}?page=1`, { headers: { authorization: auth } })).json()) as { total: number; pageSize: number };
    const middle = Math.max(1, Math.ceil(first.total / first.pageSize / 2));
    const targets = [
      ['3a portal monthly charges (GET /api/v1/charges)', '50 connections', `/api/v1/charges`],
      ['3b portal call details, page 1 (GET …/numbers/:n/calls)', `50 connections, ${fmt(first.total)} calls`, `${calls}?page=1`],
      ['3b portal call details, a middle page', `50 connections, page ${fmt(middle)}`, `${calls}?page=${middle}`],
    ] as const;
    for (const [what, size, path] of targets) {
      // The bare route is loaded right before each target, so that both see the same machine.
      const bareResult = await load(bareUrl);
      Object.assign(lane, { inFlight: 50, total: 50, perSecond: Number.POSITIVE_INFINITY });
      const wide = await load(`http://127.0.0.1:${port}${path}`, auth);
      asServed();
      const oneCustomer = await load(`http://127.0.0.1:${port}${path}`, auth);
      for (const r of [wide, oneCustomer]) if (r.non2xx > 0 || r.errors > 0) log(`${what}: ${r.non2xx} non-2xx answers, ${r.errors} errors`);
      const ratio = wide.requestsPerSecond / bareResult.requestsPerSecond;
      const bareFigure = `bare Hono + pg ${fmt(bareResult.requestsPerSecond)} req/s, p99 ${bareResult.p99} ms`;
      row(what, size, `${fmt(wide.requestsPerSecond)} req/s, p99 ${wide.p99} ms`, bareFigure, fmt(ratio, 2), '≥ 0.60, p99 ≤ 1.5× bare', [['ratio', ratio >= 0.6 && wide.non2xx === 0 && wide.errors === 0], ['p99', wide.p99 <= 1.5 * bareResult.p99]]);
      row(`${what}, one customer through its lane (${CONTRACT_REQUEST_LIMITS.inFlight} in work, ${CONTRACT_REQUEST_LIMITS.perSecond} a second)`, size, `${fmt(oneCustomer.requestsPerSecond)} req/s, p99 ${oneCustomer.p99} ms`, bareFigure, fmt(oneCustomer.requestsPerSecond / bareResult.requestsPerSecond, 2), '— (the lane bounds one customer)', undefined);
    }
    // 3c compares two pages' cost: through the lane, without its rate bound (which would make both its rate).
    Object.assign(lane, { perSecond: Number.POSITIVE_INFINITY });
    await listingPages(port, auth, pool, schema);
    asServed();
    await noisyNeighbour(ledger, port, auth, pool, schema);
  } finally {
    server.close();
    bareServer.close();
    await prepared.stop();
  }
}

/** The number of the bench contract with the most calls this month, and its last page. */
async function largestListing(pool: pg.Pool, schema: string): Promise<{ number: string; calls: number; lastPage: number }> {
  const { rows: found } = await pool.query(
    `select number, sum(calls)::int as calls from ${schema}.proj_monthly_charges where contract_code = $1 and billing_month = $2 group by number order by 2 desc limit 1`,
    [contract.contractCode, month],
  );
  const calls = Number(found[0].calls);
  return { number: found[0].number, calls, lastPage: Math.ceil(calls / 10) };
}

/** 3c: the last page of the largest listing against page 2 of it (any page is an index seek). */
async function listingPages(port: number, auth: string, pool: pg.Pool, schema: string): Promise<void> {
  const largest = await largestListing(pool, schema);
  const path = (page: number) => `http://127.0.0.1:${port}/api/v1/charges/${month}/numbers/${largest.number}/calls?page=${page}`;
  const second = await load(path(2), auth);
  const last = await load(path(largest.lastPage), auth);
  row(
    `3c call details, last page (${fmt(largest.lastPage)}) vs page 2 of the largest listing`,
    `${fmt(largest.calls)} calls, 50 connections`,
    `${fmt(last.requestsPerSecond)} req/s, p99 ${last.p99} ms`,
    `page 2: ${fmt(second.requestsPerSecond)} req/s, p99 ${second.p99} ms`,
    fmt(last.requestsPerSecond / second.requestsPerSecond, 2),
    '≥ 0.80 of page 2',
    last.requestsPerSecond / second.requestsPerSecond >= 0.8 && last.non2xx === 0,
  );
}

/**
 * 3d noisy neighbour: twenty other customers at work (10 requests a second each, their monthly
 * charges, one connection each: bench/steady.mjs, latencies in µs) while the bench contract, in
 * periods switched on and off, hammers the last page of its largest listing (50 connections) and
 * downloads its month's call-detail file over and over (8 loops; the file is made before, once:
 * building it is the worker's, not a request's): bench/switched-flood.mjs. Same run, same
 * machine; the load generators share its cores. The flood is held to its contract's lane and rate
 * (api/fairness.ts); what it got is logged.
 */
async function noisyNeighbour(ledger: Ledger, port: number, auth: string, pool: pg.Pool, schema: string): Promise<void> {
  const NEIGHBOURS = 20;
  const neighbours = benchContracts(1 + NEIGHBOURS).slice(1);
  await importContracts(ledger.store, Buffer.from(contractLines(neighbours)), { name: 'bench-neighbours.jsonl', credentialsDb: ledger.database.db });
  const base = `http://127.0.0.1:${port}`;
  const tokens = await Promise.all(neighbours.map(async (n) => `Bearer ${(await createSession(ledger.database.db, n.contractCode, new Date(), DEFAULT_SESSION_POLICY)).token}`));
  const token = auth.slice('Bearer '.length);
  // The file exists before the noise starts (and is handed out again from then on).
  for (let i = 0; i < 600; i++) {
    const res = await fetch(`${base}/api/v1/exports`, { method: 'POST', headers: { authorization: auth, 'content-type': 'application/json' }, body: JSON.stringify({ month, kind: 'calls', encoding: 'sjis' }) });
    if (((await res.json()) as { status: string }).status === 'ready') break;
    await new Promise((r) => setTimeout(r, 500));
  }
  const largest = await largestListing(pool, schema);
  // The earlier rows' writes (a million calls imported and rebuilt) are flushed first: a checkpoint
  // that starts during a load stalls queries at random (a quiet p99 of 304 ms in one run).
  await pool.query('checkpoint').catch((e: Error) => log(`3d: no checkpoint before it (${e.message})`));
  // Quiet and noisy periods of 4 s in turns, the first three left out (the server's paths, the
  // client's and the flood's processes warm up), then 80 s: ten of each, each p99 over the
  // requests sent in its kind of period (8,000 answers). Why switched periods rather than a
  // quiet load and then a noisy one: the p99 of light traffic here moves 2–10× between 10 s loads
  // with nothing else running, so loads apart measure the machine's moment; alternating every few
  // seconds puts its drift on both kinds alike, and one client process and one flood process for
  // the whole row start nothing inside a measured period. Run with nothing switched on
  // (bench/noisy.ts NOISY_MODE=switched NOISY_FLOOD_CONNECTIONS=0 NOISY_LOOPS=0), the method gave
  // 0.83–1.26: what a ratio nearer 1 than that says is noise.
  // The clients stand for customers' own machines: the flood's generator runs at the lowest CPU
  // priority and the twenty customers' client at a high one (runJsonScript), so that the p99 is
  // the server's part (bench/noisy.ts with NOISY_NICE=0 NOISY_CLIENT_NICE=0 gives it without).
  const PERIOD_MS = quick ? 2_000 : 4_000;
  const WARM_PERIODS = 3;
  const measured = quick ? 16 : 80;
  const seconds = measured + (WARM_PERIODS * PERIOD_MS) / 1000;
  const start = Date.now() + 1_500;
  const lead = (start - Date.now()) / 1000;
  const sampler = { peakRss: process.memoryUsage().rss };
  const rss = setInterval(() => (sampler.peakRss = Math.max(sampler.peakRss, process.memoryUsage().rss)), 100);
  const [client, flood] = await Promise.all([
    runJsonScript<{ timed: [number, number][]; non2xx: number; errors: number }>(
      root,
      'bench/steady.mjs',
      [`${base}/api/v1/charges`, String(NEIGHBOURS), String(NEIGHBOURS * 10), String(seconds + lead), tokens.join(','), 'timed'],
      { niceness: -10 },
    ),
    runJsonScript<{ listing: number; listingRefused: number; downloads: number; bytes: number; refused: number; noisySeconds: number }>(
      root,
      'bench/switched-flood.mjs',
      [base, token, month, `/api/v1/charges/${month}/numbers/${largest.number}/calls?page=${largest.lastPage}`, String(start), String(PERIOD_MS), String(seconds), '50', '8'],
      { niceness: 19 },
    ),
  ]);
  clearInterval(rss);
  const { quiet, noisy } = latenciesBySwitch(client.timed, start, PERIOD_MS, WARM_PERIODS);
  const periodSeconds = measured / 2;
  const figures = (xs: number[]) => ({ requestsPerSecond: xs.length / periodSeconds, p50: quantile(xs, 0.5), p99: quantile(xs, 0.99), answers: xs.length });
  const q = figures(quiet);
  const n = figures(noisy);
  const failed = client.non2xx + client.errors;
  // A quiet period's first 250 ms are left out (SETTLE_MS): its throughput is counted over the rest.
  const throughput = n.requestsPerSecond / (q.requestsPerSecond * (PERIOD_MS / (PERIOD_MS - SETTLE_MS)));
  const p99 = q.p99 / Math.max(n.p99, 0.01);
  log(`noisy neighbour: quiet p50 ${fmt(q.p50, 2)} p99 ${fmt(q.p99, 2)} ms over ${q.answers} answers, noisy p50 ${fmt(n.p50, 2)} p99 ${fmt(n.p99, 2)} ms over ${n.answers}; ${failed} failed; the flood got ${fmt(flood.listing / flood.noisySeconds)} listing answers/s while on (${flood.listingRefused} refused), ${flood.downloads} whole downloads (${fmt(flood.bytes / 2 ** 20)} MB), ${flood.refused} refused; bench process peak RSS ${fmt(sampler.peakRss / 2 ** 20)} MB`);
  row(
    `3d noisy neighbour: ${NEIGHBOURS} other customers’ GET /api/v1/charges (10/s each) while one hammers its largest listing and its exports`,
    `${NEIGHBOURS} × 1 + 50 connections, 8 download loops; ${PERIOD_MS / 1000} s periods switched, ${measured} s`,
    `${fmt(n.requestsPerSecond)} req/s, p99 ${fmt(n.p99, 2)} ms (flood ${fmt(flood.listing / flood.noisySeconds)} listing/s, ${fmt(flood.bytes / 2 ** 20 / flood.noisySeconds, 1)} MB/s)`,
    `quiet periods p99 ${fmt(q.p99, 2)} ms`,
    `throughput ${fmt(throughput, 2)}, p99 ${fmt(p99, 2)}`,
    '≥ 0.70 both',
    [['throughput', throughput >= 0.7 && failed === 0], ['p99', p99 >= 0.7]],
  );
}

/** csv-stringify + iconv-lite to CP932 over the same number of generated rows, in this process. */
async function stringifyBaseline(calls: number): Promise<number> {
  const started = performance.now();
  const stringifier = stringify({ record_delimiter: '\r\n' });
  stringifier.setEncoding('utf8');
  const sink = new PassThrough();
  sink.resume();
  const encoder = iconv.encodeStream('cp932');
  const done = pipeline(stringifier, encoder, sink);
  for (const line of callRows(contracts, calls, 7, [month])) {
    if (!stringifier.write(line.split(','))) await once(stringifier, 'drain');
  }
  stringifier.end();
  await done;
  return calls / ((performance.now() - started) / 1000);
}

// ---- PGlite (the embedded default), smaller ----------------------------------------------------

async function pgliteBenchmarks(): Promise<void> {
  const dir = join(work, 'pglite');
  const env = { LEDGER_DATA_DIR: dir, DATABASE_URL: '' };
  const csv = join(work, 'calls-pglite.csv');
  await writeCallCsv(csv, contracts, PGLITE_CALLS, { months: [month] });
  let ledger = await openBenchLedger(env);
  await importContracts(ledger.store, Buffer.from(contractLines(contracts)), { name: 'bench-contracts.jsonl', credentialsDb: ledger.database.db });
  await ledger.close();
  const imported = await child(process.execPath, [join(root, 'cli/bin.mjs'), 'import', 'calls', csv], env);
  if (imported.code !== 0) throw new Error(`PGlite import failed: ${imported.stderr}`);
  const rate = PGLITE_CALLS / (imported.ms / 1000);
  row('1 import (CLI process), PGlite', `${fmt(PGLITE_CALLS)} calls`, `${fmt(rate)} calls/s (peak ${fmt(imported.peakRssMb)} MB)`, '—', '—', '—', undefined);
  ledger = await openBenchLedger(env);
  try {
    const runner = createProjectionRunner(ledger.database, ledger.store);
    let started = performance.now();
    const applied = await runner.catchUp();
    row('2a projection catch-up, PGlite', `${fmt(applied)} events`, `${fmt(applied / ((performance.now() - started) / 1000))} ev/s`, '—', '—', '—', undefined);
    started = performance.now();
    const rebuilt = (await runner.rebuild()).reduce((a, r) => a + r.events, 0);
    row('2b full rebuild, PGlite', `${fmt(rebuilt)} events`, `${fmt(rebuilt / ((performance.now() - started) / 1000))} ev/s`, '—', '—', '—', undefined);
  } finally {
    await ledger.close();
  }
}

// ---- 5. cold start of `npm start` with the demo -------------------------------------------------

async function coldStart(): Promise<void> {
  const dir = join(work, 'coldstart');
  const port = 3900 + (process.pid % 90);
  const started = performance.now();
  const p = spawn('npm', ['start'], { cwd: root, env: { ...process.env, DATABASE_URL: '', LEDGER_DATA_DIR: dir, PORT: String(port), LEDGER_ADMIN_TOKEN: 'bench' }, stdio: 'ignore', detached: true });
  let ms = Number.NaN;
  let rss = Number.NaN;
  let treeRss = Number.NaN;
  try {
    for (let i = 0; i < 600; i++) {
      try {
        const res = await fetch(`http://127.0.0.1:${port}/health`);
        if (res.ok) {
          ms = performance.now() - started;
          rss = processRssMb(p.pid!, 'cli/bin.mjs serve');
          treeRss = treeRssMb(p.pid!);
          break;
        }
      } catch {
        // not up yet
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  } finally {
    process.kill(-p.pid!, 'SIGTERM');
  }
  // Baseline: a bare PGlite start (create, one query) in a fresh process: the floor under our start.
  const baseline = await child(process.execPath, ['--input-type=module', '-e', `import { PGlite } from '@electric-sql/pglite'; const db = await PGlite.create('${join(work, 'bare-pglite')}'); await db.query('select 1'); await db.close();`], {});
  row('5 cold start of npm start with the demo → first /health', 'demo', `${fmt(ms / 1000, 2)} s, server RSS ${fmt(rss)} MB (with npm: ${fmt(treeRss)} MB)`, `bare PGlite start ${fmt(baseline.ms / 1000, 2)} s, ${fmt(baseline.peakRssMb)} MB`, fmt(ms / baseline.ms, 2), '≤ 5 s, ≤ 400 MB', [['time', ms <= 5000], ['memory', rss <= 400]]);
}

void PGlite;

try {
  log(`${quick ? 'quick' : 'full'} run: ${SIZES.map((n) => fmt(n)).join(', ')} calls on PostgreSQL, ${fmt(PGLITE_CALLS)} on PGlite`);
  // BENCH_ONLY=postgres,pglite,coldstart runs a part, `import` row 1 alone at each size (for
  // development; the README's table is a full run).
  if (!only || only.includes('postgres') || importOnly) await postgresBenchmarks();
  if (!only || only.includes('pglite')) await pgliteBenchmarks();
  if (!only || only.includes('coldstart')) await coldStart();
} finally {
  rmSync(work, { recursive: true, force: true });
}
const table = printTable(byBenchmark(rows));
const header = `Machine: ${(await import('node:os')).cpus().length} cores, ${fmt((await import('node:os')).totalmem() / 2 ** 30)} GiB, Node ${process.version}; ${new Date().toISOString().slice(0, 10)}; ${quick ? '--quick' : 'full'} run`;
process.stdout.write(`${header}\n\n${table}\n`);
mkdirSync(join(root, 'bench/out'), { recursive: true });
writeFileSync(join(root, 'bench/out/results.md'), `${header}\n\n${table}\n`);
