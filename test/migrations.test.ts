import { sql, type Kysely } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import { migrate, openDatabase, type Database } from '../eventstore/database.ts';
import { eventStoreMigrations } from '../eventstore/sql.ts';

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
    expect(rows.map((r) => r.name)).toEqual(['0001-eventstore-events']);
  });
});
