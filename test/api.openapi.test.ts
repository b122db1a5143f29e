// The OpenAPI document (GET /api/v1/openapi.json) as a client generator reads it: lint-clean under
// Redocly's recommended rules (the repository's redocly.yaml), every operation named, public ones
// said to be public, servers given. That every status a route gives is listed is the fuzz suite's
// part (test/api.fuzz.test.ts).
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testTargets } from './support/stores.ts';
import { json, openFixture, type Fixture } from './api.support.ts';

const root = fileURLToPath(new URL('..', import.meta.url));
const METHODS = ['get', 'put', 'post', 'delete', 'patch'];

describe('the OpenAPI document', () => {
  let f: Fixture;
  let doc: any;
  let dir: string;
  beforeAll(async () => {
    f = await openFixture(testTargets[0]!);
    doc = await json(await f.request('GET', '/api/v1/openapi.json'));
    dir = await mkdtemp(join(tmpdir(), 'ledger-openapi-'));
  });
  afterAll(async () => {
    await f?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const operations = () =>
    Object.entries(doc.paths as Record<string, Record<string, any>>).flatMap(([path, item]) =>
      Object.entries(item)
        .filter(([method]) => METHODS.includes(method))
        .map(([method, op]) => ({ path, method, op })),
    );

  it('passes `redocly lint` (recommended rules) with no error and no warning', async () => {
    const file = join(dir, 'openapi.json');
    await writeFile(file, JSON.stringify(doc));
    const cli = join(root, 'node_modules/@redocly/cli/bin/cli.js');
    // Telemetry and the update check would reach for the network, which CI does not have.
    const env = { ...process.env, REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true', NO_COLOR: '1' };
    const run = await promisify(execFile)(process.execPath, [cli, 'lint', file, '--config', join(root, 'redocly.yaml'), '--format=json'], { env, cwd: root }).catch(
      (e: { stdout?: string; code?: number }) => ({ stdout: e.stdout ?? '', code: e.code }),
    );
    const report = JSON.parse(run.stdout) as { totals: { errors: number; warnings: number }; problems: { ruleId: string; message: string; location: { pointer: string }[] }[] };
    expect(report.problems.map((p) => `${p.ruleId} at ${p.location[0]?.pointer}: ${p.message}`)).toEqual([]);
    expect(report.totals).toMatchObject({ errors: 0, warnings: 0 });
  }, 60_000);

  it('names every operation once (operationId), for client generators', () => {
    const ids = operations().map(({ op }) => op.operationId);
    expect(ids.every((id) => typeof id === 'string' && /^[a-z][A-Za-z]+$/.test(id))).toBe(true);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('says of every operation which token it needs, and that logging in, health, readiness and metrics need none', () => {
    for (const { path, method, op } of operations()) expect(Array.isArray(op.security), `${method} ${path}`).toBe(true);
    expect(doc.paths['/api/v1/session'].post.security).toEqual([]);
    for (const path of ['/health', '/ready', '/metrics']) expect(doc.paths[path].get.security, path).toEqual([]);
    expect(doc.paths['/api/v1/session'].delete.security).toEqual([{ session: [] }]);
    expect(doc.paths['/api/v1/admin/streams/{streamId}'].get.security).toEqual([{ admin: [] }]);
  });

  it('names its server, relative to where the document is served', () => {
    expect(doc.servers).toEqual([expect.objectContaining({ url: '/' })]);
  });

  it('lists the answers every route gives by the way the app is built, each with the error body', () => {
    for (const { path, method, op } of operations()) {
      const listed = Object.keys(op.responses);
      const where = `${method} ${path}`;
      expect(listed, where).toContain('431');
      if (op.security.length > 0) expect(listed, where).toContain('401');
      // A customer's route runs in its contract's lane (api/fairness.ts), which turns a burst away.
      if (op.security.some((s: Record<string, unknown>) => 'session' in s)) expect(op.responses['429']?.description, where).toContain('TOO_MANY_REQUESTS');
      if (op.requestBody) expect(listed, where).toEqual(expect.arrayContaining(['400', '413', '415']));
      if (path.startsWith('/api/')) expect(listed, where).toContain('503');
      for (const status of listed.filter((s) => s >= '400' && path.startsWith('/api/'))) {
        expect(op.responses[status].content['application/json'].schema, `${where} ${status}`).toEqual({ $ref: '#/components/schemas/Error' });
      }
    }
  });
});
