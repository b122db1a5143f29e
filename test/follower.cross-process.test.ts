// The server runs the projectors continuously; an import made by the CLI in another process shows
// in the read side within a second (issue "Projections"). PostgreSQL only: one PGlite data
// directory belongs to one process.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openLedger, type Ledger } from '../cli/context.ts';
import { configFromEnv } from '../cli/config.ts';
import { createProjectionRunner } from '../projections/index.ts';
import { createQueries } from '../projections/queries.ts';
import { engineerCharges } from '../projections/engineering.ts';
import { databaseUrl } from './support/stores.ts';
import { callCsv, fixtureContracts, generatedRow } from './support/call-csv.ts';

function cli(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'cli/main.ts', ...args], { env, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stderr }));
  });
}

const describeOnPostgres = databaseUrl ? describe : describe.skip;
const title = databaseUrl
  ? 'a CLI import in another process, seen by a following server (PostgreSQL)'
  : 'a CLI import in another process, seen by a following server (skipped: needs DATABASE_URL; PGlite is one process)';

describeOnPostgres(title, () => {
  const schema = `follow_${randomBytes(5).toString('hex')}`;
  const env = { ...process.env, DATABASE_URL: databaseUrl, LEDGER_DB_SCHEMA: schema };
  const dir = mkdtempSync(join(tmpdir(), 'ledger-follow-'));
  const [contract] = fixtureContracts(1);
  let ledger: Ledger;
  const controller = new AbortController();
  let following: Promise<void>;

  beforeAll(async () => {
    ledger = await openLedger(configFromEnv(env));
    const lines = [
      { type: 'OpenContract', contractCode: contract!.contractCode, selfId: contract!.contractCode, startDate: contract!.startDate, channels: 1, connectionType: 'ダイヤルイン接続', primaryDns: '192.0.2.1', secondaryDns: '192.0.2.2', basicNumber: contract!.basicNumber },
      ...contract!.dialInNumbers.map((n) => ({ type: 'AddNumber', contractCode: contract!.contractCode, dialInNumber: n, auMobileNumber: '09012345678', startDate: contract!.startDate })),
    ];
    writeFileSync(join(dir, 'contracts.jsonl'), lines.map((l) => JSON.stringify(l)).join('\n'));
    const opened = await cli(['import', 'contracts', join(dir, 'contracts.jsonl')], env);
    expect(opened.stderr).toBe('');
    const runner = createProjectionRunner(ledger.database, ledger.store, { pollMs: 200 });
    await runner.catchUp();
    following = runner.follow(controller.signal);
  });

  afterAll(async () => {
    controller.abort();
    await following;
    await sql.raw(`drop schema if exists ${schema} cascade`).execute(ledger.database.db);
    await ledger.close();
    rmSync(dir, { recursive: true, force: true });
  });

  // The follower polls every 200 ms here (250 ms in `serve`); the wait is bounded generously so
  // that a loaded CI machine does not fail it: this checks that another process's import is picked
  // up without a restart, not the latency, which stays out of unit tests.
  it('shows the imported calls shortly after the CLI finishes, without a restart', async () => {
    const numbers = [contract!.basicNumber, ...contract!.dialInNumbers];
    const rows = Array.from({ length: 50 }, (_, i) => generatedRow(i, numbers));
    writeFileSync(join(dir, 'calls.csv'), callCsv(rows));
    const imported = await cli(['import', 'calls', join(dir, 'calls.csv')], env);
    expect(imported.code).toBe(0);
    const finished = Date.now();
    const queries = createQueries(ledger.database, ledger.store);
    let seen = 0;
    while (Date.now() - finished < 10_000) {
      const month = await engineerCharges(queries, contract!.contractCode, '2017-11');
      seen = month.numbers.reduce((n, x) => n + x.calls, 0);
      if (seen === 50) break;
      await new Promise((r) => setTimeout(r, 25));
    }
    expect(seen).toBe(50);
  }, 60_000);
});
