// Portal sessions: an opaque random token handed to the customer once; only its SHA-256 is stored,
// so a leaked table does not log anyone in. A session ends after `idleMinutes` without a request
// or `absoluteHours` after login, whichever comes first. Times come from the injected clock.
import { createHash, randomBytes } from 'node:crypto';
import { sql, type Kysely } from 'kysely';
import type { MigrationSet } from '../eventstore/database.ts';
import { successfulAttempt, type ReservedAttempt } from '../projections/credentials.ts';

export const sessionMigrations: MigrationSet = {
  '0201-api-sessions': {
    async up(db) {
      await sql`
        create table sessions (
          token_hash text primary key,
          contract_code text not null,
          created_at timestamptz not null,
          last_seen_at timestamptz not null,
          absolute_expires_at timestamptz not null
        )`.execute(db);
      await sql`create index sessions_contract_idx on sessions (contract_code)`.execute(db);
    },
    async down(db) {
      await sql`drop table sessions`.execute(db);
    },
  },
};

export interface SessionPolicy {
  readonly idleMinutes: number;
  readonly absoluteHours: number;
}

export const DEFAULT_SESSION_POLICY: SessionPolicy = { idleMinutes: 30, absoluteHours: 8 };

export interface Session {
  readonly contractCode: string;
  /** When the session ends if no further request comes. */
  readonly expiresAt: Date;
}

export function hashToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

function expiryOf(lastSeen: Date, absolute: Date, policy: SessionPolicy): Date {
  const idle = new Date(lastSeen.getTime() + policy.idleMinutes * 60_000);
  return idle.getTime() < absolute.getTime() ? idle : absolute;
}

/** A new session for a contract, unconditionally (the benchmark's shortcut; logins use sessionForRightPassword). */
export async function createSession(db: Kysely<any>, contractCode: string, now: Date, policy: SessionPolicy): Promise<{ token: string; session: Session }> {
  const token = randomBytes(32).toString('base64url');
  const absolute = new Date(now.getTime() + policy.absoluteHours * 3_600_000);
  await sql`
    insert into sessions (token_hash, contract_code, created_at, last_seen_at, absolute_expires_at)
    values (${hashToken(token)}, ${contractCode}, ${now.toISOString()}::timestamptz, ${now.toISOString()}::timestamptz, ${absolute.toISOString()}::timestamptz)`.execute(db);
  await sweepDeadSessions(db, contractCode, now, policy);
  return { token, session: { contractCode, expiresAt: expiryOf(now, absolute, policy) } };
}

/**
 * The session of a login whose password was right, created in the same statement that records the
 * right password (credentials.ts successfulAttempt) and only while the credential is still the one
 * that was verified: a password change or reset that committed while scrypt ran leaves no session
 * behind for the old password. Taking the credential row's lock also orders this insert before or
 * after such a change as a whole, so the change's "end every other session" never misses it.
 * Undefined when the credential changed meanwhile.
 */
export async function sessionForRightPassword(
  db: Kysely<any>,
  attempt: Pick<ReservedAttempt, 'contractCode' | 'epoch' | 'ticket'>,
  now: Date,
  policy: SessionPolicy,
): Promise<{ token: string; session: Session } | undefined> {
  const token = randomBytes(32).toString('base64url');
  const absolute = new Date(now.getTime() + policy.absoluteHours * 3_600_000);
  const { rows } = await sql<{ contract_code: string }>`
    with verified as (${successfulAttempt(attempt)})
    insert into sessions (token_hash, contract_code, created_at, last_seen_at, absolute_expires_at)
    select ${hashToken(token)}, contract_code, ${now.toISOString()}::timestamptz, ${now.toISOString()}::timestamptz, ${absolute.toISOString()}::timestamptz
    from verified
    returning contract_code`.execute(db);
  if (rows.length === 0) return undefined;
  await sweepDeadSessions(db, attempt.contractCode, now, policy);
  return { token, session: { contractCode: attempt.contractCode, expiresAt: expiryOf(now, absolute, policy) } };
}

// Logging in is a good moment to sweep this contract's dead sessions.
async function sweepDeadSessions(db: Kysely<any>, contractCode: string, now: Date, policy: SessionPolicy): Promise<void> {
  await sql`
    delete from sessions where contract_code = ${contractCode}
      and (absolute_expires_at <= ${now.toISOString()}::timestamptz
           or last_seen_at <= ${new Date(now.getTime() - policy.idleMinutes * 60_000).toISOString()}::timestamptz)`.execute(db);
}

/**
 * The live session of a token, touched (its idle expiry pushed back); undefined when unknown or ended.
 * The touch is written at most once a minute: a write per request would serialise a portal page's
 * parallel requests on one row and cost a commit each.
 */
export async function resolveSession(db: Kysely<any>, token: string, now: Date, policy: SessionPolicy): Promise<Session | undefined> {
  const hash = hashToken(token);
  const sessions = cacheOf(db);
  const cached = sessions.cache.get(hash);
  const found =
    cached && performance.now() < cached.freshUntil && now.getTime() - cached.lastSeen.getTime() < TOUCH_EVERY_MS && isLive(cached, now, policy)
      ? cached
      : await readSession(db, sessions, hash, now, policy);
  if (!found || !isLive(found, now, policy)) return undefined;
  return { contractCode: found.contractCode, expiresAt: expiryOf(found.lastSeen, found.absolute, policy) };
}

