// The call import against the EventStoreDB adapter (over the in-memory model of its client, which
// counts every event a read hands over) reads O(N + M) events for N calls into a log of M events:
// each target stream (one contract-month of calls) is read once for the whole import, never $all
// per call nor a whole stream per chunk.
import { describe, expect, it } from 'vitest';
import { createEsdbEventStore } from '../eventstore/esdb.ts';
import { importCalls } from '../importers/calls.ts';
import { ImportRejected } from '../importers/problems.ts';
import { ClientModel } from './support/esdb-client-model.ts';
import { callCsv, fixtureContracts, generatedRow, openFixtureContracts } from './support/call-csv.ts';

const [contract] = fixtureContracts(1);
const numbers = [contract!.basicNumber, ...contract!.dialInNumbers];
const rows = (count: number, month: string) => Array.from({ length: count }, (_, i) => generatedRow(i, numbers, month));

/** A log of about `calls` + `others` events: a month of calls and events of streams the import never touches. */
async function loggedStore(calls: number, others: number) {
  const model = new ClientModel();
  const store = createEsdbEventStore(model.asClient());
  await openFixtureContracts(store, [contract!]);
  await importCalls(store, callCsv(rows(calls, '2017-10')), { name: 'october.csv' });
  for (let i = 0; i < others; i += 100) {
    model.appendNow(`other-${i}`, Array.from({ length: 100 }, () => ({ id: crypto.randomUUID(), contentType: 'application/json', type: 'Other', data: { i }, metadata: undefined })));
  }
  return { model, store, logSize: model.rows.length };
}

async function readsOf(model: ClientModel, work: () => Promise<unknown>): Promise<{ events: number; calls: number }> {
  const [events, calls] = [model.eventsRead, model.readCalls];
  await work();
  return { events: model.eventsRead - events, calls: model.readCalls - calls };
}

describe('importing calls into EventStoreDB (the adapter over a model of its client)', () => {
  const N = 600;

  it('reads the streams it writes to, not the log: a new month of N calls reads next to nothing, in any chunk size', async () => {
    const { model, store, logSize } = await loggedStore(1200, 1200);
    const file = callCsv(rows(N, '2017-11'));
    let result: unknown;
    const reads = await readsOf(model, async () => (result = await importCalls(store, file, { name: 'november.csv', chunkSize: 50 })));
    expect(result).toMatchObject({ read: N, imported: N, alreadyPresent: 0 });
    // N × M would be 600 × 2,400: one backwards scan of $all per call
    expect(reads.events).toBeLessThan(N + logSize);
    expect(reads.events).toBeLessThan(100); // only the numbers' reservation streams hold events yet
  });

  it('reads a stream of S stored calls once for a whole re-delivered file, however many chunks touch it', async () => {
    const { model, store, logSize } = await loggedStore(1200, 1200);
    const file = callCsv(rows(N, '2017-11'));
    await importCalls(store, file, { name: 'november.csv', chunkSize: 50 });
    for (const chunkSize of [50, 600]) {
      let result: unknown;
      const reads = await readsOf(model, async () => (result = await importCalls(store, file, { name: 'november.csv', chunkSize })));
      expect(result).toMatchObject({ read: N, imported: 0, alreadyPresent: N });
      // once: N events of the one contract-month stream (12 chunks of 50 would read it 12 times)
      expect(reads.events).toBeLessThan(N + 100);
      expect(reads.events).toBeLessThan(N + logSize);
    }
  });

  it('completes an interrupted import, reading what is stored once', async () => {
    const { model, store } = await loggedStore(300, 300);
    await importCalls(store, callCsv(rows(N, '2017-11').slice(0, 250)), { name: 'november.csv', chunkSize: 50 });
    let result: unknown;
    const reads = await readsOf(model, async () => (result = await importCalls(store, callCsv(rows(N, '2017-11')), { name: 'november.csv', chunkSize: 50 })));
    expect(result).toMatchObject({ read: N, imported: N - 250, alreadyPresent: 250 });
    expect(reads.events).toBeLessThan(250 + 100);
    expect((await store.readStream(`calls-${contract!.contractCode}-2017-11`)).map((e) => e.id)).toHaveLength(N);
  });

  it('names the line and field of a call stored with another charge, reading the stored call once more, and appends nothing', async () => {
    const { model, store } = await loggedStore(300, 300);
    const november = rows(N, '2017-11');
    await importCalls(store, callCsv(november), { name: 'november.csv' });
    const changed = november.map((r, i) => (i === 400 ? ([...r.slice(0, 8), '999.99'] as typeof r) : r));
    const before = model.rows.length;
    let error: unknown;
    const reads = await readsOf(model, async () => {
      error = await importCalls(store, callCsv(changed), { name: 'november.csv', chunkSize: 50 }).catch((e: unknown) => e);
    });
    expect(error).toBeInstanceOf(ImportRejected);
    // line 402: the header is line 1, row 400 is the 401st data row
    expect((error as ImportRejected).problems).toEqual([expect.objectContaining({ line: 402, field: '通話料', message: expect.stringContaining('999.99') })]);
    expect(model.rows.length).toBe(before);
    expect(reads.events).toBeLessThan(N + 100);
  });
});
