// The database goes away and comes back (issue 17 §1): the server's connections are terminated
// while idle, during a portal query, during an import (HTTP and CLI) and during a set-based
// catch-up; the database refuses connections, or stops answering. The same server process answers
// 503 meanwhile — never a 500, never a hang — and answers again by itself, with exact totals.
// PostgreSQL only: PGlite is in the process and cannot lose a connection.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Money } from '../domain/money.ts';
import { databaseUrl } from './support/stores.ts';
import { generatedRow, writeGeneratedCallFile } from './support/call-csv.ts';
import { ADMIN_TOKEN, adminPool, openResilientServer, terminate, until, type ResilientServer } from './support/resilient-server.ts';
import { startTcpProxy, type TcpProxy } from './support/tcp-proxy.ts';

const describeOnPostgres = databaseUrl ? describe : describe.skip;
const onPostgres = (name: string) => (databaseUrl ? name : `${name} (skipped: needs DATABASE_URL for a PostgreSQL server)`);
const admin = { authorization: `Bearer ${ADMIN_TOKEN}` };
const SESSION_COOKIE = 'ledger_session';

/** Milliseconds from `since` until `check` holds (what the report quotes). */
async function timeUntil(check: () => Promise<boolean>, ms = 20_000): Promise<number> {
  const since = performance.now();
  await until('the server to answer again', async () => (await check()) || undefined, ms);
  return Math.round(performance.now() - since);
}

function fileTotal(rows: number, numbers: readonly string[], month: string): string {
  return Money.sum(Array.from({ length: rows }, (_, i) => Money.parseCharge(generatedRow(i, numbers, month)[8]))).toString();
}

const measured: string[] = [];
afterAll(() => {
  if (measured.length > 0) console.log(`answering again after lost connections:\n  ${measured.join('\n  ')}`);
});

