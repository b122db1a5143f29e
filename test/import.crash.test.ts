// Crash safety of `ledger import calls` (issue "Files in and out"): kill -9 the CLI at seeded random
// moments, run the same command again, and the store holds exactly the file — nothing lost or
// doubled. After a kill the file is either wholly stored or not at all (one transaction).
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase, type Database } from '../eventstore/database.ts';
import { Money } from '../domain/money.ts';
import { databaseUrl } from './support/stores.ts';
import { fixtureContracts, generatedRow, writeGeneratedCallFile } from './support/call-csv.ts';

const TRIALS = 10;
const ROWS = 15_000;
const contracts = fixtureContracts(5, 3);
const numbers = contracts.flatMap((c) => [c.basicNumber, ...c.dialInNumbers]);

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function runCli(args: string[], env: NodeJS.ProcessEnv, killAfterMs?: number): Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string; stdout: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'cli/main.ts', ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = killAfterMs === undefined ? undefined : setTimeout(() => child.kill('SIGKILL'), killAfterMs);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      if (timer) clearTimeout(timer);
      resolve({ code, signal, stderr, stdout });
    });
  });
}

const describeOnPostgres = databaseUrl ? describe : describe.skip;
const name = databaseUrl ? 'kill -9 during `ledger import calls` (PostgreSQL)' : 'kill -9 during `ledger import calls` (skipped: needs DATABASE_URL for a PostgreSQL server)';

describeOnPostgres(name, () => {
  const schema = `crash_${randomBytes(5).toString('hex')}`;
  const env = { ...process.env, DATABASE_URL: databaseUrl, LEDGER_DB_SCHEMA: schema };
  const dir = mkdtempSync(join(tmpdir(), 'ledger-crash-'));
  let database: Database;

  beforeAll(async () => {
    const lines = contracts.flatMap((c) => [
      { type: 'OpenContract', contractCode: c.contractCode, selfId: c.contractCode, startDate: c.startDate, channels: 1, connectionType: 'ダイヤルイン接続', primaryDns: '192.0.2.1', secondaryDns: '192.0.2.2', basicNumber: c.basicNumber },
      ...c.dialInNumbers.map((n) => ({ type: 'AddNumber', contractCode: c.contractCode, dialInNumber: n, auMobileNumber: '09012345678', startDate: c.startDate })),
    ]);
    writeFileSync(join(dir, 'contracts.jsonl'), lines.map((l) => JSON.stringify(l)).join('\n'));
    const opened = await runCli(['import', 'contracts', join(dir, 'contracts.jsonl')], env);
    expect(opened.stderr).toBe('');
    database = await openDatabase({ url: databaseUrl, schema });
  }, 120_000);

  afterAll(async () => {
    await sql.raw(`drop schema if exists ${schema} cascade`).execute(database.db);
    await database.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const stored = async () => {
    const { rows } = await sql<{ n: string; total: string | null }>`
      select count(*)::text as n, sum((data->>'charge')::numeric)::text as total from events where type = 'CallRecorded'`.execute(database.db);
    return { calls: Number(rows[0]!.n), total: Money.fromDb(rows[0]!.total ?? '0') };
  };

  it(`leaves the whole file or nothing, and a re-run completes it exactly (${TRIALS} trials, seeded)`, async () => {
    const random = mulberry32(20171101);
    // How long a whole import of this size takes on this machine (start-up to exit): the kill
    // moments are drawn over it, so that they interrupt imports on a quick machine as on a slow one
    // (fixed moments of 0.3–5.3 s followed imports finished in under 1 s here).
    const calibration = join(dir, 'calls-2017-12.csv');
    await writeGeneratedCallFile(calibration, ROWS, numbers, { month: '2017-12', encoding: 'cp932' });
    const timed = performance.now();
    const whole = await runCli(['import', 'calls', calibration], env);
    expect(whole.code, whole.stderr).toBe(0);
    const importMs = performance.now() - timed;
    let expected = await stored();
    const outcomes: string[] = [];
    for (let trial = 0; trial < TRIALS; trial++) {
      // A month of its own per trial, so that every trial's calls are new.
      const month = `2018-${String(trial + 1).padStart(2, '0')}`;
      const file = join(dir, `calls-${month}.csv`);
      await writeGeneratedCallFile(file, ROWS, numbers, { month, encoding: trial % 2 ? 'utf-8-bom' : 'cp932' });
      const fileTotal = Money.sum(Array.from({ length: ROWS }, (_, i) => Money.parseCharge(generatedRow(i, numbers, month)[8])));

      // From a third of the way in (start-up, a few hundred ms, is behind) to just past the end.
      const killAt = Math.round(importMs * (0.3 + 0.8 * random()));
      const killed = await runCli(['import', 'calls', file], env, killAt);
      const afterKill = await stored();
      // All or nothing: never part of the file.
      expect([expected.calls, expected.calls + ROWS], `trial ${trial}: killed at ${killAt} ms (${killed.signal ?? `exit ${killed.code}`})`).toContain(afterKill.calls);

      const rerun = await runCli(['import', 'calls', file], env);
      expect(rerun.code, rerun.stderr).toBe(0);
      const done = afterKill.calls === expected.calls ? ROWS : 0;
      outcomes.push(`${killAt}ms:${killed.signal === 'SIGKILL' ? (done ? 'killed, nothing stored' : 'killed after commit') : 'finished'}`);
      expect(rerun.stdout).toContain(`read ${ROWS}, imported ${done}, already present ${ROWS - done}, duplicates 0`);
      const after = await stored();
      expect(after.calls).toBe(expected.calls + ROWS);
      expect(after.total.toString()).toBe(expected.total.plus(fileTotal).toString());
      expected = after;
    }
    // The seeded moments must really interrupt imports, not only follow finished ones.
    expect(outcomes.filter((o) => o.endsWith('killed, nothing stored')).length, `${outcomes.join(', ')} (a whole import: ${Math.round(importMs)} ms)`).toBeGreaterThanOrEqual(3);
  }, 300_000);
});
