// The shared EventStore contract against a real EventStoreDB / KurrentDB, when one is given:
//   EVENTSTORE_CONNECTION_STRING='esdb://localhost:2113?tls=false' npx vitest run test/eventstore.esdb.test.ts
// The server may be shared: the contract suite names its streams with a run-unique prefix, and the
// store is opened without stream prefixes so that those test streams are visible to readAll.
import { describe, it } from 'vitest';
import { EventStoreDBClient } from '@eventstore/db-client';
import { createEsdbEventStore } from '../eventstore/esdb.ts';
import { eventStoreContract } from './eventstore.contract.ts';

const connectionString = process.env.EVENTSTORE_CONNECTION_STRING;

if (connectionString) {
  eventStoreContract(
    'EventStoreDB',
    async () => {
      const client = EventStoreDBClient.connectionString(connectionString);
      const store = createEsdbEventStore(client);
      return {
        store,
        async cleanup() {
          await store.close();
          await client.dispose();
        },
      };
    },
    { atomicMultiStreamAppend: false, bulkAppend: false, sharedTransaction: false, streamSession: true, writers: 8 },
  );
} else {
  describe.skip('EventStoreDB adapter (set EVENTSTORE_CONNECTION_STRING to run; no server in this CI)', () => {
    it('runs the EventStore contract suite against a live server', () => {});
  });
}
