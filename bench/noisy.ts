// `npx tsx bench/noisy.ts` — bench row 3d alone, for working on it: another customer's
// GET /api/v1/charges quiet, then while the first customer (a) downloads its call-detail file in 8
// loops, (b) hammers its largest listing's last page, (c) both. Same run, ratios of its quiet figure.
// NOISY_CALLS (default 200,000) calls in the schema noisy_<calls>, kept between runs (NOISY_FRESH=1
// makes it again). NOISY_SECONDS (default 10) per load. NOISY_ONLY=quiet,exports,listing,both (a later
// quiet is measured again in its place; latencies are pooled by phase at the end). NOISY_FLOOD_CONNECTIONS:
// the listing flood's (default 50); NOISY_LOOPS: the download loops (default 8).
// NOISY_TOTAL: the server's handler places in all (default as the server's); NOISY_PER_SECOND: a
// contract's turns a second (default as the server's; 'Infinity' lifts the bound).
// The neighbours: NOISY_NEIGHBOURS other customers at work (default 10; bench/steady.mjs: NOISY_RATE
// requests a second among them, default 200, over one connection each); NOISY_NEIGHBOUR=flood makes
// the first of them a second flood instead (50 connections, autocannon).
// NOISY_MODE=switched: as row 3d measures it (bench/switched-flood.mjs): one client and one flood
// process for NOISY_SECONDS (default 60), quiet and noisy periods of NOISY_PERIOD ms (default 3000)
// in turns; NOISY_FLOOD_CONNECTIONS=0 NOISY_LOOPS=0 switches nothing on (the method's own spread).
import { once } from 'node:events';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { serve as listen } from '@hono/node-server';
import { sql } from 'kysely';
import { addMonths, japanMonthAt } from '../domain/time.ts';
import { openLedger } from '../cli/context.ts';
import { configFromEnv } from '../cli/config.ts';
import { importContracts } from '../importers/contracts.ts';
import { createProjectionRunner } from '../projections/index.ts';
import { prepareServer } from '../cli/commands/serve.ts';
import { createSession, DEFAULT_SESSION_POLICY } from '../api/sessions.ts';
import { createLogger } from '../api/logger.ts';
import { createApp } from '../api/app.ts';
import { buildCsv, createEngineerOperations } from '../api/wiring.ts';
import { createQueries } from '../projections/queries.ts';
import { DOWNLOAD_BYTES_PER_SECOND, DownloadGate } from '../api/exports.ts';
import { CONTRACT_REQUEST_LIMITS, ContractRequestGate } from '../api/fairness.ts';
import { benchContracts, contractLines, writeCallCsv } from './generate.ts';
import { fmt, latenciesBySwitch, quantile, runJsonScript, runMeasured } from './measure.ts';

const CALLS = Number(process.env.NOISY_CALLS ?? 200_000);
const SECONDS = String(process.env.NOISY_SECONDS ?? 10);
const ONLY = (process.env.NOISY_ONLY ?? 'quiet,exports,listing,both').split(',');
const DATABASE_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const root = new URL('..', import.meta.url).pathname;
const schema = `noisy_${CALLS}`;
const env = { ...process.env, DATABASE_URL, LEDGER_DB_SCHEMA: schema };
const month = addMonths(japanMonthAt(new Date()), -1);
const NEIGHBOURS = Number(process.env.NOISY_NEIGHBOURS ?? 10);
const [contract, ...neighbours] = benchContracts(1 + NEIGHBOURS) as [ReturnType<typeof benchContracts>[number], ...ReturnType<typeof benchContracts>];
const log = (line: string) => process.stderr.write(`[noisy] ${line}\n`);

const node = (script: string, args: string[]) => runJsonScript(root, script, args);
const load = (url: string, auth: string) => node('bench/load.mjs', [url, '50', SECONDS, auth]);
const FLOOD = process.env.NOISY_NEIGHBOUR === 'flood';
const RATE = String(process.env.NOISY_RATE ?? 200);
const neighbourLoad = (url: string, auth: string, seconds = SECONDS) =>
  FLOOD
    ? node('bench/load.mjs', [url, '50', seconds, auth.split(',')[0]!])
    : runJsonScript(root, 'bench/steady.mjs', [url, String(NEIGHBOURS), RATE, seconds, auth, 'samples'], { niceness: Number(process.env.NOISY_CLIENT_NICE ?? -10) });
