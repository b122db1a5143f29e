// The EventStoreDB adapter without a server: its pure parts (positions, expected versions, error
// translation), and its append / read logic against a small in-memory model of the client
// (test/support/esdb-client-model.ts); the real server is exercised by test/eventstore.esdb.test.ts
// when EVENTSTORE_CONNECTION_STRING is set.
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ANY, NO_STREAM, WrongExpectedVersionError, type EventData } from '@eventstore/db-client';
import {
  IdTable,
  chunksOf,
  createEsdbEventStore,
  decodePosition,
  encodePosition,
  resumePositionOf,
  toExpectedRevision,
  toExpectedVersionConflict,
  versionOf,
} from './esdb.ts';
import { EventIdConflict, ExpectedVersionConflict, type EventToAppend } from './port.ts';
import { eventStoreContract } from '../test/eventstore.contract.ts';
import { ClientModel } from '../test/support/esdb-client-model.ts';

function ev(type: string, data: unknown, id: string = randomUUID()): EventToAppend {
  return { id, type, data, metadata: { source: 'unit' } };
}

// ---- pure parts ---------------------------------------------------------------------------------

describe('positions', () => {
  it('keep the commit position in the high bits and the rank within a shared commit in the low 16', () => {
    expect(encodePosition(1234n, 0)).toBe(1234n * 65536n);
    expect(decodePosition(encodePosition(1234n, 7))).toEqual({ commit: 1234n, indexInCommit: 7 });
  });

  it('order like $all: by commit, then by rank inside one transaction', () => {
    const ordered = [encodePosition(10n, 0), encodePosition(10n, 1), encodePosition(10n, 65535), encodePosition(11n, 0)];
    expect([...ordered].sort((a, b) => (a < b ? -1 : 1))).toEqual(ordered);
  });

  it('resume at the start of the transaction, whose events are then skipped up to the rank', () => {
    expect(resumePositionOf(encodePosition(5000n, 3))).toEqual({ commit: 5000n, prepare: 0n });
  });

  it('refuse a transaction of more than 65,536 events rather than overlap the next commit', () => {
    expect(() => encodePosition(10n, 65536)).toThrow(RangeError);
  });

  it('stay below 2^63 for a 128 TiB log', () => {
    expect(encodePosition(2n ** 47n - 1n, 65535) < 2n ** 63n).toBe(true);
  });
});

describe('expected versions', () => {
  it('map a version to the exact revision, no_stream and -1 to NO_STREAM, any to ANY', () => {
    expect(toExpectedRevision(4)).toBe(4n);
    expect(toExpectedRevision(0)).toBe(0n);
    expect(toExpectedRevision(-1)).toBe(NO_STREAM);
    expect(toExpectedRevision('no_stream')).toBe(NO_STREAM);
    expect(toExpectedRevision('any')).toBe(ANY);
    expect(() => toExpectedRevision(-2)).toThrow(RangeError);
  });

  it('read the current revision back as a version, -1 when the stream does not exist', () => {
    expect(versionOf(NO_STREAM)).toBe(-1);
    expect(versionOf(7n)).toBe(7);
  });
});

describe('a WrongExpectedVersionError from the client', () => {
  it('becomes our ExpectedVersionConflict with the expected version as we were given it and the real actual one', () => {
    const vendor = new WrongExpectedVersionError(undefined, { streamName: 'contract-C1', expected: 2n, current: 5n });
    const ours = toExpectedVersionConflict(vendor, 'contract-C1', 2);
    expect(ours).toBeInstanceOf(ExpectedVersionConflict);
    expect(ours).toMatchObject({ streamId: 'contract-C1', expected: 2, actual: 5, code: 'EXPECTED_VERSION_CONFLICT' });
  });

  it('reports -1 as the actual version of a stream that does not exist', () => {
    const vendor = new WrongExpectedVersionError(undefined, { streamName: 'number-0312345678', expected: 0n, current: NO_STREAM });
    expect(toExpectedVersionConflict(vendor, 'number-0312345678', 0)).toMatchObject({ expected: 0, actual: -1 });
  });
});