describeOnPostgres(onPostgres('lost connections on PostgreSQL'), () => {
  let pgAdmin: pg.Pool;
  let s: ResilientServer;
  const dir = mkdtempSync(join(tmpdir(), 'ledger-resilience-'));

  beforeAll(async () => {
    pgAdmin = adminPool(databaseUrl!);
    // lockMs: a portal query blocked by a lock stays blocked long enough to be cut mid-way.
    s = await openResilientServer({ url: databaseUrl!, requestLimits: { lockMs: 15_000 } });
  }, 60_000);

  afterAll(async () => {
    await s?.close();
    await pgAdmin?.end();
    rmSync(dir, { recursive: true, force: true });
  });

  const chargesOf = async (token: string) => {
    const res = await s.request('GET', '/api/v1/charges', { token });
    return { status: res.status, body: (await res.json()) as any };
  };

  it('answers again with the same totals after every connection was terminated while idle, and the follower and its LISTEN carry on', async () => {
    const csv = join(dir, 'idle.csv');
    await writeGeneratedCallFile(csv, 2_000, s.numbers, { month: '2017-10', encoding: 'utf-8' });
    const first = await s.request('POST', '/api/v1/admin/imports/calls', { body: readFileSync(csv), headers: { ...admin, 'content-type': 'text/csv' } });
    expect(first.status, await first.clone().text()).toBe(200);
    const token = await s.login(s.contracts[0]!.contractCode);
    const before = await chargesOf(token);
    expect(before.status).toBe(200);
    await until('the LISTEN connection', async () => (await pgAdmin.query(`select 1 from pg_stat_activity where application_name = $1`, [`${s.appName}/listen`])).rowCount);

    const killed = await terminate(pgAdmin, s.appName);
    expect(killed).toBeGreaterThanOrEqual(3); // work, requests, listen at least

    const ms = await timeUntil(async () => (await chargesOf(token)).status === 200);
    measured.push(`idle connections terminated → portal 200 after ${ms} ms`);
    expect(await chargesOf(token)).toEqual(before);
    // The follower may have met the cut too: it says so (degraded, with the reason) until its
    // backoff brings it back, within seconds, with no stall recorded.
    const followerMs = await timeUntil(async () => ((await (await s.request('GET', '/health')).json()) as { status: string }).status === 'ok', 15_000);
    measured.push(`idle connections terminated → /health ok again after ${ms + followerMs} ms`);
    expect((await s.request('GET', '/ready')).status).toBe(200);
    // The LISTEN connection is made again by itself.
    await until('the LISTEN connection again', async () => (await pgAdmin.query(`select 1 from pg_stat_activity where application_name = $1`, [`${s.appName}/listen`])).rowCount);
    // And the follower still follows: a new import is projected with exact totals.
    const csv2 = join(dir, 'idle-2.csv');
    await writeGeneratedCallFile(csv2, 1_000, s.numbers, { month: '2017-09', encoding: 'utf-8' });
    const second = await s.request('POST', '/api/v1/admin/imports/calls', { body: readFileSync(csv2), headers: { ...admin, 'content-type': 'text/csv' } });
    expect(second.status).toBe(200);
    expect(await s.projectedTotal('2017-09')).toBe(fileTotal(1_000, s.numbers, '2017-09'));
    expect(await s.projectedTotal('2017-10')).toBe(fileTotal(2_000, s.numbers, '2017-10'));
  }, 60_000);

  it('answers 503 DATABASE_UNAVAILABLE to a portal query whose connection is terminated, then answers again with the same totals', async () => {
    const token = await s.login(s.contracts[0]!.contractCode);
    const before = await chargesOf(token);
    expect(before.status).toBe(200);
    // Hold the monthly totals so that the query is in flight when its connection is cut.
    const holder = await pgAdmin.connect();
    try {
      await holder.query('begin');
      await holder.query(`lock table ${s.schema}.proj_monthly_charges in access exclusive mode`);
      const inFlight = s.request('GET', '/api/v1/charges', { token });
      const page = s.request('GET', '/charges', { headers: { cookie: `${SESSION_COOKIE}=${token}` } });
      await until('both queries waiting on the lock', async () => {
        const { rows } = await pgAdmin.query(`select count(*)::int as n from pg_stat_activity where application_name = $1 and wait_event_type = 'Lock'`, [`${s.appName}/requests`]);
        return rows[0].n >= 2;
      });
      // The charges route reads several things at once: each of its connections waits.
      expect(await terminate(pgAdmin, `${s.appName}/requests`, `wait_event_type = 'Lock'`)).toBeGreaterThanOrEqual(2);
      const res = await inFlight;
      expect(res.status).toBe(503);
      expect(res.headers.get('retry-after')).toBe('5');
      expect(((await res.json()) as any).error.code).toBe('DATABASE_UNAVAILABLE');
      const html = await page;
      expect(html.status).toBe(503);
      expect(await html.text()).toContain('しばらくしてから');
    } finally {
      await holder.query('rollback').catch(() => {});
      holder.release();
    }
    const ms = await timeUntil(async () => (await chargesOf(token)).status === 200);
    measured.push(`portal query's connection terminated → 200 again after ${ms} ms`);
    expect(await chargesOf(token)).toEqual(before);
  }, 60_000);

  it('answers 503 to an HTTP import whose connection is terminated mid-way, stores nothing of it, and a re-run gives exact totals', async () => {
    const rows = 30_000;
    const csv = join(dir, 'cut.csv');
    await writeGeneratedCallFile(csv, rows, s.numbers, { month: '2017-11', encoding: 'cp932' });
    const before = await s.storedCalls();
    const importing = s.request('POST', '/api/v1/admin/imports/calls', { body: readFileSync(csv), headers: { ...admin, 'content-type': 'text/csv' } });
    // Cut once the import's transaction has written rows (it has a transaction id then).
    await until('the import writing', async () => (await pgAdmin.query(`select 1 from pg_stat_activity where application_name = $1 and backend_xid is not null`, [`${s.appName}/work`])).rowCount, 60_000);
    expect(await terminate(pgAdmin, `${s.appName}/work`)).toBeGreaterThanOrEqual(1);
    const res = await importing;
    expect(res.status, await res.clone().text()).toBe(503);
    expect(((await res.json()) as any).error.code).toBe('DATABASE_UNAVAILABLE');
    expect(await s.storedCalls()).toEqual(before);

    const again = await s.request('POST', '/api/v1/admin/imports/calls', { body: readFileSync(csv), headers: { ...admin, 'content-type': 'text/csv' } });
    expect(again.status).toBe(200);
    expect(await again.json()).toMatchObject({ read: rows, imported: rows, alreadyPresent: 0 });
    const after = await s.storedCalls();
    expect(after.calls).toBe(before.calls + rows);
    expect(after.total).toBe(Money.fromDb(before.total).plus(Money.fromDb(fileTotal(rows, s.numbers, '2017-11'))).toString());
    expect(await s.projectedTotal('2017-11')).toBe(fileTotal(rows, s.numbers, '2017-11'));
    expect(await s.verified('2017-11')).toBe(true);
  }, 120_000);

  it('exits 1 with one sentence when a CLI import loses its connection, stores nothing, and a re-run gives exact totals', async () => {
    const rows = 20_000;
    const csv = join(dir, 'cli.csv');
    await writeGeneratedCallFile(csv, rows, s.numbers, { month: '2017-08', encoding: 'cp932' });
    const cliApp = `${s.appName}-cli`;
    const url = `${databaseUrl}${databaseUrl!.includes('?') ? '&' : '?'}application_name=${cliApp}`;
    const env = { ...process.env, DATABASE_URL: url, LEDGER_DB_SCHEMA: s.schema };
    const before = await s.storedCalls();
    const run = () =>
      new Promise<{ code: number | null; stderr: string; stdout: string }>((resolve, reject) => {
        const child = spawn(process.execPath, ['--import', 'tsx', 'cli/main.ts', 'import', 'calls', csv], { env, stdio: ['ignore', 'pipe', 'pipe'] });
        let stdout = '';
        let stderr = '';
        child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
        child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
        child.on('error', reject);
        child.on('close', (code) => resolve({ code, stderr, stdout }));
      });
    const cut = run();
    await until('the CLI import writing', async () => (await pgAdmin.query(`select 1 from pg_stat_activity where application_name = $1 and backend_xid is not null`, [cliApp])).rowCount, 60_000);
    expect(await terminate(pgAdmin, cliApp)).toBeGreaterThanOrEqual(1);
    const failed = await cut;
    expect(failed.code).toBe(1);
    expect(failed.stderr).toMatch(/^ledger import: the database could not be reached or the connection was lost \([^\n]+\); what was being written is not stored — run the same command again once the database answers\.\n$/);
    expect(await s.storedCalls()).toEqual(before);

    const rerun = await run();
    expect(rerun.code, rerun.stderr).toBe(0);
    expect(rerun.stdout).toContain(`read ${rows}, imported ${rows}, already present 0, duplicates 0`);
    const after = await s.storedCalls();
    expect(after.calls).toBe(before.calls + rows);
    // The server's follower (woken by the CLI's NOTIFY) projects it exactly.
    await until('the follower to catch up', async () => (await s.projectedTotal('2017-08')) === fileTotal(rows, s.numbers, '2017-08'), 60_000, 200);
    expect(await s.verified('2017-08')).toBe(true);
  }, 120_000);
});