// Every phase's latencies, pooled by its name over its repeats (NOISY_ONLY=quiet,both,quiet,both,…):
// one load's p99 of light traffic moves 2–10× between loads here.
const pools = new Map<string, number[]>();
const pool = (name: string, r: { latencies?: number[] }) => pools.set(name, [...(pools.get(name) ?? []), ...(r.latencies ?? [])]);
// The flood's load generators at the lowest CPU priority (NOISY_NICE, default 19) and the
// neighbours' client at a high one (NOISY_CLIENT_NICE, default −10): they stand for customers' own
// machines (both 0 to compare: the clients then take the cores from the server).
const NICE = Number(process.env.NOISY_NICE ?? 19);
const hammer = (base: string, token: string) => runJsonScript(root, 'bench/hammer-exports.mjs', [base, token, month, SECONDS, String(process.env.NOISY_LOOPS ?? 8)], { niceness: NICE });

let ledger = await openLedger(configFromEnv(env as NodeJS.ProcessEnv));
const { rows: present } = await sql<{ n: string }>`select count(*)::text as n from events where type = 'CallRecorded'`.execute(ledger.database.db).catch(() => ({ rows: [{ n: '0' }] }));
if (process.env.NOISY_FRESH || Number(present[0]!.n) < CALLS) {
  await ledger.close();
  const admin = await openLedger(configFromEnv({ ...env, LEDGER_DB_SCHEMA: 'public' } as NodeJS.ProcessEnv));
  await sql.raw(`drop schema if exists ${schema} cascade`).execute(admin.database.db);
  await admin.close();
  ledger = await openLedger(configFromEnv(env as NodeJS.ProcessEnv));
  const work = join(tmpdir(), `ledger-noisy-${process.pid}`);
  mkdirSync(work, { recursive: true });
  const csv = join(work, 'calls.csv');
  log(`generating ${fmt(CALLS)} calls`);
  await writeCallCsv(csv, [contract], CALLS, { months: [month] });
  await importContracts(ledger.store, Buffer.from(contractLines([contract])), { name: 'noisy-contracts.jsonl', credentialsDb: ledger.database.db });
  const imported = await runMeasured(process.execPath, [join(root, 'cli/bin.mjs'), 'import', 'calls', csv], env);
  if (imported.code !== 0) throw new Error(imported.stderr);
  rmSync(work, { recursive: true, force: true });
  await createProjectionRunner(ledger.database, ledger.store).catchUp();
  log(`imported in ${fmt(imported.ms / 1000, 1)} s`);
}

