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
    { atomicMultiStreamAppend: true, bulkAppend: true, sharedTransaction: true, writers: 8 },
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