describe('chunks of a large append', () => {
  it('stay under the byte budget, in order, one event at least', () => {
    const events = Array.from({ length: 10 }, (_, i) => ev('CallRecorded', { i, pad: 'x'.repeat(100) }));
    const chunks = chunksOf(events, 500);
    expect(chunks.flat()).toEqual(events);
    expect(chunks.length).toBeGreaterThan(1);
    expect(chunksOf([ev('Big', { pad: 'x'.repeat(1000) })], 10)).toHaveLength(1);
  });
});

describe('the id table of a stream session', () => {
  it('finds every id through its growth, ids sharing their leading (time) bits too, and nothing else', () => {
    const table = new IdTable(2);
    const random = Array.from({ length: 3000 }, () => randomUUID());
    // UUIDv7-like: the same leading 48 bits for all
    const timed = Array.from({ length: 3000 }, (_, i) => `0190a1b2-c3d4-7${i.toString(16).padStart(3, '0')}-8${randomUUID().slice(20)}`);
    [...random, ...timed].forEach((id, i) => table.set(id, [i, i * 7], i));
    expect(table.size).toBe(6000);
    [...random, ...timed].forEach((id, i) => expect(table.get(id.toUpperCase())).toEqual({ digest: [i, i * 7], revision: i }));
    expect(table.get(randomUUID())).toBeUndefined();
    table.set(random[0]!, [1, 2], 9000);
    expect(table.size).toBe(6000);
    expect(table.get(random[0]!)).toEqual({ digest: [1, 2], revision: 9000 });
  });
});

// ---- append and read logic against the model ----------------------------------------------------

