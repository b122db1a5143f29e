// `npm start` as a process manager runs it (issue 15 §4): SIGTERM to the process npm started stops
// the server — readiness answers 503 at once, new connections are refused, a request in flight
// finishes, the process exits 0 — and the generated admin token is kept in the data directory
// (mode 0600) so that a restart keeps it. Runs the compiled server (dist/), as `npm start` does:
// `npm test` builds first; run `npm run build` before running this file alone.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { request } from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { databaseUrl } from './support/stores.ts';

const STOP_BOUND_MS = 15_000;

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

interface Started {
  readonly child: ChildProcess;
  readonly port: number;
  output(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; ms: number }>;
  signalledAt?: number;
}

async function npmStart(env: NodeJS.ProcessEnv): Promise<Started> {
  const port = await freePort();
  const child = spawn('npm', ['start', '--', '--no-demo'], { env: { ...process.env, ...env, PORT: String(port), LOG_LEVEL: 'warn' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const started: Started = {
    child,
    port,
    output: () => out,
    exited: new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal, ms: Date.now() - (started.signalledAt ?? Date.now()) }))),
  };
  const deadline = Date.now() + 90_000;
  // The banner ends with the admin token's line (every start here leaves LEDGER_ADMIN_TOKEN empty);
  // its lines reach the pipe one write at a time, so wait for the last one, not the first.
  while (!out.includes('ledger listening on') || !/admin token.*\n/.test(out)) {
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`npm start did not come up:\n${out}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return started;
}

function get(port: number, path: string, token?: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, headers: token ? { authorization: `Bearer ${token}` } : {} }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode!, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

const targets = [{ name: 'PGlite', env: { DATABASE_URL: '' } }, ...(databaseUrl ? [{ name: 'PostgreSQL', env: { DATABASE_URL: databaseUrl } }] : [])];

describe.each(targets)('npm start on $name', ({ name, env: targetEnv }) => {
  let dataDir: string;
  let env: NodeJS.ProcessEnv;

  beforeAll(() => {
    if (!existsSync('dist/ledger/main.js')) throw new Error('dist/ is missing: run `npm run build` (npm test does it first)');
    dataDir = mkdtempSync(join(tmpdir(), 'ledger-stop-'));
    env = { ...targetEnv, LEDGER_DATA_DIR: dataDir, LEDGER_ADMIN_TOKEN: '', LEDGER_DB_SCHEMA: name === 'PostgreSQL' ? `stop_${process.pid}` : '' };
  });
  afterAll(async () => {
    rmSync(dataDir, { recursive: true, force: true });
    if (name === 'PostgreSQL') {
      const client = new pg.Client({ connectionString: databaseUrl });
      await client.connect();
      await client.query(`drop schema if exists ${env.LEDGER_DB_SCHEMA} cascade`);
      await client.end();
    }
  });

  it(
    'keeps the generated admin token in the data directory, readable by its owner only, and a restart uses it',
    async () => {
      const first = await npmStart(env);
      const file = join(dataDir, 'admin-token');
      try {
        const printed = /admin token \(generated, kept in (.+?); set LEDGER_ADMIN_TOKEN to choose one\): (\S+)/.exec(first.output());
        expect(printed?.[1]).toBe(file);
        const token = printed![2]!;
        expect(readFileSync(file, 'utf8').trim()).toBe(token);
        expect(statSync(file).mode & 0o777).toBe(0o600);
        expect((await get(first.port, '/api/v1/admin/streams/contract-d000000001', token)).status).toBe(404); // let in; no such stream
      } finally {
        first.child.kill('SIGTERM');
        await first.exited;
      }
      const token = readFileSync(file, 'utf8').trim();
      const second = await npmStart(env);
      try {
        expect(second.output()).toContain(`admin token: the one kept in ${file}`);
        expect(second.output()).not.toContain(token); // not printed again
        expect((await get(second.port, '/api/v1/admin/streams/contract-d000000001', token)).status).toBe(404);
        expect((await get(second.port, '/api/v1/admin/streams/contract-d000000001', 'another-token-0123456789')).status).toBe(401);
      } finally {
        second.child.kill('SIGTERM');
        await second.exited;
      }
    },
    240_000,
  );

  it(
    'stops on SIGTERM to the process npm started: new connections refused, the request in flight answered, exit 0 within the bound',
    async () => {
      const s = await npmStart(env);
      try {
        expect((await get(s.port, '/ready')).status).toBe(200);
        // A request in flight: its body half sent when the signal comes, the rest after.
        const token = readFileSync(join(dataDir, 'admin-token'), 'utf8').trim();
        const line = `${JSON.stringify({ type: 'OpenContract', contractCode: 'd555555555', selfId: 'd555555555', startDate: '2010-11-15', channels: 1, connectionType: 'ダイヤルイン接続', primaryDns: '192.0.2.1', secondaryDns: '192.0.2.2', basicNumber: '0120555555' })}\n`;
        const inFlight = new Promise<{ status: number; body: string }>((resolve, reject) => {
          const req = request({ host: '127.0.0.1', port: s.port, method: 'POST', path: '/api/v1/admin/imports/contracts', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/x-ndjson', 'content-length': Buffer.byteLength(line) } }, (res) => {
            let body = '';
            res.on('data', (d: Buffer) => (body += d.toString()));
            res.on('end', () => resolve({ status: res.statusCode!, body }));
          });
          req.on('error', reject);
          const bytes = Buffer.from(line);
          req.write(bytes.subarray(0, 40));
          setTimeout(() => {
            s.signalledAt = Date.now();
            s.child.kill('SIGTERM'); // npm start execs node: this is the server's own process
          }, 300);
          setTimeout(() => req.end(bytes.subarray(40)), 1500);
        });
        const deadline = Date.now() + 10_000;
        while (!s.output().includes('SIGTERM: shutting down') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
        expect(s.output()).toContain('SIGTERM: shutting down');
        await expect(get(s.port, '/health')).rejects.toMatchObject({ code: 'ECONNREFUSED' });
        const answered = await inFlight;
        expect(answered.status).toBe(200);
        expect(JSON.parse(answered.body)).toMatchObject({ imported: 1 });
        const exit = await s.exited;
        expect(exit).toMatchObject({ code: 0, signal: null });
        expect(exit.ms).toBeLessThan(STOP_BOUND_MS);
        expect(s.output()).toContain('stopped');
      } finally {
        if (s.child.exitCode === null) s.child.kill('SIGKILL');
      }
    },
    240_000,
  );
});
