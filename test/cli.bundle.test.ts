// The bundled CLI (dist/ledger/, what `npx ledger` and the bench run) against the sources: the same
// call file gives the same events byte for byte (ids, streams, revisions, data, metadata, hashes),
// across the bulk writer's growing chunks; a bad file is refused with FILE:LINE: FIELD and nothing
// stored; the same file again is already present. On both stores.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../eventstore/database.ts';
import { databaseUrl } from './support/stores.ts';
import { callCsv, fixtureContracts, generatedRow, writeGeneratedCallFile } from './support/call-csv.ts';

const ROWS = 4_000; // chunks of 500, 1,000, 2,000 and the rest
const contracts = fixtureContracts(3, 2);
const numbers = contracts.flatMap((c) => [c.basicNumber, ...c.dialInNumbers]);

type Cli = 'bundle' | 'sources';

function run(cli: Cli, args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const command = cli === 'bundle' ? ['cli/bin.mjs'] : ['--import', 'tsx', 'cli/main.ts'];
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...command, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

const targets = [{ name: 'PGlite' as const }, ...(databaseUrl ? [{ name: 'PostgreSQL' as const }] : [])];

describe.each(targets)('the bundled CLI imports calls as the sources do ($name)', ({ name }) => {
  const dir = mkdtempSync(join(tmpdir(), 'ledger-bundle-'));
  const envOf = (cli: Cli): NodeJS.ProcessEnv =>
    name === 'PostgreSQL'
      ? { ...process.env, DATABASE_URL: databaseUrl, LEDGER_DB_SCHEMA: `bundle_${cli}_${suffix}` }
      : { ...process.env, DATABASE_URL: '', LEDGER_DATA_DIR: join(dir, `data-${cli}`) };
  const suffix = randomBytes(4).toString('hex');
  const calls = join(dir, 'calls.csv');

  const storedCalls = async (cli: Cli) => {
    const env = envOf(cli);
    const database = await openDatabase(name === 'PostgreSQL' ? { url: databaseUrl, schema: env.LEDGER_DB_SCHEMA } : { dataDir: env.LEDGER_DATA_DIR });
    try {
      const { rows } = await sql<Record<string, string>>`
        select event_id::text as id, stream_id, revision::text as revision, type, data::text as data, metadata::text as metadata, payload_hash
        from events where type = 'CallRecorded' order by position`.execute(database.db);
      return rows;
    } finally {
      await database.close();
    }
  };

  beforeAll(async () => {
    if (!existsSync('dist/ledger/main.js')) throw new Error('dist/ledger/ is missing: run `npm run build` (npm test does it first)');
    const lines = contracts.flatMap((c) => [
      { type: 'OpenContract', contractCode: c.contractCode, selfId: c.contractCode, startDate: c.startDate, channels: 1, connectionType: 'ダイヤルイン接続', primaryDns: '192.0.2.1', secondaryDns: '192.0.2.2', basicNumber: c.basicNumber },
      ...c.dialInNumbers.map((n) => ({ type: 'AddNumber', contractCode: c.contractCode, dialInNumber: n, auMobileNumber: '09012345678', startDate: c.startDate })),
    ]);
    writeFileSync(join(dir, 'contracts.jsonl'), lines.map((l) => JSON.stringify(l)).join('\n'));
    await writeGeneratedCallFile(calls, ROWS, numbers, { encoding: 'cp932' });
    for (const cli of ['bundle', 'sources'] as const) {
      const opened = await run(cli, ['import', 'contracts', join(dir, 'contracts.jsonl')], envOf(cli));
      expect(opened.code, opened.stderr).toBe(0);
    }
  }, 240_000);

  afterAll(async () => {
    if (name === 'PostgreSQL') {
      const database = await openDatabase({ url: databaseUrl });
      for (const cli of ['bundle', 'sources'] as const) await sql.raw(`drop schema if exists ${envOf(cli).LEDGER_DB_SCHEMA} cascade`).execute(database.db);
      await database.close();
    }
    rmSync(dir, { recursive: true, force: true });
  });

  it('stores the same events byte for byte; the same file again is already present', async () => {
    for (const cli of ['bundle', 'sources'] as const) {
      const imported = await run(cli, ['import', 'calls', calls], envOf(cli));
      expect(imported.code, imported.stderr).toBe(0);
      expect(imported.stdout).toContain(`read ${ROWS}, imported ${ROWS}`);
    }
    const bundled = await storedCalls('bundle');
    expect(bundled).toHaveLength(ROWS);
    expect(bundled).toEqual(await storedCalls('sources'));

    const again = await run('bundle', ['import', 'calls', calls], envOf('bundle'));
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toContain(`imported 0, already present ${ROWS}`);
    expect(await storedCalls('bundle')).toEqual(bundled);
  }, 240_000);

  it('refuses a bad file with FILE:LINE: FIELD and stores nothing of it', async () => {
    const before = await storedCalls('bundle');
    const rows = Array.from({ length: 1_200 }, (_, i) => generatedRow(ROWS + i, numbers, '2017-12'));
    rows[1_100]![8] = '8.005'; // line 1,102: past the first two chunks written
    const bad = join(dir, 'bad.csv');
    writeFileSync(bad, callCsv(rows, { encoding: 'cp932' }));
    const refused = await run('bundle', ['import', 'calls', bad], envOf('bundle'));
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain(`${bad}:1102: 通話料:`);
    expect(await storedCalls('bundle')).toEqual(before);
  }, 240_000);
});
