// What a call import asks of EventStoreDB / KurrentDB, counted on the in-memory model of the client
// (no server here): gRPC reads and appends, events read, bytes appended, for a new file and for the
// same file delivered again. The README's estimate for a million calls is scaled from this.
//   npx tsx bench/esdb-import-cost.ts [calls=100000] [contracts=1] [months=1]
import { join } from 'node:path';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createEsdbEventStore } from '../eventstore/esdb.ts';
import { importCalls } from '../importers/calls.ts';
import { importContracts } from '../importers/contracts.ts';
import { ClientModel } from '../test/support/esdb-client-model.ts';
import { benchContracts, contractLines, writeCallCsv } from './generate.ts';

const [calls = 100_000, contractCount = 1, monthCount = 1] = process.argv.slice(2).map(Number);
const months = ['2017-08', '2017-09', '2017-10', '2017-11'].slice(0, monthCount);
const work = mkdtempSync(join(tmpdir(), 'esdb-cost-'));
try {
  const model = new ClientModel();
  let appendedBytes = 0;
  const append = model.client.appendToStream;
  model.client.appendToStream = (streamId, events, options) => {
    for (const e of Array.isArray(events) ? events : [events]) appendedBytes += Buffer.byteLength(JSON.stringify(e.data)) + Buffer.byteLength(JSON.stringify(e.metadata ?? {}));
    return append(streamId, events, options);
  };
  const store = createEsdbEventStore(model.asClient());
  const contracts = benchContracts(contractCount);
  // no initial passwords: they need a credentials database, which has nothing to do with the events
  await importContracts(store, Buffer.from(contractLines(contracts).replaceAll(',"initialPassword":"bench123"', '')), { name: 'contracts.jsonl' });
  const csv = join(work, 'calls.csv');
  await writeCallCsv(csv, contracts, calls, { months });
  for (const run of ['new file', 'same file again']) {
    const before = { reads: model.readCalls, events: model.eventsRead, appends: model.appendCalls, bytes: appendedBytes, heap: process.memoryUsage().heapUsed };
    const started = performance.now();
    const result = await importCalls(store, csv, { name: 'calls.csv' });
    const ms = performance.now() - started;
    console.log(
      JSON.stringify({
        run,
        calls,
        contracts: contractCount,
        months: monthCount,
        logBefore: model.rows.length - result.imported,
        imported: result.imported,
        alreadyPresent: result.alreadyPresent,
        readCalls: model.readCalls - before.reads,
        eventsRead: model.eventsRead - before.events,
        appendCalls: model.appendCalls - before.appends,
        appendedMB: Math.round((appendedBytes - before.bytes) / 1e5) / 10,
        modelSeconds: Math.round(ms / 100) / 10,
      }),
    );
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}