// NOISY_PACES=a,b (MiB/s per download): the download loads again at each pace, same run.
const paces = (process.env.NOISY_PACES ?? '').split(',').filter(Boolean).map(Number);
// NOISY_TOTAL=n: the server's handler places in all (api/fairness.ts), to try another bound.
const requestGate = new ContractRequestGate({
  total: Number(process.env.NOISY_TOTAL ?? CONTRACT_REQUEST_LIMITS.total),
  perSecond: Number(process.env.NOISY_PER_SECOND ?? CONTRACT_REQUEST_LIMITS.perSecond),
  burst: Number(process.env.NOISY_BURST ?? CONTRACT_REQUEST_LIMITS.burst),
  inFlight: Number(process.env.NOISY_IN_FLIGHT ?? CONTRACT_REQUEST_LIMITS.inFlight),
});
const downloads = new DownloadGate();
const prepared = await prepareServer(ledger, { demo: false, adminToken: 'noisy-admin-token', logger: createLogger({ level: 'silent' }) });
await prepared.start();
// The server's app as prepareServer makes it (requests' pool, their event store), with the gate
// whose pace this script sets.
const requestDatabase = ledger.database.forRequests();
const app = createApp({
  database: requestDatabase,
  store: ledger.store,
  queries: createQueries(requestDatabase, ledger.store),
  clock: () => new Date(),
  adminToken: 'noisy-admin-token',
  logger: createLogger({ level: 'silent' }),
  engineer: createEngineerOperations({ database: ledger.database, store: ledger.store, queries: createQueries(ledger.database, ledger.store) }),
  buildCsv,
  downloads,
  requestGate,
});
// The neighbours' time in the server (from the request to its answer handed over) and, of it, the
// wait for their turn, per phase: tells the server's part of their latency from the machine's.
const neighbourCodes = new Set(neighbours.map((n) => n.contractCode));
const inServer: number[] = [];
/** The same, [when it came (epoch ms), ms], for a switched load (NOISY_MODE=switched). */
const serverTimed: [number, number][] = [];
const inGate: number[] = [];
const enter = requestGate.enter.bind(requestGate);
requestGate.enter = async (code: string) => {
  const from = performance.now();
  const place = await enter(code);
  if (neighbourCodes.has(code)) inGate.push(performance.now() - from);
  return place;
};
const server = listen({
  fetch: async (req: Request, env: unknown) => {
    const from = performance.now();
    const res = await app.fetch(req, env as never);
    if (new URL(req.url).pathname === '/api/v1/charges') {
      inServer.push(performance.now() - from);
      serverTimed.push([performance.timeOrigin + from, performance.now() - from]);
    }
    return res;
  },
  port: 0,
});
const serverTimes = () => {
  const p = (xs: number[], q: number) => fmt(xs.sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(q * xs.length))] ?? Number.NaN, 2);
  const text = ` | in the server p50 ${p(inServer, 0.5)} p99 ${p(inServer, 0.99)} ms, of it waiting for a turn p99 ${p(inGate, 0.99)} ms`;
  inServer.length = inGate.length = 0;
  return text;
};
await once(server, 'listening');
const base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
try {
  const { token } = await createSession(ledger.database.db, contract.contractCode, new Date(), DEFAULT_SESSION_POLICY);
  // The neighbours' contracts (added to a schema kept from an earlier run with fewer: already present then).
  await importContracts(ledger.store, Buffer.from(contractLines(neighbours)), { name: 'noisy-neighbours.jsonl', credentialsDb: ledger.database.db });
  await createProjectionRunner(ledger.database, ledger.store).catchUp();
  const neighbourTokens = await Promise.all(neighbours.map(async (n) => `Bearer ${(await createSession(ledger.database.db, n.contractCode, new Date(), DEFAULT_SESSION_POLICY)).token}`));
  let started = performance.now();
  let fileBytes = 0;
  for (let i = 0; i < 1200; i++) {
    const res = await fetch(`${base}/api/v1/exports`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify({ month, kind: 'calls', encoding: 'sjis' }) });
    const job = (await res.json()) as { status: string; id: string };
    if (job.status === 'ready') {
      const { rows } = await sql<{ bytes: string }>`select bytes::text as bytes from exports where id = ${job.id}::uuid`.execute(ledger.database.db);
      fileBytes = Number(rows[0]!.bytes);
      break;
    }
    if (job.status === 'failed') throw new Error(JSON.stringify(job));
    await new Promise((r) => setTimeout(r, 250));
  }
  log(`file ready: ${fmt(fileBytes / 2 ** 20, 1)} MB after ${fmt((performance.now() - started) / 1000, 1)} s (0 s when reused)`);
  const { rows: largest } = await sql<{ number: string; calls: number }>`
    select number, sum(calls)::int as calls from proj_monthly_charges where contract_code = ${contract.contractCode} and billing_month = ${month} group by number order by 2 desc limit 1`.execute(ledger.database.db);
  const lastPage = Math.ceil(Number(largest[0]!.calls) / 10);
  const listingUrl = `${base}/api/v1/charges/${month}/numbers/${largest[0]!.number}/calls?page=${lastPage}`;
  const neighbourUrl = `${base}/api/v1/charges`;
  const nAuth = neighbourTokens.join(',');
  const results: Record<string, string> = {};
  let quiet: { requestsPerSecond: number; p99: number; non2xx: number } | undefined;
  const show = (name: string, r: { requestsPerSecond: number; p99: number; non2xx: number }, extra = '') => {
    const ratio = quiet ? ` ratio ${fmt(r.requestsPerSecond / quiet.requestsPerSecond, 2)} p99-ratio ${fmt(quiet.p99 / Math.max(r.p99, 0.01), 2)}` : '';
    results[name] = `${fmt(r.requestsPerSecond)} req/s p50 ${(r as { p50?: number }).p50 ?? '-'} p99 ${r.p99} ms non2xx ${r.non2xx}${ratio}${extra}`;
    log(`${name}: ${results[name]}`);
  };
  let peak = 0;
  // The requests' pool: how many wait for one of its connections, sampled every 10 ms.
  const requestPool = ledger.database.forRequests().pool!;
  let waitingSamples = 0;
  let waitingSum = 0;
  let waitingMax = 0;
  const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 100);
  const poolSampler = setInterval(() => {
    waitingSamples++;
    waitingSum += requestPool.waitingCount;
    waitingMax = Math.max(waitingMax, requestPool.waitingCount);
  }, 10);
  // The server process's CPU, the machine's, and the event loop's delay over each load.
  const machine = () => {
    const [, ...f] = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/);
    const n = f.map(Number);
    return { busy: n.reduce((a, b) => a + b, 0) - n[3]! - n[4]!, all: n.reduce((a, b) => a + b, 0) };
  };
  // CPU time of every process on the machine, grouped (this server, its load generators, PostgreSQL,
  // the rest), sampled every 250 ms so that processes that end within a load are counted.
  const lastTicks = new Map<number, number>();
  const groupTicks: Record<string, number> = {};
  const sampleGroups = () => {
    for (const pid of readdirSync('/proc').filter((e) => /^\d+$/.test(e)).map(Number)) {
      try {
        const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
        const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        const ticks = Number(f[11]) + Number(f[12]);
        const before = lastTicks.get(pid);
        lastTicks.set(pid, ticks);
        if (before === undefined) continue;
        const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
        const g = pid === process.pid ? 'server' : cmd.includes('hammer-exports') ? 'hammer' : cmd.includes('load.mjs') ? 'autocannon' : cmd.startsWith('postgres') ? 'postgres' : 'other';
        groupTicks[g] = (groupTicks[g] ?? 0) + ticks - before;
      } catch {
        // gone
      }
    }
  };
  const groupSampler = setInterval(sampleGroups, 250);
  const loopDelay = monitorEventLoopDelay({ resolution: 5 });
  loopDelay.enable();
  let cpuFrom = process.cpuUsage();
  let wallFrom = performance.now();
  let machineFrom = machine();
  const poolFigures = () => {
    const cpu = process.cpuUsage(cpuFrom);
    const wall = performance.now() - wallFrom;
    const m = machine();
    const text = ` | request pool waiting avg ${fmt(waitingSum / Math.max(waitingSamples, 1), 1)} max ${waitingMax} | server CPU ${fmt((100 * (cpu.user + cpu.system)) / 1000 / wall)}% | machine busy ${fmt((100 * (m.busy - machineFrom.busy)) / (m.all - machineFrom.all))}% | loop delay mean ${fmt(loopDelay.mean / 1e6, 1)} p99 ${fmt(loopDelay.percentile(99) / 1e6, 1)} ms`;
    sampleGroups();
    const ticks = Object.keys(groupTicks).map((k) => `${k} ${fmt((groupTicks[k]! * 1000) / wall)}%`).join(', ');
    for (const k of Object.keys(groupTicks)) delete groupTicks[k];
    waitingSamples = waitingSum = waitingMax = 0;
    cpuFrom = process.cpuUsage();
    wallFrom = performance.now();
    machineFrom = m;
    loopDelay.reset();
    return `${text} | CPU (100% = one core): ${ticks}`;
  };
  if (process.env.NOISY_MODE === 'switched') {
    const period = Number(process.env.NOISY_PERIOD ?? 3000);
    // NOISY_WARM periods first, left out (the client's and the flood's processes warm up too).
    const warm = Number(process.env.NOISY_WARM ?? 4);
    const seconds = Number(process.env.NOISY_SECONDS ?? 60) + (warm * period) / 1000;
    const start = Date.now() + 1500;
    const lead = (start - Date.now()) / 1000;
    // The monotonic clock at `start` (µs), as a CPU profile (--cpu-prof) counts its time.
    log(`switched start at ${start} epoch ms, ${Number(process.hrtime.bigint() / 1000n) + (start - Date.now()) * 1000} monotonic µs`);
    const listingPath = listingUrl.slice(base.length);
    const [client, flood] = await Promise.all([
      runJsonScript<{ timed: [number, number][]; non2xx: number; errors: number }>(root, 'bench/steady.mjs', [neighbourUrl, String(NEIGHBOURS), RATE, String(seconds + lead), nAuth, 'timed'], { niceness: Number(process.env.NOISY_CLIENT_NICE ?? -10) }),
      runJsonScript<Record<string, number>>(root, 'bench/switched-flood.mjs', [base, token, month, listingPath, String(start), String(period), String(seconds), String(process.env.NOISY_FLOOD_CONNECTIONS ?? 50), String(process.env.NOISY_LOOPS ?? 8)], { niceness: NICE }),
    ]);
    if (process.env.NOISY_DUMP) writeFileSync(process.env.NOISY_DUMP, JSON.stringify({ start, period, timed: client.timed }));
    const { quiet: q, noisy: n } = latenciesBySwitch(client.timed, start, period, warm);
    const [q50, q99, n50, n99] = [quantile(q, 0.5), quantile(q, 0.99), quantile(n, 0.5), quantile(n, 0.99)];
    log(`switched, ${period} ms periods over ${seconds} s: quiet ${q.length} answers p50 ${fmt(q50, 2)} p99 ${fmt(q99, 2)} ms; noisy ${n.length} answers p50 ${fmt(n50, 2)} p99 ${fmt(n99, 2)} ms; p99-ratio ${fmt(q99 / n99, 2)}; non-2xx ${client.non2xx}, errors ${client.errors}`);
    const inServerBy = latenciesBySwitch(serverTimed, start, period, warm);
    log(`in the server: quiet p50 ${fmt(quantile(inServerBy.quiet, 0.5), 2)} p99 ${fmt(quantile(inServerBy.quiet, 0.99), 2)} ms; noisy p50 ${fmt(quantile(inServerBy.noisy, 0.5), 2)} p99 ${fmt(quantile(inServerBy.noisy, 0.99), 2)} ms`);
    log(`the flood: ${JSON.stringify(flood)} (listing ${fmt(flood.listing! / flood.noisySeconds!)} answers/s while on)${serverTimes()}${poolFigures()}`);
    process.exit(0);
  }
  // Warmed first, so that the quiet figure is the neighbour's steady state (as in bench/run.ts).
  await neighbourLoad(neighbourUrl, nAuth, '2');
  poolFigures();
  serverTimes();
  quiet = await neighbourLoad(neighbourUrl, nAuth);
  pool('quiet', quiet as { latencies?: number[] });
  show('quiet', quiet!, serverTimes() + poolFigures());
  // A 'quiet' after the first is measured again among the loads (the spread of the quiet figure itself).
  const phases = ONLY.filter((w, i) => w !== 'quiet' || i > ONLY.indexOf('quiet')).flatMap((w) => (w !== 'listing' && paces.length > 0 ? paces.map((p) => `${w}@${p}`) : [w]));
  for (const phase of phases) {
    const [what, pace] = phase.split('@') as [string, string | undefined];
    downloads.bytesPerSecond = pace ? Number(pace) * 2 ** 20 : DOWNLOAD_BYTES_PER_SECOND;
    peak = 0;
    started = performance.now();
    const noisy = neighbourLoad(neighbourUrl, nAuth);
    const listing = what === 'listing' || what === 'both' ? runJsonScript(root, 'bench/load.mjs', [listingUrl, String(process.env.NOISY_FLOOD_CONNECTIONS ?? 50), SECONDS, `Bearer ${token}`], { niceness: NICE }) : undefined;
    const exports = what === 'exports' || what === 'both' ? hammer(base, token) : undefined;
    const [n, l, e] = await Promise.all([noisy, listing, exports]);
    pool(phase, n);
    show(phase, n, ` | listing ${l ? `${fmt(l.requestsPerSecond)} req/s (non-2xx ${l.non2xx})` : "-"} | downloads ${e ? `${e.downloads} (${fmt(e.bytes / 2 ** 20)} MB, refused ${e.refused})` : '-'} | peak rss ${fmt(peak / 2 ** 20)} MB${serverTimes()}${poolFigures()}`);
  }
  clearInterval(sampler);
  clearInterval(poolSampler);
  clearInterval(groupSampler);
  const at = (xs: number[], q: number) => xs[Math.min(xs.length - 1, Math.floor(q * xs.length))] ?? Number.NaN;
  const quietPool = (pools.get('quiet') ?? []).sort((a, b) => a - b);
  for (const [name, xs] of pools) {
    xs.sort((a, b) => a - b);
    log(`pooled ${name}: ${xs.length} answers, p50 ${fmt(at(xs, 0.5), 2)} p99 ${fmt(at(xs, 0.99), 2)} ms, p99-ratio ${fmt(at(quietPool, 0.99) / at(xs, 0.99), 2)}`);
  }
  process.stdout.write(`${JSON.stringify(results, null, 1)}\n`);
} finally {
  server.close();
  await prepared.stop();
  await ledger.close();
}