describe('appending to the model of EventStoreDB', () => {
  it('appends only the events whose ids the stream does not hold, with the exact revision just read', async () => {
    const model = new ClientModel();
    const store = createEsdbEventStore(model.asClient());
    const a = ev('A', { n: 1 });
    await store.append('calls-C1-2025-04', [a]);
    const b = ev('B', { n: 2 });
    expect(await store.append('calls-C1-2025-04', [a, b], { expectedVersion: 'any' })).toEqual({ streamId: 'calls-C1-2025-04', version: 1, appended: 1, alreadyPresent: 1 });
    expect(model.rows.map((r) => r.id)).toEqual([a.id, b.id]);
  });

  it('does not touch the server when every event is already stored, whatever version is expected', async () => {
    const model = new ClientModel();
    const store = createEsdbEventStore(model.asClient());
    const a = ev('A', { amount: '8.00', nested: { b: 1, a: 2 } });
    await store.append('contract-C1', [a], { expectedVersion: 'no_stream' });
    const calls = model.appendCalls;
    // same content with keys in another order and other metadata: the same event
    const again = { ...a, data: { nested: { a: 2, b: 1 }, amount: '8.00' }, metadata: { source: 'retry' } };
    expect(await store.append('contract-C1', [again], { expectedVersion: 'no_stream' })).toMatchObject({ version: 0, appended: 0, alreadyPresent: 1 });
    expect(model.appendCalls).toBe(calls);
  });

  it('refuses a stored id with other data or another type, naming the id, and writes nothing', async () => {
    const model = new ClientModel();
    const store = createEsdbEventStore(model.asClient());
    const id = randomUUID();
    await store.append('calls-C1-2025-04', [ev('CallRecorded', { charge: '8.00' }, id)]);
    await expect(store.append('calls-C1-2025-04', [ev('X', {}), ev('CallRecorded', { charge: '9.00' }, id)])).rejects.toMatchObject({ eventId: id, code: 'EVENT_ID_CONFLICT' });
    await expect(store.append('calls-C1-2025-04', [ev('CallVoided', { charge: '8.00' }, id)])).rejects.toBeInstanceOf(EventIdConflict);
    expect(model.rows).toHaveLength(1);
  });

  it('refuses one id appended to two streams in one appendMany before writing either', async () => {
    const model = new ClientModel();
    const store = createEsdbEventStore(model.asClient());
    const id = randomUUID();
    await expect(
      store.appendMany([
        { streamId: 'contract-C1', events: [ev('A', {}, id)] },
        { streamId: 'number-0312345678', events: [ev('A', {}, id)] },
      ]),
    ).rejects.toBeInstanceOf(EventIdConflict);
    expect(model.rows).toHaveLength(0);
  });

  it('checks every stream of an appendMany before writing the first', async () => {
    const model = new ClientModel();
    const store = createEsdbEventStore(model.asClient());
    await store.append('number-0312345678', [ev('NumberAssigned', {})]);
    await expect(
      store.appendMany([
        { streamId: 'contract-C2', events: [ev('NumberAdded', {})], expectedVersion: 'no_stream' },
        { streamId: 'number-0312345678', events: [ev('NumberAssigned', {})], expectedVersion: 'no_stream' },
      ]),
    ).rejects.toMatchObject({ streamId: 'number-0312345678', expected: 'no_stream', actual: 0 });
    expect(model.rows.filter((r) => r.streamId === 'contract-C2')).toHaveLength(0);
  });

  describe('when another writer appends between our read and our write', () => {
    it('plans again and appends after it when any version is accepted', async () => {
      const model = new ClientModel();
      const store = createEsdbEventStore(model.asClient());
      await store.append('calls-C1-2025-04', [ev('A', {})]);
      model.beforeNextAppend = () => model.appendNow('calls-C1-2025-04', [{ id: randomUUID(), contentType: 'application/json', type: 'Other', data: {}, metadata: undefined }]);
      expect(await store.append('calls-C1-2025-04', [ev('B', {})])).toMatchObject({ version: 2, appended: 1, alreadyPresent: 0 });
    });

    it('refuses with the real actual version when a version was expected', async () => {
      const model = new ClientModel();
      const store = createEsdbEventStore(model.asClient());
      await store.append('contract-C1', [ev('A', {})]);
      model.beforeNextAppend = () => model.appendNow('contract-C1', [{ id: randomUUID(), contentType: 'application/json', type: 'Other', data: {}, metadata: undefined }]);
      await expect(store.append('contract-C1', [ev('B', {})], { expectedVersion: 0 })).rejects.toMatchObject({ streamId: 'contract-C1', expected: 0, actual: 1 });
    });

    it('is a no-op when that writer stored the very same events (a duplicate delivery)', async () => {
      const model = new ClientModel();
      const store = createEsdbEventStore(model.asClient());
      const b = ev('B', { n: 1 });
      await store.append('contract-C1', [ev('A', {})]);
      model.beforeNextAppend = () => model.appendNow('contract-C1', [{ id: b.id, contentType: 'application/json', type: 'B', data: { n: 1 }, metadata: undefined }]);
      expect(await store.append('contract-C1', [b], { expectedVersion: 0 })).toMatchObject({ version: 1, appended: 0, alreadyPresent: 1 });
    });

    it('reads the refusal as a value too, from a client built with throwOnAppendFailure=false', async () => {
      const model = new ClientModel();
      model.throwOnAppendFailure = false;
      const store = createEsdbEventStore(model.asClient());
      await store.append('contract-C1', [ev('A', {})]);
      model.beforeNextAppend = () => model.appendNow('contract-C1', [{ id: randomUUID(), contentType: 'application/json', type: 'Other', data: {}, metadata: undefined }]);
      await expect(store.append('contract-C1', [ev('B', {})], { expectedVersion: 0 })).rejects.toMatchObject({ expected: 0, actual: 1 });
    });
  });

  it('writes a batch over the byte budget in several exact-revision appends', async () => {
    const model = new ClientModel();
    const store = createEsdbEventStore(model.asClient(), { maxAppendBytes: 400 });
    const events = Array.from({ length: 6 }, (_, i) => ev('CallRecorded', { i, pad: 'x'.repeat(100) }));
    expect(await store.append('calls-C1-2025-04', events, { expectedVersion: 'no_stream' })).toMatchObject({ version: 5, appended: 6 });
    expect(model.appendCalls).toBeGreaterThan(1);
    expect(model.rows.map((r) => Number(r.revision))).toEqual([0, 1, 2, 3, 4, 5]);
  });
});

