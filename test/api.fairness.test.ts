// One customer's burst waits its turn (api/fairness.ts): a few requests of a contract in work at
// once, the others queued, 429 beyond the queue; another contract is never held back by it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ContractRequestGate } from '../api/fairness.ts';
import { testTargets } from './support/stores.ts';
import { A, B, json, openFixture, seedTwoContracts, type Fixture } from './api.support.ts';

describe('the turn of a contract’s requests (ContractRequestGate)', () => {
  it('lets the first N in, queues the next in order, refuses beyond the queue, and hands each turn over', async () => {
    const gate = new ContractRequestGate({ inFlight: 2, waiting: 2 });
    const first = (await gate.enter('a'))!;
    const second = (await gate.enter('a'))!;
    const order: string[] = [];
    const third = gate.enter('a').then((r) => (order.push('third'), r!));
    const fourth = gate.enter('a').then((r) => (order.push('fourth'), r!));
    expect(await gate.enter('a')).toBeUndefined();
    expect(await gate.enter('b')).toBeTypeOf('function');
    expect(gate.inFlight('a')).toBe(2);
    first();
    first(); // twice is once
    (await third)();
    second();
    (await fourth)();
    expect(order).toEqual(['third', 'fourth']);
    expect(gate.inFlight('a')).toBe(0);
  });
});

describe.each(testTargets)('a contract’s burst on $name', (target) => {
  let f: Fixture;
  const gate = new ContractRequestGate({ inFlight: 1, waiting: 1 });
  beforeAll(async () => {
    f = await openFixture(target, { app: { requestGate: gate } });
    await seedTwoContracts(f);
  });
  afterAll(async () => {
    await f?.close();
  });

  it('answers 429 with the error body to a request beyond its queue, on the API and the portal, while another contract is served', async () => {
    const tokenA = await f.login(A.selfId, A.password);
    const tokenB = await f.login(B.selfId, B.password);
    const held = (await gate.enter(A.code))!;
    const queued = gate.enter(A.code);
    const res = await f.request('GET', '/api/v1/charges', { token: tokenA });
    expect(res.status).toBe(429);
    expect(res.headers.get('retry-after')).toBe('1');
    expect((await json(res)).error.code).toBe('TOO_MANY_REQUESTS');
    const page = await f.app.request('/charges', { headers: { cookie: `ledger_session=${tokenA}` } });
    expect(page.status).toBe(429);
    expect(await page.text()).toContain('しばらくしてから');
    expect((await f.request('GET', '/api/v1/charges', { token: tokenB })).status).toBe(200);
    held();
    (await queued)!();
    expect((await f.request('GET', '/api/v1/charges', { token: tokenA })).status).toBe(200);
  });
});
