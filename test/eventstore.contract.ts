// One contract suite for every EventStore adapter (STYLE §4). Differences between adapters are
// passed as options; a test an adapter cannot run is skipped by name with its reason.
import { randomUUID } from 'node:crypto';
import { describe, expect, it, beforeAll, afterAll } from 'vitest';
import { sql } from 'kysely';
import {
  BulkIdTaken,
  EventIdConflict,
  ExpectedVersionConflict,
  bulkAppenderOf,
  payloadHash,
  sharedTransactionOf,
  streamSessionOf,
  type EventStore,
  type EventToAppend,
  type RecordedEvent,
} from '../eventstore/port.ts';

export interface ContractSuiteOptions {
  readonly atomicMultiStreamAppend: boolean;
  /** The capabilities the adapter must declare (and then offer): their tests run, or are skipped by name. */
  readonly bulkAppend: boolean;
  readonly sharedTransaction: boolean;
  readonly streamSession: boolean;
  /** test name → reason it cannot run on this adapter */
  readonly skip?: Record<string, string>;
  /** concurrent writers for the never-skip test */
  readonly writers?: number;
}

type Open = () => Promise<{ store: EventStore; cleanup: () => Promise<void> }>;

function ev(type: string, data: unknown, id: string = randomUUID()): EventToAppend {
  return { id, type, data, metadata: { source: 'contract-suite' } };
}

