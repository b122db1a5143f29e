import { sql, type Kysely } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import { migrate, openDatabase, type Database } from '../eventstore/database.ts';
import { randomUUID } from 'node:crypto';
import { createSqlEventStore, eventStoreMigrations } from '../eventstore/sql.ts';

describe('migrations', () => {
  let database: Database | undefined;
  afterEach(async () => {
    await database?.close();
  });

  it('the embedded store keeps 32 MB of shared buffers, not PGlite’s 160 MB (memory at start-up)', async () => {
    database = await openDatabase({ memory: true });
    const { rows } = await sql<{ shared_buffers: string }>`show shared_buffers`.execute(database.db);
    expect(rows[0]?.shared_buffers).toMatch(/^(32|40)MB$/);
  });

  it('run once each, in name order, and not again', async () => {
    database = await openDatabase({ memory: true });
    const ran: string[] = [];
    const set = {
      'b-second': { up: async () => void ran.push('b') },
      'a-first': { up: async () => void ran.push('a') },
    };
    await migrate(database, set);
    await migrate(database, set);
    expect(ran).toEqual(['a', 'b']);
  });

  it('leave nothing half done when one fails', async () => {
    database = await openDatabase({ memory: true });
    const failing = {
      '1-table': { up: async (db: Kysely<any>) => void (await sql`create table half (x int)`.execute(db)) },
      '2-broken': { up: async () => Promise.reject(new Error('boom')) },
    };
    await expect(migrate(database, failing)).rejects.toThrow('migration 2-broken failed: boom');
    const { rows } = await sql<{ t: string | null }>`select to_regclass('half')::text as t`.execute(database.db);
    expect(rows[0]!.t).toBeNull();
  });

  it('carry over the record of a store migrated by kysely’s Migrator', async () => {
    database = await openDatabase({ memory: true });
    await eventStoreMigrations['0001-eventstore-events']!.up(database.db);
    await sql`create table kysely_migration (name varchar(255) primary key, timestamp varchar(255) not null)`.execute(database.db);
    await sql`insert into kysely_migration values ('0001-eventstore-events', '2026-11-26T15:40:00.000Z')`.execute(database.db);
    await migrate(database, eventStoreMigrations);
    const { rows } = await sql<{ name: string }>`select name from ledger_migrations`.execute(database.db);
    expect(rows.map((r) => r.name)).toEqual(['0001-eventstore-events', '0002-eventstore-visibility']);
  });

  it('events written before visibility was recorded keep the instants they were recorded with', async () => {
    database = await openDatabase({ memory: true });
    // A store as the earlier version left it: events only, recorded_at the transaction's start.
    await migrate(database, { '0001-eventstore-events': eventStoreMigrations['0001-eventstore-events']! });
    const instants = ['2026-01-05T01:00:00.000Z', '2026-01-05T02:00:00.000Z', '2026-01-05T03:00:00.000Z'];
    for (const [i, at] of instants.entries()) {
      await sql`
        insert into events (event_id, stream_id, revision, type, data, payload_hash, recorded_at)
        values (${randomUUID()}::uuid, 'old', ${i}, 'Old', '{}'::jsonb, 'h', ${at}::timestamptz),
               (${randomUUID()}::uuid, 'old', ${i + 10}, 'Old', '{}'::jsonb, 'h', ${at}::timestamptz)`.execute(database.db);
    }
    await migrate(database, eventStoreMigrations);
    const store = createSqlEventStore(database);
    const positionAt = (iso: string) => store.visiblePositionAt(new Date(iso));
    expect(await positionAt('2026-01-05T00:59:59.999Z')).toBe(0n);
    expect(await positionAt(instants[0]!)).toBe(2n);
    expect(await positionAt('2026-01-05T02:59:59.999Z')).toBe(4n);
    expect(await positionAt(instants[2]!)).toBe(6n);
    const since = await store.visibleSince([1n, 3n, 6n]);
    expect([since.get(1n), since.get(3n), since.get(6n)]).toEqual(instants);
    // Appended by this version: counted from its seal, after all of them.
    await store.append('new', [{ id: randomUUID(), type: 'New', data: {} }]);
    expect(await positionAt(instants[2]!)).toBe(6n);
    expect(await store.visiblePositionAt(new Date())).toBe(7n);
  });
});
