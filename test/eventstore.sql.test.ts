import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventStoreContract } from './eventstore.contract.ts';
import { testTargets, type TestDatabase } from './support/stores.ts';
import { EventIdConflict, type StreamAppend } from '../eventstore/port.ts';

for (const target of testTargets) {
  eventStoreContract(
    target.name,
    async () => {
      const t = await target.open();
      return { store: t.store, cleanup: t.cleanup };
    },
    { atomicMultiStreamAppend: true, bulkAppend: true, sharedTransaction: true, streamSession: false, writers: 8 },
  );

  describe(`bulk append on ${target.name}`, () => {
    let t: TestDatabase;
    beforeAll(async () => {
      t = await target.open();
    });
    afterAll(async () => {
      await t?.cleanup();
    });

    const call = (i: number, charge = '8.00') => ({ id: randomUUID(), type: 'CallRecorded', data: { i, charge, area: '東京\ttab\\back\nline' } });

    it('writes every chunk in one transaction and counts repeats within the bulk as duplicates', async () => {
      const events = Array.from({ length: 2500 }, (_, i) => call(i));
      const before = await t.store.append('bulk-a', [events[0]!]);
      expect(before.appended).toBe(1);
      function* chunks(): Generator<StreamAppend[]> {
        for (let i = 0; i < events.length; i += 1000) yield [{ streamId: 'bulk-a', events: events.slice(i, i + 1000) }];
        yield [{ streamId: 'bulk-a', events: events.slice(10, 20) }];
      }
      const progress: number[] = [];
      const result = await t.store.appendBulk(chunks(), (r) => progress.push(r.appended));
      expect(result).toEqual({ appended: 2499, alreadyPresent: 1, duplicates: 10 });
      expect(progress).toEqual([999, 1999, 2499, 2499]);
      const stored = await t.store.readStream('bulk-a');
      expect(stored.map((e) => e.revision)).toEqual(Array.from({ length: 2500 }, (_, i) => i));
      expect(stored[1]!.data).toEqual(events[1]!.data); // COPY escaping kept tab, backslash, newline
    });

    it('counts an import from its commit: not at an instant after its transaction began but before it committed', async () => {
      const encoded = (i: number) => ({ id: randomUUID(), type: 'CallRecorded', dataText: JSON.stringify({ i, charge: '8.00' }), metadataText: '{}' });
      let during = new Date(0);
      await t.store.bulkWrite(async (writer) => {
        for (let i = 0; i < 50; i++) await writer.add('visible-at-commit', encoded(i));
        await writer.readStream('visible-at-commit'); // waits for the chunks in flight
        // The rows are written and the transaction began before this instant; it commits after it.
        await new Promise((r) => setTimeout(r, 20));
        during = new Date();
        await new Promise((r) => setTimeout(r, 20));
      });
      // A few ms after the commit: a Date holds whole milliseconds, the stamp microseconds.
      await new Promise((r) => setTimeout(r, 3));
      const committed = new Date();
      const stored = await t.store.readStream('visible-at-commit');
      expect(stored).toHaveLength(50);
      // recorded_at is the transaction's start, before `during` …
      expect(Date.parse(stored[49]!.recordedAt) < during.getTime()).toBe(true);
      // … yet none of the import counts at `during`, and all of it once committed.
      expect((await t.store.visiblePositionAt(during)) < stored[0]!.position).toBe(true);
      expect((await t.store.visiblePositionAt(committed)) >= stored[49]!.position).toBe(true);
      const since = await t.store.visibleSince([stored[0]!.position]);
      expect(Date.parse(since.get(stored[0]!.position)!) > during.getTime()).toBe(true);
    });

    it('an append whose seal was lost counts from the next seal, never earlier', async () => {
      const head = await t.store.headPosition();
      // An append in a caller's own transaction that never seals (a crash right after the commit).
      await t.database.db.transaction().execute((trx) => t.store.appendInTransaction(trx, [{ streamId: 'unsealed', events: [call(1)] }]));
      const [e] = await t.store.readStream('unsealed');
      expect(e!.position > head).toBe(true);
      const afterCommit = new Date();
      await new Promise((r) => setTimeout(r, 10));
      // The as-of query seals now: the event counts from a later instant than its commit, not an earlier one.
      expect((await t.store.visiblePositionAt(afterCommit)) < e!.position).toBe(true);
      await new Promise((r) => setTimeout(r, 3));
      expect((await t.store.visiblePositionAt(new Date())) >= e!.position).toBe(true);
    });

    it('leaves nothing behind when a chunk fails in the middle', async () => {
      const head = await t.store.headPosition();
      const known = call(1);
      await t.store.append('bulk-b', [known]);
      async function* chunks(): AsyncGenerator<StreamAppend[]> {
        yield [{ streamId: 'bulk-b2', events: [call(2), call(3)] }];
        yield [{ streamId: 'bulk-b', events: [{ ...known, data: { ...known.data, charge: '9.00' } }] }];
      }
      await expect(t.store.appendBulk(chunks())).rejects.toBeInstanceOf(EventIdConflict);
      expect(await t.store.readStream('bulk-b2')).toEqual([]);
      const after = (await t.store.readAll({ after: head })).map((e) => e.streamId);
      expect(after).toEqual(['bulk-b']);
    });
  });
}