export function eventStoreContract(name: string, open: Open, options: ContractSuiteOptions): void {
  describe(`EventStore contract: ${name}`, () => {
    let store: EventStore;
    let cleanup: () => Promise<void>;
    const run = `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
    const stream = (label: string) => `test${run}-${label}`;
    const maybe = (title: string, fn: () => Promise<void>, timeout?: number) => {
      const reason = options.skip?.[title];
      if (reason) it.skip(`${title} (skipped on ${name}: ${reason})`, fn);
      else it(title, fn, timeout);
    };

    beforeAll(async () => {
      ({ store, cleanup } = await open());
    });
    afterAll(async () => {
      await cleanup?.();
    });

    maybe('appends to a new stream and reads the events back in order with their revisions', async () => {
      const s = stream('basic');
      const result = await store.append(s, [ev('A', { n: 1 }), ev('B', { n: 2, amount: '1928.50', label: '国内通話' })], { expectedVersion: 'no_stream' });
      expect(result).toMatchObject({ streamId: s, version: 1, appended: 2, alreadyPresent: 0 });
      const read = await store.readStream(s);
      expect(read.map((e) => [e.type, e.revision])).toEqual([['A', 0], ['B', 1]]);
      expect(read[1]!.data).toEqual({ n: 2, amount: '1928.50', label: '国内通話' });
      expect(read[1]!.metadata).toMatchObject({ source: 'contract-suite' });
      expect(read[0]!.position < read[1]!.position).toBe(true);
      expect(Number.isNaN(Date.parse(read[0]!.recordedAt))).toBe(false);
    });

    maybe('reads an unknown stream as empty', async () => {
      expect(await store.readStream(stream('nothing-here'))).toEqual([]);
    });

    maybe('reads a stream from a revision', async () => {
      const s = stream('from');
      await store.append(s, [ev('A', {}), ev('B', {}), ev('C', {})]);
      expect((await store.readStream(s, { fromRevision: 1 })).map((e) => e.type)).toEqual(['B', 'C']);
    });

    maybe('refuses a wrong expected version with the real expected and actual versions', async () => {
      const s = stream('expected');
      await store.append(s, [ev('A', {})], { expectedVersion: 'no_stream' });
      const attempt = store.append(s, [ev('B', {})], { expectedVersion: 'no_stream' });
      await expect(attempt).rejects.toBeInstanceOf(ExpectedVersionConflict);
      await attempt.catch((e: ExpectedVersionConflict) => {
        expect(e.streamId).toBe(s);
        expect(e.expected).toBe('no_stream');
        expect(e.actual).toBe(0);
      });
      await expect(store.append(s, [ev('B', {})], { expectedVersion: 5 })).rejects.toMatchObject({ expected: 5, actual: 0 });
      await expect(store.append(s, [ev('B', {})], { expectedVersion: 0 })).resolves.toMatchObject({ version: 1 });
      expect((await store.readStream(s)).map((e) => e.type)).toEqual(['A', 'B']);
    });

    maybe('treats an event id stored with the same content as already present', async () => {
      const s = stream('idem');
      const a = ev('CallRecorded', { charge: '8.00' });
      await store.append(s, [a], { expectedVersion: 'no_stream' });
      // a retry of an append that succeeded, with its now stale expected version, is a no-op
      const again = await store.append(s, [{ ...a, metadata: { source: 'retry' } }], { expectedVersion: 'no_stream' });
      expect(again).toMatchObject({ appended: 0, alreadyPresent: 1, version: 0 });
      expect(await store.readStream(s)).toHaveLength(1);
    });

    maybe('refuses an event id stored with different content, naming the id', async () => {
      const s = stream('idem-conflict');
      const id = randomUUID();
      await store.append(s, [ev('CallRecorded', { charge: '8.00' }, id)]);
      const attempt = store.append(s, [ev('Other', {}), ev('CallRecorded', { charge: '9.00' }, id)]);
      await expect(attempt).rejects.toBeInstanceOf(EventIdConflict);
      await attempt.catch((e: EventIdConflict) => expect(e.eventId).toBe(id));
      // nothing of the refused append was written
      expect((await store.readStream(s)).map((e) => e.type)).toEqual(['CallRecorded']);
    });

    maybe('appends the new events of a batch and counts the ones already stored', async () => {
      const s = stream('mixed');
      const a = ev('A', { i: 1 });
      const b = ev('B', { i: 2 });
      await store.append(s, [a]);
      const result = await store.append(s, [a, b, b]);
      expect(result).toMatchObject({ appended: 1, alreadyPresent: 2, version: 1 });
      expect((await store.readStream(s)).map((e) => e.id)).toEqual([a.id, b.id]);
    });

    if (options.atomicMultiStreamAppend) {
      maybe('appends across streams atomically: one conflict and nothing is written', async () => {
        const s1 = stream('atomic-1');
        const s2 = stream('atomic-2');
        await store.append(s2, [ev('Taken', {})]);
        await expect(
          store.appendMany([
            { streamId: s1, events: [ev('A', {})], expectedVersion: 'no_stream' },
            { streamId: s2, events: [ev('B', {})], expectedVersion: 'no_stream' },
          ]),
        ).rejects.toBeInstanceOf(ExpectedVersionConflict);
        expect(await store.readStream(s1)).toEqual([]);
        const ok = await store.appendMany([
          { streamId: s1, events: [ev('A', {})], expectedVersion: 'no_stream' },
          { streamId: s2, events: [ev('B', {})], expectedVersion: 0 },
        ]);
        expect(ok.map((r) => r.version)).toEqual([0, 1]);
      });
    } else {
      it.skip(`appends across streams atomically (skipped on ${name}: no atomic multi-stream append; re-running converges by deterministic ids)`, () => {});
    }

    maybe('declares the capabilities it has, and offers each one it declares through the port', async () => {
      const { atomicMultiStreamAppend, bulkAppend, sharedTransaction, streamSession } = store.capabilities;
      expect({ atomicMultiStreamAppend, bulkAppend, sharedTransaction, streamSession }).toEqual({
        atomicMultiStreamAppend: options.atomicMultiStreamAppend,
        bulkAppend: options.bulkAppend,
        sharedTransaction: options.sharedTransaction,
        streamSession: options.streamSession,
      });
      expect(bulkAppenderOf(store) !== undefined).toBe(bulkAppend);
      expect(sharedTransactionOf(store) !== undefined).toBe(sharedTransaction);
      expect(streamSessionOf(store) !== undefined).toBe(streamSession);
    });

    if (options.bulkAppend) {
      const bulkEvent = (e: EventToAppend) => ({ id: e.id, type: e.type, dataText: JSON.stringify(e.data), metadataText: JSON.stringify(e.metadata ?? {}) });

      maybe('bulk write: fresh events in one commit, counted on from each stream\'s stored version', async () => {
        const s = stream('bulk-write');
        const other = stream('bulk-write-read');
        await store.append(s, [ev('Before', { i: 0 })]);
        await store.append(other, [ev('Other', { i: 0 })]);
        const fresh = [ev('A', { i: 1 }), ev('B', { i: 2 }), ev('C', { i: 3 })];
        const seen = await bulkAppenderOf(store)!.bulkWrite(
          async (writer) => {
            for (const e of fresh) await writer.add(s, bulkEvent(e));
            // other streams stay readable while the write holds its transaction (PGlite: one connection)
            return (await writer.readStream(other)).map((e) => e.type);
          },
          { chunkSize: 2 },
        );
        expect(seen).toEqual(['Other']);
        expect((await store.readStream(s)).map((e) => [e.type, e.revision])).toEqual([['Before', 0], ['A', 1], ['B', 2], ['C', 3]]);
      });

      maybe('bulk write: an id stored already rolls the whole write back with BulkIdTaken', async () => {
        const s = stream('bulk-taken');
        const stored = ev('Stored', { i: 0 });
        await store.append(stream('bulk-elsewhere'), [stored]);
        const attempt = bulkAppenderOf(store)!.bulkWrite(
          async (writer) => {
            await writer.add(s, bulkEvent(ev('New', { i: 1 })));
            await writer.add(s, bulkEvent(stored));
          },
          { chunkSize: 1 },
        );
        await expect(attempt).rejects.toBeInstanceOf(BulkIdTaken);
        expect(await store.readStream(s)).toEqual([]);
      });

      maybe('bulk append: chunks in one transaction; stored events already present, repeats duplicates, a conflict undoes all', async () => {
        const s = stream('bulk-append');
        const [a, b, c] = [ev('A', { i: 1 }), ev('B', { i: 2 }), ev('C', { i: 3 })];
        await store.append(s, [a]);
        const result = await bulkAppenderOf(store)!.appendBulk([[{ streamId: s, events: [a, b] }], [{ streamId: s, events: [b, c] }]]);
        expect(result).toEqual({ appended: 2, alreadyPresent: 1, duplicates: 1 });
        const other = stream('bulk-append-undone');
        await expect(
          bulkAppenderOf(store)!.appendBulk([[{ streamId: other, events: [ev('D', {})] }], [{ streamId: s, events: [{ ...c, data: { i: 4 } }] }]]),
        ).rejects.toBeInstanceOf(EventIdConflict);
        expect(await store.readStream(other)).toEqual([]);
        expect((await store.readStream(s)).map((e) => e.id)).toEqual([a.id, b.id, c.id]);
      });

      maybe('stored content: the stream and payload hash of each stored id, nothing for an unknown one', async () => {
        const s = stream('stored-content');
        const a = ev('A', { amount: '1928.50', label: '国内通話' });
        await store.append(s, [a]);
        const unknown = randomUUID();
        const found = await bulkAppenderOf(store)!.storedContent([a.id, unknown]);
        expect([...found.keys()]).toEqual([a.id]);
        expect(found.get(a.id)).toEqual({ streamId: s, hash: payloadHash(s, 'A', a.data) });
      });
    } else {
      it.skip(`bulk write, bulk append and stored content (skipped on ${name}: no bulkAppend capability; importers append chunk by chunk)`, () => {});
    }

    if (options.sharedTransaction) {
      maybe('shared transaction: events and the caller\'s own rows commit together, or neither', async () => {
        const inTransaction = sharedTransactionOf(store)!;
        const table = `suite_own_rows_${run}`;
        await inTransaction((trx) => sql.raw(`create table ${table} (id text primary key)`).execute(trx.db));
        const s = stream('shared');
        const kept = ev('Kept', {});
        await expect(
          inTransaction(async (trx) => {
            await trx.append([{ streamId: s, events: [ev('Undone', {})] }]);
            await sql.raw(`insert into ${table} values ('undone')`).execute(trx.db);
            throw new Error('the caller changes its mind');
          }),
        ).rejects.toThrow('the caller changes its mind');
        const results = await inTransaction(async (trx) => {
          const appended = await trx.append([{ streamId: s, events: [kept] }]);
          await sql.raw(`insert into ${table} values ('kept')`).execute(trx.db);
          return appended;
        });
        expect(results).toMatchObject([{ streamId: s, appended: 1, version: 0 }]);
        expect((await store.readStream(s)).map((e) => e.id)).toEqual([kept.id]);
        const rows = await inTransaction((trx) => sql.raw<{ id: string }>(`select id from ${table}`).execute(trx.db));
        expect(rows.rows.map((r) => r.id)).toEqual(['kept']);
        await inTransaction((trx) => sql.raw(`drop table ${table}`).execute(trx.db));
      });
    } else {
      it.skip(`shared transaction (skipped on ${name}: no sharedTransaction capability; the caller's rows are written after the events)`, () => {});
    }

    if (options.streamSession) {
      maybe('stream session: tells stored-the-same from stored-differently and leaves out what the stream does not hold', async () => {
        const s = stream('session-held');
        const [a, b] = [ev('A', { amount: '1928.50', nested: { y: 1, x: 2 } }), ev('B', { i: 2 })];
        await store.append(s, [a, b]);
        const session = streamSessionOf(store)!();
        const unknown = ev('A', { i: 3 });
        const held = await session.held(s, [{ ...a, data: { nested: { x: 2, y: 1 }, amount: '1928.50' } }, { ...b, data: { i: 9 } }, unknown]);
        expect([...held.keys()].sort()).toEqual([a.id, b.id].sort());
        expect(held.get(a.id)).toBe('same');
        expect(held.get(b.id)).toMatchObject({ id: b.id, streamId: s, type: 'B', data: { i: 2 } });
        // another type under the same id differs too; and an id stored only in another stream is not held by this one
        expect(await session.held(s, [{ ...a, type: 'A2' }])).toEqual(new Map([[a.id, expect.objectContaining({ type: 'A' })]]));
        expect((await session.held(stream('session-held-other'), [a])).size).toBe(0);
      });

      maybe('stream session: sees what others appended since it read a stream, and appends with the port\'s idempotency and expected versions', async () => {
        const s = stream('session-append');
        const session = streamSessionOf(store)!();
        const [a, b, c] = [ev('A', { i: 1 }), ev('B', { i: 2 }), ev('C', { i: 3 })];
        expect((await session.held(s, [a])).size).toBe(0);
        await store.append(s, [a]); // another writer, after the session read the stream
        expect(await session.held(s, [a])).toEqual(new Map([[a.id, 'same']]));
        expect(await session.appendMany([{ streamId: s, events: [a, b] }])).toEqual([{ streamId: s, version: 1, appended: 1, alreadyPresent: 1 }]);
        expect(await session.held(s, [b])).toEqual(new Map([[b.id, 'same']]));
        await expect(session.appendMany([{ streamId: s, events: [c], expectedVersion: 0 }])).rejects.toMatchObject({ streamId: s, expected: 0, actual: 1 });
        await expect(session.appendMany([{ streamId: s, events: [{ ...b, data: { i: 4 } }, c] }])).rejects.toBeInstanceOf(EventIdConflict);
        await store.append(s, [ev('D', {})]);
        // a retry of what is stored is a no-op whatever version it expects; anything new waits for the real version
        expect(await session.appendMany([{ streamId: s, events: [a, b], expectedVersion: 0 }])).toMatchObject([{ appended: 0, alreadyPresent: 2 }]);
        expect(await session.appendMany([{ streamId: s, events: [c], expectedVersion: 2 }])).toMatchObject([{ version: 3, appended: 1 }]);
        expect((await store.readStream(s)).map((e) => [e.type, e.revision])).toEqual([['A', 0], ['B', 1], ['D', 2], ['C', 3]]);
      });
    } else {
      it.skip(`stream session (skipped on ${name}: no streamSession capability; importers look calls up by id)`, () => {});
    }

    maybe('reads all events after a position, in order, with a limit and stream prefixes', async () => {
      const head = await store.headPosition();
      const s1 = stream('all-a');
      const s2 = stream('all-b');
      await store.append(s1, [ev('A1', {}), ev('A2', {})]);
      await store.append(s2, [ev('B1', {})]);
      await store.append(s1, [ev('A3', {})]);
      const all = (await store.readAll({ after: head, limit: 1000 })).filter((e) => e.streamId === s1 || e.streamId === s2);
      expect(all.map((e) => e.type)).toEqual(['A1', 'A2', 'B1', 'A3']);
      for (let i = 1; i < all.length; i++) expect(all[i - 1]!.position < all[i]!.position).toBe(true);
      const afterSecond = await store.readAll({ after: all[1]!.position, limit: 1000 });
      expect(afterSecond.filter((e) => e.streamId === s1 || e.streamId === s2).map((e) => e.type)).toEqual(['B1', 'A3']);
      expect(await store.readAll({ after: head, limit: 2 })).toHaveLength(2);
      const onlyB = await store.readAll({ after: head, streamPrefixes: [s2] });
      expect(onlyB.map((e) => e.type)).toEqual(['B1']);
      expect(await store.headPosition()).toBe(all[3]!.position >= (await store.headPosition()) ? all[3]!.position : await store.headPosition());
      expect((await store.headPosition()) >= all[3]!.position).toBe(true);
    });

    maybe('finds an event by its id', async () => {
      const s = stream('find');
      const a = ev('Found', { x: 'y' });
      await store.append(s, [a]);
      const found = await store.findEvent(a.id);
      expect(found).toMatchObject({ id: a.id, streamId: s, type: 'Found', data: { x: 'y' }, revision: 0 });
      expect(await store.findEvent(randomUUID())).toBeUndefined();
    });

    maybe('as of an instant, counts the events visible then: none appended after it, all appended before it', async () => {
      const s = stream('as-of');
      const before = new Date();
      await new Promise((r) => setTimeout(r, 5));
      await store.append(s, [ev('A', {})]);
      // An instant is taken a few ms after a commit: a Date holds whole milliseconds, a stamp
      // microseconds, and an instant in the stamp's own millisecond would come before it.
      await new Promise((r) => setTimeout(r, 3));
      const between = new Date();
      await new Promise((r) => setTimeout(r, 5));
      await store.append(s, [ev('B', {})]);
      await new Promise((r) => setTimeout(r, 3));
      const after = new Date();
      const [a, b] = await store.readStream(s);
      expect(await store.visiblePositionAt(before) < a!.position).toBe(true);
      const then = await store.visiblePositionAt(between);
      expect(then >= a!.position && then < b!.position).toBe(true);
      expect((await store.visiblePositionAt(after)) >= b!.position).toBe(true);
      const since = await store.visibleSince([a!.position, b!.position]);
      const [sa, sb] = [Date.parse(since.get(a!.position)!), Date.parse(since.get(b!.position)!)];
      expect(before.getTime() <= sa && sa <= between.getTime()).toBe(true);
      expect(between.getTime() <= sb && sb <= after.getTime()).toBe(true);
    });

    maybe('wakes a waiting follower when events are appended', async () => {
      const started = Date.now();
      const waiting = store.waitForEvents(5_000);
      await store.append(stream('wake'), [ev('Wake', {})]);
      await waiting;
      expect(Date.now() - started).toBeLessThan(4_000);
    });

    maybe(
      'never lets a follower skip or repeat an event while many writers append at once',
      async () => {
        const writers = options.writers ?? 8;
        const perWriter = 40;
        const start = await store.headPosition();
        const written = new Set<string>();
        let writing = true;
        const seen: RecordedEvent[] = [];
        const follower = (async () => {
          let after = start;
          let drained = false;
          for (;;) {
            const page = await store.readAll({ after, limit: 500 });
            for (const e of page) {
              if (e.position <= after) throw new Error(`position went backwards: ${e.position} after ${after}`);
              after = e.position;
              if (e.streamId.startsWith(stream('conc-'))) seen.push(e);
            }
            if (page.length > 0) continue;
            // one more empty read after the writers finished, so that their last commits are in
            if (!writing) {
              if (drained) break;
              drained = true;
              continue;
            }
            await store.waitForEvents(20);
          }
        })();
        await Promise.all(
          Array.from({ length: writers }, async (_, w) => {
            for (let i = 0; i < perWriter; i++) {
              const e = ev('Concurrent', { w, i });
              written.add(e.id);
              // several streams, several sizes of transaction
              const extra = i % 5 === 0 ? [ev('Concurrent', { w, i, extra: true })] : [];
              for (const x of extra) written.add(x.id);
              await store.appendMany([
                { streamId: stream(`conc-${w % 3}`), events: [e] },
                ...(extra.length ? [{ streamId: stream(`conc-x${w}`), events: extra }] : []),
              ]);
            }
          }),
        );
        writing = false;
        await follower;
        const ids = seen.map((e) => e.id);
        expect(new Set(ids).size).toBe(ids.length); // exactly once
        expect(new Set(ids)).toEqual(written); // nothing skipped
      },
      120_000,
    );
  });
}
