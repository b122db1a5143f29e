// The admin token when LEDGER_ADMIN_TOKEN is unset (cli/admin-token.ts): made once, kept readable
// by its owner only, reused; a chosen token writes nothing; a file that holds no token stops the start.
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { adminToken, ADMIN_TOKEN_FILE } from '../cli/admin-token.ts';

describe('the admin token of a data directory', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'ledger-token-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('is generated once into a file only its owner can read, and the same token comes back after', () => {
    const first = adminToken(join(dir, 'data'));
    expect(first.source).toBe('generated');
    const file = join(dir, 'data', ADMIN_TOKEN_FILE);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(readFileSync(file, 'utf8').trim()).toBe(first.token);
    expect(adminToken(join(dir, 'data'))).toEqual({ token: first.token, source: 'kept', file });
  });

  it('narrows a kept file that others can read back to its owner', () => {
    const { token } = adminToken(dir);
    chmodSync(join(dir, ADMIN_TOKEN_FILE), 0o644);
    expect(adminToken(dir).token).toBe(token);
    expect(statSync(join(dir, ADMIN_TOKEN_FILE)).mode & 0o777).toBe(0o600);
  });

  it('writes nothing when LEDGER_ADMIN_TOKEN chooses one', () => {
    expect(adminToken(dir, 'chosen-token-0123456789')).toEqual({ token: 'chosen-token-0123456789', source: 'environment' });
    expect(existsSync(join(dir, ADMIN_TOKEN_FILE))).toBe(false);
  });

  it('refuses a file that holds no token, naming it, rather than starting with a guessable one', () => {
    writeFileSync(join(dir, ADMIN_TOKEN_FILE), '\n', { mode: 0o600 });
    expect(() => adminToken(dir)).toThrow(`${join(dir, ADMIN_TOKEN_FILE)} does not hold an admin token`);
  });
});
