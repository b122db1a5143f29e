// The engineers' admin token when LEDGER_ADMIN_TOKEN is not set: generated once and kept in the
// data directory (`admin-token`, readable by its owner only), so a restart keeps it and scripts
// that hold it go on working. Set LEDGER_ADMIN_TOKEN to choose one; then nothing is written.
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

export const ADMIN_TOKEN_FILE = 'admin-token';

export type AdminToken =
  | { readonly token: string; readonly source: 'environment' }
  | { readonly token: string; readonly source: 'generated' | 'kept'; readonly file: string };

export function adminToken(dataDir: string, given?: string): AdminToken {
  if (given) return { token: given, source: 'environment' };
  const file = resolve(join(dataDir, ADMIN_TOKEN_FILE));
  const kept = readKept(file);
  if (kept) return { token: kept, source: 'kept', file };
  mkdirSync(dataDir, { recursive: true });
  const token = randomBytes(24).toString('base64url');
  try {
    // `wx`: two servers starting at once on one data directory keep one token between them.
    writeFileSync(file, `${token}\n`, { mode: 0o600, flag: 'wx' });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    const other = readKept(file);
    if (!other) throw new Error(`${file} holds no admin token; remove it or set LEDGER_ADMIN_TOKEN`);
    return { token: other, source: 'kept', file };
  }
  return { token, source: 'generated', file };
}

function readKept(file: string): string | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
  const token = text.trim();
  if (!/^[A-Za-z0-9_-]{16,}$/.test(token)) throw new Error(`${file} does not hold an admin token (16 or more of A–Z a–z 0–9 _ -); remove it or set LEDGER_ADMIN_TOKEN`);
  // A copy or a restore may have widened it: a token others can read is a token others can use.
  if ((statSync(file).mode & 0o077) !== 0) chmodSync(file, 0o600);
  return token;
}
