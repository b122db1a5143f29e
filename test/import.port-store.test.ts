// The call import on a store that offers only the EventStore port (as the EventStoreDB adapter
// does): chunk by chunk rather than one transaction, and a re-run completes an interrupted import.
import { describe, expect, it } from 'vitest';
import { importCalls } from '../importers/calls.ts';
import { ImportRejected } from '../importers/problems.ts';
import type { EventStore } from '../eventstore/port.ts';
import { createMemoryEventStore } from './support/memory-store.ts';
import { callCsv, fixtureContracts, generatedRow, openFixtureContracts } from './support/call-csv.ts';

async function callEvents(store: EventStore): Promise<number> {
  return (await store.readAll({ limit: 1_000_000 })).filter((e) => e.type === 'CallRecorded').length;
}

describe('importing calls into a store without one transaction for the file', () => {
  it('appends chunk by chunk, and a second run finds everything already present', async () => {
    const store = createMemoryEventStore();
    const [contract] = fixtureContracts(1);
    await openFixtureContracts(store, [contract!]);
    const numbers = [contract!.basicNumber, ...contract!.dialInNumbers];
    const file = callCsv(Array.from({ length: 230 }, (_, i) => generatedRow(i, numbers)));
    const first = await importCalls(store, file, { name: 'calls.csv', chunkSize: 50 });
    expect(first).toMatchObject({ read: 230, imported: 230, alreadyPresent: 0 });
    expect(await callEvents(store)).toBe(230);
    const again = await importCalls(store, file, { name: 'calls.csv', chunkSize: 50 });
    expect(again).toMatchObject({ read: 230, imported: 0, alreadyPresent: 230 });
    expect(await callEvents(store)).toBe(230);
  });

  it('completes an import interrupted after some chunks when run again', async () => {
    const store = createMemoryEventStore();
    const [contract] = fixtureContracts(1);
    await openFixtureContracts(store, [contract!]);
    const numbers = [contract!.basicNumber, ...contract!.dialInNumbers];
    const rows = Array.from({ length: 200 }, (_, i) => generatedRow(i, numbers));
    // the first 120 rows made it before the crash
    await importCalls(store, callCsv(rows.slice(0, 120)), { name: 'calls.csv', chunkSize: 40 });
    const rerun = await importCalls(store, callCsv(rows), { name: 'calls.csv', chunkSize: 40 });
    expect(rerun).toMatchObject({ read: 200, imported: 80, alreadyPresent: 120 });
    expect(await callEvents(store)).toBe(200);
  });

  it('still refuses a bad file before appending anything', async () => {
    const store = createMemoryEventStore();
    const [contract] = fixtureContracts(1);
    await openFixtureContracts(store, [contract!]);
    const numbers = [contract!.basicNumber, ...contract!.dialInNumbers];
    const rows = Array.from({ length: 120 }, (_, i) => generatedRow(i, numbers));
    rows[100] = [...rows[100]!.slice(0, 8), '-1.00'] as typeof rows[number];
    await expect(importCalls(store, callCsv(rows), { name: 'calls.csv', chunkSize: 40 })).rejects.toBeInstanceOf(ImportRejected);
    expect(await callEvents(store)).toBe(0);
  });
});
