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
  // The lockout by reserved attempts (see reserveAttempt) and the credential epoch. A run of
  // failures in progress carries over as that many attempts; a lock in force stays until its end.
  '0210-credentials-attempts-epoch': {
    async up(db) {
      await sql`
        alter table credentials
          add column attempts integer not null default 0,
          add column run_from integer not null default 0,
          add column lock_ticket integer,
          add column epoch integer not null default 0`.execute(db);
      await sql`update credentials set attempts = failed_attempts`.execute(db);
      await sql`alter table credentials drop column failed_attempts`.execute(db);
    },
    async down(db) {
      await sql`alter table credentials add column failed_attempts integer not null default 0`.execute(db);
      await sql`update credentials set failed_attempts = greatest(attempts - run_from, 0)`.execute(db);
      await sql`alter table credentials drop column attempts, drop column run_from, drop column lock_ticket, drop column epoch`.execute(db);
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
  await insertInitialCredentials(db, { contractCode: input.contractCode, selfId: input.selfId, passwordHash: await hashPassword(input.password) });
}

/** setInitialCredentials with the hash made beforehand (outside a transaction that holds a lock). */
export async function insertInitialCredentials(db: Kysely<any>, input: { contractCode: string; selfId: string; passwordHash: string }): Promise<void> {
  await sql`
    insert into credentials (contract_code, self_id, password_hash)
    values (${input.contractCode}, ${input.selfId}, ${input.passwordHash})
    on conflict (contract_code) do nothing`.execute(db);
}

export interface CredentialRow {
  contract_code: string;
  self_id: string;
  password_hash: string;
  locked_until: Date | string | null;
  epoch: number;
}

export async function credentialsOfContract(db: Kysely<any>, contractCode: string): Promise<CredentialRow | undefined> {
  const { rows } = await sql<CredentialRow>`select contract_code, self_id, password_hash, locked_until, epoch from credentials where contract_code = ${contractCode}`.execute(db);
  return rows[0];
}

/**
 * Puts a new password hash in force: the credential's epoch moves on (a login verified against the
 * old hash can no longer open a session, see successfulAttempt) and the lockout starts afresh.
 * With `expectedEpoch`, only if the credential is still the one a check verified: false when it
 * changed meanwhile (nothing is written then). Run it inside the transaction that records the
 * change as an event, so that both commit or neither.
 */
export async function replacePasswordHash(db: Kysely<any>, contractCode: string, hash: string, expectedEpoch?: number): Promise<boolean> {
  const { rows } = await sql<{ contract_code: string }>`
    update credentials set password_hash = ${hash}, epoch = epoch + 1, changed_at = now(),
      locked_until = null, lock_ticket = null, run_from = attempts
    where contract_code = ${contractCode} ${expectedEpoch === undefined ? sql`` : sql`and epoch = ${expectedEpoch}::int`}
    returning contract_code`.execute(db);
  return rows.length > 0;
}

// ---- lockout (INTERFACE: 5 failures in a row for a self ID → 429 for 15 minutes) ---------------
// Counted in the database so that a restart does not clear it; times come from the caller's clock.
//
// Every check of a password (a login, the current password of a change) first reserves an attempt,
// in one UPDATE that also refuses while the self ID is locked, and only then runs scrypt. Requests
// in flight at once therefore cannot all pass a lock check made before any of them failed: an
// attempt counts as a failure from its reservation on, and the reservation that makes the 5th of a
// run locks the self ID at once, so at most 5 guesses are ever judged per lock window. A process
// that dies mid-check leaves its attempt counted, which is the safe side.
//
// `attempts` numbers the reservations (the ticket of each); the run of failures in a row is the
// tickets above `run_from`. A right password ends the run at its own ticket — the failures reserved
// before it — and never touches a failure reserved after it, however the answers interleave. When
// the lock was set by tickets that this right one precedes by fewer than 5, those were not 5 wrong
// guesses after all: the lock is lifted and they stay counted in the run.

export const MAX_FAILED_ATTEMPTS = 5;
export const LOCKOUT_MINUTES = 15;

export interface ReservedAttempt {
  readonly contractCode: string;
  readonly selfId: string;
  readonly passwordHash: string;
  /** The credential's epoch when the attempt was reserved: a success counts only while it holds. */
  readonly epoch: number;
  readonly ticket: number;
  /** This attempt's place in the current run of failures (1…MAX_FAILED_ATTEMPTS) were it wrong. */
  readonly inRun: number;
  /** Set when this attempt completed a run: the self ID is locked until then. */
  readonly lockedUntil?: Date;
}

export type AttemptReservation =
  | { readonly outcome: 'reserved'; readonly attempt: ReservedAttempt }
  | { readonly outcome: 'locked'; readonly until: Date }
  | { readonly outcome: 'unknown' };

/** Reserves one password check for a self ID (login) or a contract (password change), before any hashing. */
export async function reserveAttempt(db: Kysely<any>, who: { selfId: string } | { contractCode: string }, now: Date): Promise<AttemptReservation> {
  const lockEnd = new Date(now.getTime() + LOCKOUT_MINUTES * 60_000).toISOString();
  const key = 'selfId' in who ? sql`self_id = ${who.selfId}` : sql`contract_code = ${who.contractCode}`;
  const completes = sql`attempts + 1 - run_from >= ${MAX_FAILED_ATTEMPTS}`;
  const { rows } = await sql<{ contract_code: string; self_id: string; password_hash: string; epoch: number; ticket: number; in_run: number; locked_now: boolean }>`
    update credentials set
      attempts = attempts + 1,
      locked_until = case when ${completes} then ${lockEnd}::timestamptz else locked_until end,
      lock_ticket = case when ${completes} then attempts + 1 else lock_ticket end,
      run_from = case when ${completes} then attempts + 1 else run_from end
    where ${key} and (locked_until is null or locked_until <= ${now.toISOString()}::timestamptz)
    returning contract_code, self_id, password_hash, epoch, attempts as ticket,
      case when lock_ticket = attempts then ${MAX_FAILED_ATTEMPTS} else attempts - run_from end as in_run,
      coalesce(lock_ticket = attempts, false) as locked_now`.execute(db);
  const row = rows[0];
  if (row) {
    return {
      outcome: 'reserved',
      attempt: {
        contractCode: row.contract_code,
        selfId: row.self_id,
        passwordHash: row.password_hash,
        epoch: Number(row.epoch),
        ticket: Number(row.ticket),
        inRun: Number(row.in_run),
        ...(row.locked_now ? { lockedUntil: new Date(lockEnd) } : {}),
      },
    };
  }
  const { rows: held } = await sql<{ locked_until: Date | string | null }>`select locked_until from credentials where ${key}`.execute(db);
  if (held.length === 0) return { outcome: 'unknown' };
  const until = held[0]!.locked_until;
  // Not locked any more by the time of this read (a right password lifted it): refused all the same, for a moment.
  return { outcome: 'locked', until: until == null ? now : until instanceof Date ? until : new Date(until) };
}

/**
 * The UPDATE that records a right password for a reserved attempt, as a statement to run alone or
 * to build on (session creation inserts from its RETURNING, so that a login whose credential was
 * replaced while scrypt ran opens no session): it returns the row only while the credential is
 * still at the attempt's epoch.
 */
export function successfulAttempt(attempt: Pick<ReservedAttempt, 'contractCode' | 'epoch' | 'ticket'>) {
  const t = attempt.ticket;
  const lifts = sql`(lock_ticket is not null and ${t}::int <= lock_ticket and lock_ticket - ${t}::int < ${MAX_FAILED_ATTEMPTS})`;
  return sql<{ contract_code: string }>`
    update credentials set
      run_from = case when ${lifts} then ${t}::int else greatest(run_from, ${t}::int) end,
      locked_until = case when ${lifts} then null else locked_until end,
      lock_ticket = case when ${lifts} then null else lock_ticket end
    where contract_code = ${attempt.contractCode} and epoch = ${attempt.epoch}::int
    returning contract_code`;
}

/** Records a right password (see successfulAttempt); false when the credential changed since the reservation. */
export async function recordSuccessfulAttempt(db: Kysely<any>, attempt: Pick<ReservedAttempt, 'contractCode' | 'epoch' | 'ticket'>): Promise<boolean> {
  const { rows } = await successfulAttempt(attempt).execute(db);
  return rows.length > 0;
}

/** A hash to compare against when the self ID is unknown, so that the answer takes as long. */
let dummyHash: Promise<string> | undefined;
export function dummyPasswordHash(): Promise<string> {
  dummyHash ??= hashPassword('not-a-password-0');
  return dummyHash;
}
