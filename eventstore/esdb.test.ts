// The EventStoreDB adapter without a server: its pure parts (positions, expected versions, error
// translation), and its append / read logic against a small in-memory model of the client. The model
// encodes our reading of the server's behaviour (exact-revision checks, $all ordered by
// (commit, prepare), forward reads inclusive of the start position, stream-not-found on read); the
// real server is exercised by test/eventstore.esdb.test.ts when EVENTSTORE_CONNECTION_STRING is set.
import { randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import {
  ANY,
  END,
  NO_STREAM,
  START,
  StreamNotFoundError,
  WrongExpectedVersionError,
  type AppendExpectedRevision,
  type EventData,
  type EventStoreDBClient,
  type Position,
  type ReadPosition,
} from '@eventstore/db-client';
import {
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

// ---- an in-memory model of the parts of EventStoreDBClient the adapter uses ----------------------

interface Row {
  streamId: string;
  id: string;
  type: string;
  data: string;
  metadata: string | undefined;
  revision: bigint;
  position: Position;
  created: Date;
}

function streamingRead<T>(items: T[], error?: Error) {
  const readable = error
    ? new Readable({ objectMode: true, read() { this.destroy(error); } })
    : Readable.from(items, { objectMode: true });
  return Object.assign(readable, { cancel: async () => undefined });
}

class ClientModel {
  rows: Row[] = [];
  private next = 1000n;
  /** Runs once, between the adapter's read of a stream and its append (a competing writer). */
  beforeNextAppend: (() => void) | undefined;
  throwOnAppendFailure = true;
  appendCalls = 0;

  private current(streamId: string): bigint | typeof NO_STREAM {
    const own = this.rows.filter((r) => r.streamId === streamId);
    return own.length ? own[own.length - 1]!.revision : NO_STREAM;
  }

  appendNow(streamId: string, events: EventData[], expectedRevision: AppendExpectedRevision = ANY) {
    const current = this.current(streamId);
    const ok = expectedRevision === ANY || expectedRevision === current || (expectedRevision === 'stream_exists' && current !== NO_STREAM);
    if (!ok) {
      if (this.throwOnAppendFailure) throw new WrongExpectedVersionError(undefined, { streamName: streamId, expected: expectedRevision, current });
      return { success: false, nextExpectedRevision: current === NO_STREAM ? -1n : current };
    }
    let revision = current === NO_STREAM ? -1n : current;
    for (const e of events) {
      revision++;
      const p = this.next;
      this.next += 100n;
      this.rows.push({
        streamId,
        id: e.id.toLowerCase(),
        type: e.type,
        data: JSON.stringify(e.data),
        metadata: e.metadata === undefined ? undefined : JSON.stringify(e.metadata),
        revision,
        position: { commit: p, prepare: p }, // gRPC appends: every event its own commit position
        created: new Date(),
      });
    }
    return { success: true, nextExpectedRevision: revision, position: this.rows[this.rows.length - 1]!.position };
  }

  /** A legacy explicit transaction: prepares first, then one commit record they all share. */
  legacyTransaction(streamId: string, events: EventData[]) {
    let revision = (() => { const c = this.current(streamId); return c === NO_STREAM ? -1n : c; })();
    const prepares = events.map(() => { const p = this.next; this.next += 100n; return p; });
    const commit = this.next;
    this.next += 100n;
    events.forEach((e, i) => {
      revision++;
      this.rows.push({ streamId, id: e.id, type: e.type, data: JSON.stringify(e.data), metadata: undefined, revision, position: { commit, prepare: prepares[i]! }, created: new Date() });
    });
  }

  private recorded(r: Row, withPosition: boolean) {
    return {
      event: {
        streamId: r.streamId,
        id: r.id,
        isJson: true,
        revision: r.revision,
        type: r.type,
        created: r.created,
        data: JSON.parse(r.data),
        metadata: r.metadata === undefined ? undefined : JSON.parse(r.metadata),
        position: withPosition ? r.position : undefined,
      },
    };
  }

  readonly client = {
    appendToStream: async (streamId: string, events: EventData | EventData[], options: { expectedRevision?: AppendExpectedRevision } = {}) => {
      this.appendCalls++;
      const hook = this.beforeNextAppend;
      this.beforeNextAppend = undefined;
      hook?.();
      return this.appendNow(streamId, Array.isArray(events) ? events : [events], options.expectedRevision);
    },
    readStream: (streamId: string, options: { fromRevision?: bigint } = {}) => {
      const own = this.rows.filter((r) => r.streamId === streamId);
      if (own.length === 0) return streamingRead([], new StreamNotFoundError(undefined, streamId));
      const from = options.fromRevision ?? 0n;
      // Events of legacy transactions carry no $all position on a stream read.
      return streamingRead(own.filter((r) => r.revision >= from).map((r) => this.recorded(r, r.position.commit === r.position.prepare)));
    },
    readAll: (options: { fromPosition?: ReadPosition; direction?: 'forwards' | 'backwards' } = {}) => {
      const ordered = [...this.rows].sort((a, b) => cmp(a.position, b.position));
      const from = options.fromPosition ?? (options.direction === 'backwards' ? END : START);
      let rows: Row[];
      if (options.direction === 'backwards') {
        rows = (from === END ? ordered : ordered.filter((r) => from !== START && cmp(r.position, from) < 0)).reverse();
      } else {
        rows = from === START ? ordered : from === END ? [] : ordered.filter((r) => cmp(r.position, from) >= 0);
      }
      return streamingRead(rows.map((r) => ({ ...this.recorded(r, true), commitPosition: r.position.commit })));
    },
    subscribeToAll: () => {
      const sub = new Readable({ objectMode: true, read() {} });
      return Object.assign(sub, { unsubscribe: async () => { sub.destroy(); } });
    },
    dispose: async () => undefined,
  };

  asClient(): EventStoreDBClient {
    return this.client as unknown as EventStoreDBClient;
  }
}

function cmp(a: Position, b: Position): number {
  if (a.commit !== b.commit) return a.commit < b.commit ? -1 : 1;
  return a.prepare === b.prepare ? 0 : a.prepare < b.prepare ? -1 : 1;
}

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
  { atomicMultiStreamAppend: false, bulkAppend: false, sharedTransaction: false, writers: 4 },
);