describeOnPostgres(onPostgres('a set-based catch-up cut by a lost connection on PostgreSQL'), () => {
  let pgAdmin: pg.Pool;
  let s: ResilientServer;
  const dir = mkdtempSync(join(tmpdir(), 'ledger-resilience-'));

  beforeAll(async () => {
    pgAdmin = adminPool(databaseUrl!);
    s = await openResilientServer({ url: databaseUrl!, catchUpByRebuild: { share: 0.5, minEvents: 1_000 } });
  }, 60_000);
  afterAll(async () => {
    await s?.close();
    await pgAdmin?.end();
    rmSync(dir, { recursive: true, force: true });
  });

  it('is started again by the follower, with backoff, and ends with exact totals', async () => {
    const rows = 40_000;
    const csv = join(dir, 'catch-up.csv');
    await writeGeneratedCallFile(csv, rows, s.numbers, { month: '2017-11', encoding: 'utf-8' });
    // The store's own import: the server's follower learns of it by NOTIFY and catches up set-based.
    const { importCalls } = await import('../importers/calls.ts');
    const importing = importCalls(s.store, readFileSync(csv), { name: 'catch-up.csv' });
    await importing;
    await until(
      'the set-based rebuild',
      async () => (await pgAdmin.query(`select 1 from pg_stat_activity where application_name = $1 and state = 'active' and query ilike '%\\_next%'`, [`${s.appName}/work`])).rowCount,
      60_000,
    );
    expect(await terminate(pgAdmin, `${s.appName}/work`)).toBeGreaterThanOrEqual(1);
    await until('the follower to say it waits for the database', async () => s.logs.some((l) => l.includes('projection follower waiting for the database')), 10_000);
    const ms = await timeUntil(async () => {
      const health = (await (await s.request('GET', '/health')).json()) as { status: string; projections: Record<string, { lag: number }> };
      return health.status === 'ok' && Object.values(health.projections).every((p) => p.lag === 0);
    }, 120_000);
    measured.push(`set-based catch-up cut → caught up again after ${ms} ms`);
    expect(await s.projectedTotal('2017-11')).toBe(fileTotal(rows, s.numbers, '2017-11'));
    expect(await s.verified('2017-11')).toBe(true);
    expect(s.logs.some((l) => l.includes('database back, catching up'))).toBe(true);
  }, 180_000);
});

