// A stopping server stops its projector after the batch in hand (issue 15 §4): catch-up with an
// aborted signal applies no further batch, keeps its checkpoint after the last one applied, and
// the next catch-up goes on from there.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ProjectionRunner, type Projection } from '../projections/framework.ts';
import { projectionMigrations } from '../projections/index.ts';
import { testTargets, type TestDatabase } from './support/stores.ts';

describe.each(testTargets)('the projector told to stop, on $name', (target) => {
  let t: TestDatabase;
  beforeAll(async () => {
    t = await target.open([projectionMigrations]);
  });
  afterAll(async () => {
    await t?.cleanup();
  });

  it('finishes the batch in hand, applies no more, and the next catch-up resumes after it', async () => {
    const stop = new AbortController();
    const applied: string[] = [];
    const counting: Projection = {
      name: 'ticks',
      version: 1,
      handles: ['Tick'],
      tables: [],
      async createTables() {},
      async apply(_trx, events) {
        applied.push(...events.map((e) => e.id));
        stop.abort(); // the signal comes while the first batch is being applied
      },
    };
    const ticks = Array.from({ length: 35 }, (_, i) => ({ id: randomUUID(), type: 'Tick', data: { i } }));
    await t.store.append('ticks-1', ticks);
    const runner = new ProjectionRunner(t.database, t.store, [counting], { batchSize: 10, catchUpByRebuild: false });

    expect(await runner.catchUp(stop.signal)).toBe(10);
    expect(applied).toEqual(ticks.slice(0, 10).map((e) => e.id));
    const [status] = Object.values(await runner.status());
    expect(status!.lag).toBe(25);

    expect(await runner.catchUp()).toBe(25);
    expect(applied).toEqual(ticks.map((e) => e.id));
  });
});
