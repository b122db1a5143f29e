// Importers ask the EventStore port what a store can do (capabilities), never which adapter it is:
// a store that is not the SQL adapter but declares bulkAppend / sharedTransaction gets the one-commit
// ways, and the SQL store seen through a port that declares neither gets the plain port's ways.
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { importCalls } from '../importers/calls.ts';
import { importContracts } from '../importers/contracts.ts';
import { credentialMigrations } from '../projections/credentials.ts';
import type { BulkAppender, EventStore, StoreTransaction } from '../eventstore/port.ts';
import { testTargets, type TestDatabase } from './support/stores.ts';
import { callCsv, fixtureContracts, generatedRow, openFixtureContracts } from './support/call-csv.ts';

interface Calls {
  bulkWrite: number;
  appendBulk: number;
  storedContent: number;
  inTransaction: number;
  appendMany: number;
}

/** The store behind nothing but the port, declaring the capabilities given, counting what is asked of it. */
function throughThePort(inner: EventStore, offer: { bulkAppend: boolean; sharedTransaction: boolean }): { store: EventStore; calls: Calls } {
  const calls: Calls = { bulkWrite: 0, appendBulk: 0, storedContent: 0, inTransaction: 0, appendMany: 0 };
  const innerBulk = inner.bulk!;
  const bulk: BulkAppender = {
    bulkWrite: (work, options) => (calls.bulkWrite++, innerBulk.bulkWrite(work, options)),
    appendBulk: (chunks, onChunk) => (calls.appendBulk++, innerBulk.appendBulk(chunks, onChunk)),
    storedContent: (ids) => (calls.storedContent++, innerBulk.storedContent(ids)),
  };
  const store: EventStore = {
    name: `${inner.name} through the port`,
    capabilities: { ...inner.capabilities, ...offer },
    append: (s, e, o) => inner.append(s, e, o),
    appendMany: (b) => (calls.appendMany++, inner.appendMany(b)),
    readStream: (s, o) => inner.readStream(s, o),
    readAll: (o) => inner.readAll(o),
    headPosition: () => inner.headPosition(),
    findEvent: (id) => inner.findEvent(id),
    visiblePositionAt: (instant) => inner.visiblePositionAt(instant),
    visibleSince: (positions) => inner.visibleSince(positions),
    waitForEvents: (ms, signal) => inner.waitForEvents(ms, signal),
    close: () => inner.close(),
    ...(offer.bulkAppend ? { bulk } : {}),
    ...(offer.sharedTransaction
      ? { inTransaction: <T>(work: (trx: StoreTransaction) => Promise<T>) => (calls.inTransaction++, inner.inTransaction!(work)) }
      : {}),
  };
  return { store, calls };
}

const contracts = fixtureContracts(1, 2);
const numbers = contracts.flatMap((c) => [c.basicNumber, ...c.dialInNumbers]);
const callFile = (month: string) => callCsv(Array.from({ length: 30 }, (_, i) => generatedRow(i, numbers, month)));
const openLine = (code: string, basicNumber: string) =>
  Buffer.from(
    `${JSON.stringify({ type: 'OpenContract', contractCode: code, selfId: code, startDate: '2010-11-15', channels: 1, connectionType: 'ダイヤルイン接続', primaryDns: '192.0.2.1', secondaryDns: '192.0.2.2', basicNumber, initialPassword: 'abc123' })}\n`,
  );

for (const target of testTargets) {
  describe(`importers and the store's capabilities (${target.name})`, () => {
    let t: TestDatabase;
    beforeAll(async () => {
      t = await target.open([credentialMigrations]);
      await openFixtureContracts(t.store, contracts);
    });
    afterAll(async () => {
      await t.cleanup();
    });

    it('writes a new call file in one bulk write when the store declares bulkAppend, whichever adapter it is', async () => {
      const file = callFile('2017-11');
      const { store, calls } = throughThePort(t.store, { bulkAppend: true, sharedTransaction: false });
      expect(await importCalls(store, file, { name: 'calls.csv' })).toMatchObject({ read: 30, imported: 30 });
      expect(calls).toMatchObject({ bulkWrite: 1, appendMany: 0 });
      // Again: every call is stored, so the careful way looks them up in bulk and appends in one transaction.
      expect(await importCalls(store, file, { name: 'calls.csv' })).toMatchObject({ imported: 0, alreadyPresent: 30 });
      expect(calls).toMatchObject({ bulkWrite: 2, storedContent: 1, appendBulk: 1, appendMany: 0 });
    });

    it('appends a call file chunk by chunk when the store does not declare bulkAppend, even the SQL adapter', async () => {
      const { store, calls } = throughThePort(t.store, { bulkAppend: false, sharedTransaction: false });
      expect(await importCalls(store, callFile('2017-12'), { name: 'calls.csv', chunkSize: 10 })).toMatchObject({ read: 30, imported: 30 });
      expect(calls).toMatchObject({ bulkWrite: 0, appendBulk: 0, storedContent: 0, appendMany: 3 });
      expect(await t.store.readStream(`calls-${contracts[0]!.contractCode}-2017-12`)).toHaveLength(30);
    });

    it('writes initial passwords in the events\' transaction when the store shares it, and to credentialsDb when not', async () => {
      const shared = throughThePort(t.store, { bulkAppend: false, sharedTransaction: true });
      await importContracts(shared.store, openLine('d100000001', '0120100001'), { name: 'a.jsonl' });
      expect(shared.calls).toMatchObject({ inTransaction: 1, appendMany: 0 });

      const plain = throughThePort(t.store, { bulkAppend: false, sharedTransaction: false });
      await importContracts(plain.store, openLine('d100000003', '0120100003'), { name: 'c.jsonl', credentialsDb: t.database.db });
      expect(plain.calls).toMatchObject({ inTransaction: 0, appendMany: 1 });

      const { rows } = await sql<{ contract_code: string }>`select contract_code from credentials order by contract_code`.execute(t.database.db);
      expect(rows.map((r) => r.contract_code)).toEqual(['d100000001', 'd100000003']);
    });
  });
}
