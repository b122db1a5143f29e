// Self passwords (SPEC §2): kept only here, as slow salted scrypt hashes — never in events or logs.
import { randomBytes, scrypt as scryptCb, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import { sql, type Kysely } from 'kysely';
import type { MigrationSet } from '../eventstore/database.ts';

export const credentialMigrations: MigrationSet = {
  '0200-api-credentials': {
    async up(db) {
      await sql`
        create table credentials (
          contract_code text primary key,
          self_id text not null unique,
          password_hash text not null,
          failed_attempts integer not null default 0,
          locked_until timestamptz,
          changed_at timestamptz not null default now()
        )`.execute(db);
    },
    async down(db) {
      await sql`drop table credentials`.execute(db);
    },
  },
};

// N = 2^15 is the production cost (≈50–100 ms a hash). Tests lower it through
// configurePasswordHashing; a stored hash carries its own parameters, so verification always uses
// the cost it was made with.
const PRODUCTION_SCRYPT = { N: 1 << 15, r: 8, p: 1, keylen: 32 } as const;
let SCRYPT: { N: number; r: number; p: number; keylen: number } = { ...PRODUCTION_SCRYPT };

/** Lower the scrypt cost (tests only); `undefined` restores the production default. */
export function configurePasswordHashing(options: { N?: number } | undefined): void {
  SCRYPT = { ...PRODUCTION_SCRYPT, ...(options?.N !== undefined ? { N: options.N } : {}) };
}

function scrypt(password: string, salt: Buffer, keylen: number, options: ScryptOptions): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    scryptCb(password, salt, keylen, options, (err, key) => (err ? reject(err) : resolve(key))),
  );
}

export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const key = await scrypt(password, salt, SCRYPT.keylen, { N: SCRYPT.N, r: SCRYPT.r, p: SCRYPT.p, maxmem: 64 * 1024 * 1024 });
  return `scrypt$${SCRYPT.N}$${SCRYPT.r}$${SCRYPT.p}$${salt.toString('base64')}$${key.toString('base64')}`;
}

export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const [scheme, n, r, p, saltText, keyText] = stored.split('$');
  if (scheme !== 'scrypt' || !n || !r || !p || !saltText || !keyText) return false;
  const expected = Buffer.from(keyText, 'base64');
  const key = await scrypt(password, Buffer.from(saltText, 'base64'), expected.length, {
    N: Number.parseInt(n, 10),
    r: Number.parseInt(r, 10),
    p: Number.parseInt(p, 10),
    maxmem: 64 * 1024 * 1024,
  });
  return key.length === expected.length && timingSafeEqual(key, expected);
}

/** A new initial password for a reset (SPEC §2): 8 characters, letters and digits, at least one of each. */
export function generateInitialPassword(): string {
  const letters = 'abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ';
  const digits = '23456789';
  const all = letters + digits;
  for (;;) {
    const bytes = randomBytes(8);
    const pw = [...bytes].map((b) => all[b % all.length]).join('');
    if (/[A-Za-z]/.test(pw) && /\d/.test(pw)) return pw;
  }
}

/**
 * The initial password given with OpenContract. Idempotent: a re-run of the same contract file does
 * not overwrite a password the customer has changed since.
 */
export async function setInitialCredentials(db: Kysely<any>, input: { contractCode: string; selfId: string; password: string }): Promise<void> {
  const hash = await hashPassword(input.password);
  await sql`
    insert into credentials (contract_code, self_id, password_hash)
    values (${input.contractCode}, ${input.selfId}, ${hash})
    on conflict (contract_code) do nothing`.execute(db);
}

export async function setPassword(db: Kysely<any>, contractCode: string, password: string): Promise<void> {
  const hash = await hashPassword(password);
  await sql`
    update credentials set password_hash = ${hash}, failed_attempts = 0, locked_until = null, changed_at = now()
    where contract_code = ${contractCode}`.execute(db);
}

export interface CredentialRow {
  contract_code: string;
  self_id: string;
  password_hash: string;
  failed_attempts: number;
  locked_until: Date | string | null;
}

export async function findCredentials(db: Kysely<any>, selfId: string): Promise<CredentialRow | undefined> {
  const { rows } = await sql<CredentialRow>`select contract_code, self_id, password_hash, failed_attempts, locked_until from credentials where self_id = ${selfId}`.execute(db);
  return rows[0];
}

export async function credentialsOfContract(db: Kysely<any>, contractCode: string): Promise<CredentialRow | undefined> {
  const { rows } = await sql<CredentialRow>`select contract_code, self_id, password_hash, failed_attempts, locked_until from credentials where contract_code = ${contractCode}`.execute(db);
  return rows[0];
}

// ---- lockout (INTERFACE: 5 failures in a row for a self ID → 429 for 15 minutes) ---------------
// Counted in the database so that a restart does not clear it; times come from the caller's clock.

export const MAX_FAILED_ATTEMPTS = 5;
export const LOCKOUT_MINUTES = 15;

/** The lock's end when the self ID is locked at `now`, else undefined. */
export function lockedUntil(row: CredentialRow, now: Date): Date | undefined {
  if (row.locked_until == null) return undefined;
  const until = row.locked_until instanceof Date ? row.locked_until : new Date(row.locked_until);
  return until.getTime() > now.getTime() ? until : undefined;
}

/**
 * Count one failure, atomically (two concurrent wrong attempts both count). The failure that
 * completes a run of MAX_FAILED_ATTEMPTS starts the lock and begins a new run. Returns the lock's
 * end when this failure locked the self ID.
 */
export async function recordFailedLogin(db: Kysely<any>, contractCode: string, now: Date): Promise<Date | undefined> {
  const lockEnd = new Date(now.getTime() + LOCKOUT_MINUTES * 60_000);
  const { rows } = await sql<{ locked: boolean }>`
    update credentials set
      failed_attempts = case when failed_attempts + 1 >= ${MAX_FAILED_ATTEMPTS} then 0 else failed_attempts + 1 end,
      locked_until = case when failed_attempts + 1 >= ${MAX_FAILED_ATTEMPTS} then ${lockEnd.toISOString()}::timestamptz else locked_until end
    where contract_code = ${contractCode}
    returning (locked_until = ${lockEnd.toISOString()}::timestamptz) as locked`.execute(db);
  return rows[0]?.locked ? lockEnd : undefined;
}

export async function recordSuccessfulLogin(db: Kysely<any>, contractCode: string): Promise<void> {
  await sql`update credentials set failed_attempts = 0, locked_until = null where contract_code = ${contractCode} and (failed_attempts <> 0 or locked_until is not null)`.execute(db);
}

/** A hash to compare against when the self ID is unknown, so that the answer takes as long. */
let dummyHash: Promise<string> | undefined;
export function dummyPasswordHash(): Promise<string> {
  dummyHash ??= hashPassword('not-a-password-0');
  return dummyHash;
}
