// Which failures mean "the database is away" (eventstore/connection.ts), and libpq-style URLs
// naming several hosts: parsed, and a connection made to the one that accepts writes.
import net from 'node:net';
import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { asDatabaseError, databaseTrouble, parsePostgresUrl } from '../eventstore/connection.ts';
import { openDatabase } from '../eventstore/database.ts';
import { DatabaseUnavailable, ExpectedVersionConflict, LedgerBusy } from '../eventstore/port.ts';
import { databaseUrl } from './support/stores.ts';

async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe('a database failure', () => {
  const pgError = (code: string, message = 'x') => Object.assign(new Error(message), { code });

  it('is "unavailable" when the connection is refused, lost or the server is going away', () => {
    for (const e of [
      pgError('57P01', 'terminating connection due to administrator command'),
      pgError('57P02'),
      pgError('57P03', 'the database system is starting up'),
      pgError('08006'),
      pgError('53300', 'sorry, too many clients already'),
      pgError('25006', 'cannot execute INSERT in a read-only transaction'),
      pgError('ECONNREFUSED', 'connect ECONNREFUSED 127.0.0.1:5432'),
      pgError('ECONNRESET'),
      new Error('Connection terminated unexpectedly'),
      new Error('Connection terminated due to connection timeout'),
      new Error('Client has encountered a connection error and is not queryable'),
      new Error('Query read timeout'),
      Object.assign(new AggregateError([pgError('ECONNREFUSED'), pgError('ECONNREFUSED')]), { code: undefined }),
      new Error('import failed', { cause: pgError('57P01') }),
      new DatabaseUnavailable('no read-write server'),
    ]) {
      expect(databaseTrouble(e), String((e as Error).message)).toBe('unavailable');
    }
  });

  it('is "busy" when a lock or a statement timed out, or no pooled connection came in time', () => {
    for (const e of [pgError('55P03', 'canceling statement due to lock timeout'), pgError('57014', 'canceling statement due to statement timeout'), new Error('timeout exceeded when trying to connect'), new LedgerBusy('busy')]) {
      expect(databaseTrouble(e)).toBe('busy');
    }
  });

  it('is neither for a real error, a refusal of the ledger or a broken rule', () => {
    for (const e of [pgError('23505', 'duplicate key'), pgError('42P01', 'relation does not exist'), pgError('XX000'), new ExpectedVersionConflict('s', 1, 2), pgError('CONTRACT_NOT_FOUND'), new Error('boom'), undefined, 'text']) {
      expect(databaseTrouble(e)).toBeUndefined();
    }
  });

  it('becomes our error type with the original as its cause', () => {
    const original = pgError('57P01', 'terminating connection due to administrator command');
    const ours = asDatabaseError(original) as DatabaseUnavailable;
    expect(ours).toBeInstanceOf(DatabaseUnavailable);
    expect(ours.code).toBe('DATABASE_UNAVAILABLE');
    expect(ours.message).toContain('terminating connection due to administrator command');
    expect(ours.cause).toBe(original);
    const other = new Error('boom');
    expect(asDatabaseError(other)).toBe(other);
  });
});

describe('a libpq-style DATABASE_URL', () => {
  it('is passed on as it is when it names one host', () => {
    const url = 'postgres://u:p@db.example:5433/ledger?sslmode=require';
    expect(parsePostgresUrl(url)).toEqual({ url, hosts: [], targetSessionAttrs: 'any' });
  });

  it('names every host in order, each with its port and the rest of the URL', () => {
    const t = parsePostgresUrl('postgres://us%40er:p%2Fw@h1:5432,h2:5433,[::1]/db?target_session_attrs=read-write&application_name=ledger');
    expect(t.targetSessionAttrs).toBe('read-write');
    expect(t.hosts.map((h) => [h.host, h.port])).toEqual([
      ['h1', 5432],
      ['h2', 5433],
      ['::1', 5432],
    ]);
    expect(t.hosts[1]!.url).toBe('postgres://us%40er:p%2Fw@h2:5433/db?application_name=ledger');
    expect(t.url).toBe(t.hosts[0]!.url);
  });

  it('refuses a target_session_attrs it does not honour', () => {
    expect(() => parsePostgresUrl('postgres://h1,h2/db?target_session_attrs=prefer-standby')).toThrow(/prefer-standby/);
  });

  it('answers DATABASE_UNAVAILABLE naming each host when none accepts a connection', async () => {
    const [a, b] = [await closedPort(), await closedPort()];
    const database = await openDatabase({ url: `postgres://postgres@127.0.0.1:${a},127.0.0.1:${b}/db?target_session_attrs=read-write`, workConnectMs: 3_000 });
    try {
      const failed = await sql`select 1`.execute(database.db).catch((e: unknown) => e);
      expect(failed).toBeInstanceOf(DatabaseUnavailable);
      expect((failed as Error).message).toMatch(new RegExp(`no read-write server among 2 host\\(s\\): 127\\.0\\.0\\.1:${a}: .*ECONNREFUSED.*; 127\\.0\\.0\\.1:${b}: .*ECONNREFUSED`));
    } finally {
      await database.close();
    }
  });

  it.skipIf(!databaseUrl)('connects to the writable server, passing over a host that refuses (PostgreSQL)', async () => {
    const u = new URL(databaseUrl!);
    const dead = await closedPort();
    const url = `${u.protocol}//${u.username ? `${u.username}@` : ''}127.0.0.1:${dead},${u.host}${u.pathname}?target_session_attrs=read-write`;
    const database = await openDatabase({ url, schema: 'public' });
    try {
      const { rows } = await sql<{ port: number; ro: string }>`select inet_server_port() as port, current_setting('transaction_read_only') as ro`.execute(database.db);
      expect(rows[0]!.ro).toBe('off');
      expect(String(rows[0]!.port)).toBe(u.port || '5432');
    } finally {
      await database.close();
    }
  });
});
