import { eventStoreContract } from './eventstore.contract.ts';
import { testTargets } from './support/stores.ts';

for (const target of testTargets) {
  eventStoreContract(
    target.name,
    async () => {
      const t = await target.open();
      return { store: t.store, cleanup: t.cleanup };
    },
    { atomicMultiStreamAppend: true, writers: 8 },
  );
}