describeOnPostgres(onPostgres('the database refusing connections, or silent, on PostgreSQL'), () => {
  let proxy: TcpProxy;
  let s: ResilientServer;

  beforeAll(async () => {
    const u = new URL(databaseUrl!);
    proxy = await startTcpProxy({ host: u.hostname, port: Number(u.port || 5432) });
    u.host = `127.0.0.1:${proxy.port}`;
    s = await openResilientServer({ url: u.toString(), requestLimits: { connectMs: 1_000, queryMs: 1_500 } });
  }, 60_000);
  afterAll(async () => {
    proxy?.setMode('forward');
    await s?.close();
    await proxy?.close();
  });

  it('answers 503 DATABASE_UNAVAILABLE within the bounds, /health says degraded with the reason, and everything resumes by itself', async () => {
    const token = await s.login(s.contracts[1]!.contractCode);
    const before = await (await s.request('GET', '/api/v1/charges', { token })).json();

    for (const mode of ['refuse', 'silent'] as const) {
      proxy.setMode(mode);
      const started = performance.now();
      const res = await s.request('GET', '/api/v1/charges', { token });
      const took = performance.now() - started;
      expect(res.status, `${mode}: ${await res.clone().text()}`).toBe(503);
      expect(((await res.json()) as any).error.code).toBe('DATABASE_UNAVAILABLE');
      // Bounded by the request limits (1 s to connect, 1.5 s a query), never a hang.
      expect(took, mode).toBeLessThan(10_000);
      const health = await s.request('GET', '/health');
      expect(health.status).toBe(200);
      const body = (await health.json()) as { status: string; reason: string };
      expect(body.status).toBe('degraded');
      expect(body.reason).toMatch(/database/);
      // Readiness: not ready, saying why (a load balancer takes the process out meanwhile).
      const ready = await s.request('GET', '/ready');
      expect(ready.status).toBe(503);
      expect(((await ready.json()) as any).error.code).toBe('DATABASE_UNAVAILABLE');
      // A customer's write: 503 too, nothing half done.
      const logout = await s.request('DELETE', '/api/v1/session', { token });
      expect(logout.status).toBe(503);
      proxy.setMode('forward');
      const ms = await timeUntil(async () => (await s.request('GET', '/api/v1/charges', { token })).status === 200);
      measured.push(`database ${mode === 'refuse' ? 'refusing' : 'silent'} then back → 200 after ${ms} ms`);
      expect(await (await s.request('GET', '/api/v1/charges', { token })).json()).toEqual(before);
    }
    // The follower carries on too, and the process is ready again by itself.
    await until('health ok', async () => ((await (await s.request('GET', '/health')).json()) as { status: string }).status === 'ok', 20_000);
    await until('ready again', async () => (await s.request('GET', '/ready')).status === 200, 20_000);
  }, 90_000);
});

describeOnPostgres(onPostgres('customers’ writes never wait for an import on PostgreSQL (issue 18 §3)'), () => {
  let pgAdmin: pg.Pool;
  let s: ResilientServer;

  beforeAll(async () => {
    pgAdmin = adminPool(databaseUrl!);
    s = await openResilientServer({ url: databaseUrl!, requestLimits: { lockMs: 1_000 } });
  }, 60_000);
  afterAll(async () => {
    await s?.close();
    await pgAdmin?.end();
  });

  it('answers 503 LEDGER_BUSY to writes while an import holds the writers’ lock, and readers keep their connections', async () => {
    const tokens = await Promise.all(s.contracts.map((c) => s.login(c.contractCode)));
    const before = await Promise.all(tokens.map(async (token) => (await s.request('GET', '/api/v1/charges', { token })).json()));
    // An import holds the writers' lock (the same lock, taken as the importer takes it).
    const holder = await pgAdmin.connect();
    await holder.query('begin');
    await holder.query(`select pg_advisory_xact_lock(x'4c454447'::int, hashtext($1))`, [s.schema]);
    try {
      const changes = Array.from({ length: 10 }, (_, i) =>
        s.request('PUT', '/api/v1/password', { token: tokens[i % tokens.length]!, json: { currentPassword: 'abc123', newPassword: 'def456', newPasswordConfirmation: 'def456' } }),
      );
      const reads = Array.from({ length: 30 }, (_, i) => s.request('GET', '/api/v1/charges', { token: tokens[i % tokens.length]! }));
      // Everything answers while the lock is still held: nobody waits for the import.
      const answered = await Promise.race([
        Promise.all([Promise.all(changes), Promise.all(reads)]),
        new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), 20_000)),
      ]);
      expect(answered, 'requests still waiting for the writers’ lock after 20 s').toBeDefined();
      const [changed, read] = answered!;
      for (const res of changed) {
        expect(res.status).toBe(503);
        expect(res.headers.get('retry-after')).toBe('30');
        const body = (await res.json()) as any;
        expect(body.error.code).toBe('LEDGER_BUSY');
        expect(body.error.message).toMatch(/try again/);
      }
      for (const [i, res] of read.entries()) {
        expect(res.status).toBe(200);
        expect(await res.json()).toEqual(before[i % tokens.length]);
      }
    } finally {
      await holder.query('rollback');
      holder.release();
    }
  }, 60_000);
});