function isLive(session: StoredSession, now: Date, policy: SessionPolicy): boolean {
  return now.getTime() < session.absolute.getTime() && session.lastSeen.getTime() > now.getTime() - policy.idleMinutes * 60_000;
}

/**
 * The session row, read once for all the requests that miss the cache at the same moment (a
 * page's requests when its entry has gone stale): one read and at most one touch instead of one
 * of each per request in flight. Each request judges the row by its own clock (isLive).
 */
function readSession(db: Kysely<any>, sessions: SessionCache, hash: string, now: Date, policy: SessionPolicy): Promise<StoredSession | undefined> {
  const pending = sessions.reading.get(hash);
  if (pending && pending.generation === sessions.generation) return pending.read;
  const generation = sessions.generation;
  const read = (async () => {
    const { rows } = await sql<{ contract_code: string; absolute_expires_at: Date | string; last_seen_at: Date | string }>`
      select contract_code, absolute_expires_at, last_seen_at from sessions where token_hash = ${hash}`.execute(db);
    const row = rows[0];
    if (!row) {
      sessions.cache.delete(hash);
      return undefined;
    }
    const found: StoredSession = { contractCode: row.contract_code, absolute: new Date(row.absolute_expires_at), lastSeen: new Date(row.last_seen_at) };
    if (!isLive(found, now, policy)) {
      sessions.cache.delete(hash);
      return found;
    }
    let lastSeen = found.lastSeen;
    if (now.getTime() - lastSeen.getTime() >= TOUCH_EVERY_MS) {
      await sql`update sessions set last_seen_at = ${now.toISOString()}::timestamptz where token_hash = ${hash} and last_seen_at < ${now.toISOString()}::timestamptz`.execute(db);
      lastSeen = now;
    }
    const live = { ...found, lastSeen };
    // A logout or password change since the read began may have ended this session: not cached then.
    if (generation === sessions.generation) {
      if (sessions.cache.size >= CACHE_LIMIT) sessions.cache.clear();
      sessions.cache.set(hash, { ...live, freshUntil: performance.now() + CACHE_MS });
    }
    return live;
  })().finally(() => {
    if (sessions.reading.get(hash)?.read === read) sessions.reading.delete(hash);
  });
  sessions.reading.set(hash, { generation, read });
  return read;
}

// A portal page fires several requests at once; each need not read the session row again. A cached
// session is trusted for CACHE_MS of real time, and never past its own expiry by the given clock.
// Logout and password changes in this process drop it at once (and keep a read that was under way
// from caching what it read); another server process may still accept a session ended elsewhere
// for up to CACHE_MS.
const CACHE_MS = 2_000;
const CACHE_LIMIT = 10_000;
interface StoredSession {
  readonly contractCode: string;
  readonly absolute: Date;
  readonly lastSeen: Date;
}
interface CachedSession extends StoredSession {
  readonly freshUntil: number;
}
interface SessionCache {
  readonly cache: Map<string, CachedSession>;
  readonly reading: Map<string, { readonly generation: number; readonly read: Promise<StoredSession | undefined> }>;
  /** Moves on at every ending of sessions: reads begun before it neither cache nor are shared after it. */
  generation: number;
}
const caches = new WeakMap<Kysely<any>, SessionCache>();
function cacheOf(db: Kysely<any>): SessionCache {
  let sessions = caches.get(db);
  if (!sessions) caches.set(db, (sessions = { cache: new Map(), reading: new Map(), generation: 0 }));
  return sessions;
}

const TOUCH_EVERY_MS = 60_000;

export async function deleteSession(db: Kysely<any>, token: string): Promise<void> {
  const hash = hashToken(token);
  forget(cacheOf(db), [hash]);
  await sql`delete from sessions where token_hash = ${hash}`.execute(db);
  // Again once deleted: a read that began before the delete committed must not cache the row.
  forget(cacheOf(db), [hash]);
}

function forget(sessions: SessionCache, hashes: Iterable<string>): void {
  sessions.generation++;
  for (const hash of hashes) sessions.cache.delete(hash);
}

/**
 * Ends every session of a contract but the one given (after a password change or reset). Pass the
 * transaction that replaces the credential as `within`, and call forgetSessionsOfContract once it
 * has committed: a request resolved in between would otherwise cache a session that is being ended.
 */
export async function deleteSessionsOfContract(db: Kysely<any>, contractCode: string, except?: string, within: Kysely<any> = db): Promise<void> {
  forgetSessionsOfContract(db, contractCode, except);
  if (except === undefined) await sql`delete from sessions where contract_code = ${contractCode}`.execute(within);
  else await sql`delete from sessions where contract_code = ${contractCode} and token_hash <> ${hashToken(except)}`.execute(within);
}

/** Drops this process's cached sessions of a contract (but the one given). */
export function forgetSessionsOfContract(db: Kysely<any>, contractCode: string, except?: string): void {
  const sessions = cacheOf(db);
  const kept = except === undefined ? undefined : hashToken(except);
  forget(sessions, [...sessions.cache].filter(([hash, cached]) => cached.contractCode === contractCode && hash !== kept).map(([hash]) => hash));
}
