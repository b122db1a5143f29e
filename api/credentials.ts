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

const SCRYPT = { N: 1 << 15, r: 8, p: 1, keylen: 32 } as const;

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