describe('reading $all from the model of EventStoreDB', () => {
  it('skips system streams, $-typed events and streams outside the prefixes', async () => {
    const model = new ClientModel();
    const store = createEsdbEventStore(model.asClient(), { streamPrefixes: ['contract-', 'calls-'] });
    const json = (type: string): EventData => ({ id: randomUUID(), contentType: 'application/json', type, data: {}, metadata: undefined });
    model.appendNow('$stats-127.0.0.1:2113', [json('$statsCollected')]);
    model.appendNow('contract-C1', [json('ContractOpened')]);
    model.appendNow('other-app-1', [json('Foreign')]);
    model.appendNow('contract-C1', [json('$>')]);
    model.appendNow('calls-C1-2025-04', [json('CallRecorded')]);
    model.appendNow('$$contract-C1', [json('$metadata')]);
    const all = await store.readAll();
    expect(all.map((e) => e.type)).toEqual(['ContractOpened', 'CallRecorded']);
    expect(await store.headPosition()).toBe(all[1]!.position);
    expect((await store.readAll({ streamPrefixes: ['calls-'] })).map((e) => e.type)).toEqual(['CallRecorded']);
  });

  it('gives the events of a legacy transaction distinct increasing positions and resumes inside it', async () => {
    const model = new ClientModel();
    const store = createEsdbEventStore(model.asClient());
    await store.append('contract-C1', [ev('Before', {})]);
    const json = (type: string): EventData => ({ id: randomUUID(), contentType: 'application/json', type, data: {}, metadata: undefined });
    model.legacyTransaction('contract-C2', [json('T1'), json('T2'), json('T3')]);
    await store.append('contract-C1', [ev('After', {})]);
    const all = await store.readAll();
    expect(all.map((e) => e.type)).toEqual(['Before', 'T1', 'T2', 'T3', 'After']);
    for (let i = 1; i < all.length; i++) expect(all[i - 1]!.position < all[i]!.position).toBe(true);
    expect(decodePosition(all[1]!.position).commit).toBe(decodePosition(all[3]!.position).commit);
    expect((await store.readAll({ after: all[1]!.position })).map((e) => e.type)).toEqual(['T2', 'T3', 'After']);
    expect((await store.readAll({ after: all[2]!.position, limit: 1 })).map((e) => e.type)).toEqual(['T3']);
    // the same positions whichever way the event is reached
    expect((await store.findEvent(all[2]!.id))?.position).toBe(all[2]!.position);
    expect((await store.readStream('contract-C2')).map((e) => e.position)).toEqual(all.slice(1, 4).map((e) => e.position));
  });

  it('reads an unknown stream as empty and an event by id, case-insensitively', async () => {
    const model = new ClientModel();
    const store = createEsdbEventStore(model.asClient());
    expect(await store.readStream('contract-nobody')).toEqual([]);
    const a = ev('A', { x: 1 });
    await store.append('contract-C1', [a]);
    expect(await store.findEvent(a.id.toUpperCase())).toMatchObject({ id: a.id, streamId: 'contract-C1', revision: 0, data: { x: 1 }, metadata: { source: 'unit' } });
    expect(await store.findEvent('not-a-uuid')).toBeUndefined();
  });
});

// The whole contract suite against the model: it checks the adapter's logic end to end, not the
// server (see test/eventstore.esdb.test.ts for that).
eventStoreContract(
  'EventStoreDB adapter over an in-memory model of the client',
  async () => {
    const model = new ClientModel();
    const store = createEsdbEventStore(model.asClient());
    return { store, cleanup: () => store.close() };
  },
  { atomicMultiStreamAppend: false, bulkAppend: false, sharedTransaction: false, streamSession: true, writers: 4 },
);
