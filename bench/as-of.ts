// As-of figures (`ledger totals --as-of`, GET …/charges/:month?asOf=): a fold of the contract's
// events up to the instant, timed against the projection's answer for the same month. Used by
// bench/run.ts; alone: `DATABASE_URL=… npx tsx bench/as-of.ts [CALLS [RUNS]]` (a fresh schema, dropped after).
import { rmSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { sql } from 'kysely';
import { openLedger, type Ledger } from '../cli/context.ts';
import { configFromEnv } from '../cli/config.ts';
import { addMonths, japanMonthAt } from '../domain/time.ts';
import { importCalls } from '../importers/calls.ts';
import { importContracts } from '../importers/contracts.ts';
import { engineerCharges, engineerChargesAsOf } from '../projections/engineering.ts';
import { createProjectionRunner } from '../projections/index.ts';
import { createQueries } from '../projections/queries.ts';
import { benchContracts, contractLines, writeCallCsv } from './generate.ts';

export interface AsOfFigures {
  /** As-of from the projection's history (the route's and the CLI's way once the projection has caught up). */
  readonly p50: number;
  readonly p99: number;
  /** As-of by a fold of the contract's events (the way when the projection is behind). */
  readonly foldP50: number;
  /** The month's figures as they stand now (the projection's plain answer): the baseline. */
  readonly projectionP50: number;
}

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

/** `runs` as-of queries of the month at the current instant (every event counts), and the projection's answer. */
export async function measureAsOf(ledger: Ledger, contractCode: string, month: string, runs = 20): Promise<AsOfFigures> {
  const queries = createQueries(ledger.database, ledger.store);
  const deps = { store: ledger.store, queries, database: ledger.database };
  const times: number[] = [];
  const projection: number[] = [];
  const folds: number[] = [];
  const asOf = new Date(Date.now() + 60_000);
  for (let i = 0; i < runs + 2; i++) {
    let t = performance.now();
    const folded = await engineerChargesAsOf(deps, contractCode, month, asOf);
    const ms = performance.now() - t;
    t = performance.now();
    const projected = await engineerCharges(queries, contractCode, month);
    const pms = performance.now() - t;
    if (folded.normal.total !== projected.normal.total) throw new Error(`as-of ${folded.normal.total} ≠ projection ${projected.normal.total}`);
    if (i < 2) continue; // warm-up
    times.push(ms);
    projection.push(pms);
    if (i < 5) {
      t = performance.now();
      const byFold = await engineerChargesAsOf({ store: ledger.store, queries }, contractCode, month, asOf);
      folds.push(performance.now() - t);
      if (byFold.normal.total !== projected.normal.total) throw new Error(`fold ${byFold.normal.total} ≠ projection ${projected.normal.total}`);
    }
  }
  for (const list of [times, projection, folds]) list.sort((a, b) => a - b);
  return { p50: percentile(times, 50), p99: percentile(times, 99), foldP50: percentile(folds, 50), projectionP50: percentile(projection, 50) };
}

/**
 * One contract of `calls` calls last month in a fresh schema (dropped after): imported, caught up,
 * then `runs` as-of queries — the goal's own size and a p99 that is not just the slowest of 20.
 */
export async function asOfOnFreshContract(calls: number, runs = 20): Promise<AsOfFigures> {
  const schema = `bench_asof_${process.pid}`;
  const ledger = await openLedger(configFromEnv({ ...process.env, LEDGER_DB_SCHEMA: schema } as NodeJS.ProcessEnv));
  const file = `/tmp/asof-${process.pid}.csv`;
  try {
    const contracts = benchContracts(1);
    const month = addMonths(japanMonthAt(new Date()), -1);
    await importContracts(ledger.store, Buffer.from(contractLines(contracts)), { name: 'bench-contracts.jsonl', credentialsDb: ledger.database.db });
    await writeCallCsv(file, contracts, calls, { months: [month] });
    await importCalls(ledger.store, file);
    await createProjectionRunner(ledger.database, ledger.store).catchUp();
    return await measureAsOf(ledger, contracts[0]!.contractCode, month, runs);
  } finally {
    rmSync(file, { force: true });
    if (ledger.database.pool) await sql.raw(`drop schema if exists ${schema} cascade`).execute(ledger.database.db);
    await ledger.close();
  }
}

if (process.argv[1]?.endsWith('as-of.ts')) {
  const calls = Number(process.argv[2] ?? 100_000);
  const f = await asOfOnFreshContract(calls, Number(process.argv[3] ?? 20));
  process.stdout.write(`${calls} calls: as-of p50 ${f.p50.toFixed(0)} ms, p99 ${f.p99.toFixed(0)} ms; by fold p50 ${f.foldP50.toFixed(0)} ms; projection now p50 ${f.projectionP50.toFixed(1)} ms\n`);
}
