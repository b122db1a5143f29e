// An in-memory model of the parts of EventStoreDBClient the EventStoreDB adapter uses, for tests
// without a server. It encodes our reading of the server's behaviour (exact-revision checks, $all
// ordered by (commit, prepare), forward reads inclusive of the start position, stream-not-found on
// read), and counts what is read: `eventsRead` is every event a stream or $all read handed over.
import { Readable } from 'node:stream';
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

function streamingRead<T>(items: T[], onItem: () => void, error?: Error) {
  // One item buffered ahead at most, so that what is counted is what the reader took (give or take one).
  function* counted() {
    for (const item of items) {
      onItem();
      yield item;
    }
  }
  const readable = error
    ? new Readable({ objectMode: true, read() { this.destroy(error); } })
    : Readable.from(counted(), { objectMode: true, highWaterMark: 1 });
  return Object.assign(readable, { cancel: async () => undefined });
}

export class ClientModel {
  rows: Row[] = [];
  private next = 1000n;
  /** Runs once, between the adapter's read of a stream and its append (a competing writer). */
  beforeNextAppend: (() => void) | undefined;
  throwOnAppendFailure = true;
  appendCalls = 0;
  /** Events handed over by readStream and readAll, whoever asked. */
  eventsRead = 0;
  /** readStream and readAll calls. */
  readCalls = 0;
  private readonly countRead = () => {
    this.eventsRead++;
  };

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
    readStream: (streamId: string, options: { fromRevision?: bigint; maxCount?: number | bigint } = {}) => {
      this.readCalls++;
      const own = this.rows.filter((r) => r.streamId === streamId);
      if (own.length === 0) return streamingRead([], this.countRead, new StreamNotFoundError(undefined, streamId));
      const from = options.fromRevision ?? 0n;
      const wanted = own.filter((r) => r.revision >= from).slice(0, options.maxCount === undefined ? undefined : Number(options.maxCount));
      // Events of legacy transactions carry no $all position on a stream read.
      return streamingRead(wanted.map((r) => this.recorded(r, r.position.commit === r.position.prepare)), this.countRead);
    },
    readAll: (options: { fromPosition?: ReadPosition; direction?: 'forwards' | 'backwards' } = {}) => {
      this.readCalls++;
      const ordered = [...this.rows].sort((a, b) => cmp(a.position, b.position));
      const from = options.fromPosition ?? (options.direction === 'backwards' ? END : START);
      let rows: Row[];
      if (options.direction === 'backwards') {
        rows = (from === END ? ordered : ordered.filter((r) => from !== START && cmp(r.position, from) < 0)).reverse();
      } else {
        rows = from === START ? ordered : from === END ? [] : ordered.filter((r) => cmp(r.position, from) >= 0);
      }
      return streamingRead(rows.map((r) => ({ ...this.recorded(r, true), commitPosition: r.position.commit })), this.countRead);
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

export function cmp(a: Position, b: Position): number {
  if (a.commit !== b.commit) return a.commit < b.commit ? -1 : 1;
  return a.prepare === b.prepare ? 0 : a.prepare < b.prepare ? -1 : 1;
}

