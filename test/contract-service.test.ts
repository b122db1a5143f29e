// The contract application service against every store: the in-memory one (test/support), and the
// SQL adapter on PGlite (plus PostgreSQL when DATABASE_URL is set) through test/support/stores.ts.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type { EventStore } from '../eventstore/port.ts';
import { ExpectedVersionConflict } from '../eventstore/port.ts';
import { streams } from '../domain/events.ts';
import { DomainError } from '../domain/errors.ts';
import type { ContractCommand, OpenContract } from '../domain/contract.ts';
import { contractSummary, evolve, initialState, representativeIntervals } from '../domain/contract.ts';
import type { ContractEvent, NumberEvent } from '../domain/events.ts';
import { evolveNumber, holderOn, initialNumberState } from '../domain/numbers.ts';
import { commandEventId, handleContractCommand, parseContractCommand } from '../domain/contract-service.ts';
import { closeMonth, monthClosedIdOf } from '../domain/billing-service.ts';
import { startOfJapanDate } from '../domain/time.ts';
import { createMemoryEventStore } from './support/memory-store.ts';
import { testTargets } from './support/stores.ts';

interface Target {
  readonly name: string;
  open(): Promise<{ store: EventStore; cleanup(): Promise<void> }>;
}

const memory: Target = {
  name: 'memory',
  async open() {
    return { store: createMemoryEventStore(), cleanup: async () => {} };
  },
};

const targets: Target[] = [memory, ...testTargets.map((t) => ({ name: t.name, open: () => t.open() }))];

const A = 'd123456789';
const B = 'd987654321';

const openA: OpenContract = {
  type: 'OpenContract',
  contractCode: A,
  selfId: A,
  initialPassword: 'abc123',
  startDate: '2010-11-15',
  channels: 1,
  connectionType: 'ダイヤルイン接続',
  primaryDns: '192.0.2.1',
  secondaryDns: '192.0.2.2',
  basicNumber: '0120222333',
};
const openB: OpenContract = { ...openA, contractCode: B, selfId: B, initialPassword: 'xyz789', basicNumber: '0120999888', startDate: '2012-01-01' };

/** The INTERFACE sample file, line by line. */
const SAMPLE = `{"type":"OpenContract","contractCode":"d123456789","selfId":"d123456789","initialPassword":"abc123","startDate":"2010-11-15","channels":1,"connectionType":"ダイヤルイン接続","primaryDns":"192.0.2.1","secondaryDns":"192.0.2.2","basicNumber":"0120222333"}
{"type":"AddNumber","contractCode":"d123456789","dialInNumber":"0312345678","auMobileNumber":"09012345678","startDate":"2010-11-15"}
{"type":"RemoveNumber","contractCode":"d123456789","dialInNumber":"0312345678","endDate":"2018-03-31"}
{"type":"SubscribeOption","contractCode":"d123456789","option":"representativeNumber","effectiveFrom":"2017-11-10","representativeNumber":"0312345678"}
{"type":"SubscribeOption","contractCode":"d123456789","option":"freecallNotification","effectiveFrom":"2010-11-15","freecallNumbers":["0120222333"]}
{"type":"CancelOption","contractCode":"d123456789","option":"representativeNumber","effectiveFrom":"2018-01-01"}
{"type":"ChangeChannels","contractCode":"d123456789","channels":2,"effectiveFrom":"2018-01-01"}`;

const sampleCommands = (): ContractCommand[] => SAMPLE.split('\n').map((line) => parseContractCommand(JSON.parse(line)));

async function contractState(store: EventStore, code: string) {
  const recorded = await store.readStream(streams.contract(code));
  return recorded.reduce((s, e) => evolve(s, { type: e.type, data: e.data } as ContractEvent), initialState());
}

async function numberState(store: EventStore, number: string) {
  const recorded = await store.readStream(streams.number(number));
  return recorded.reduce((s, e) => evolveNumber(s, { type: e.type, data: e.data } as NumberEvent), initialNumberState());
}

async function failureOf(run: Promise<unknown>): Promise<DomainError> {
  const error = await run.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(DomainError);
  return error as DomainError;
}

describe.each(targets)('the contract service on the $name store', (target) => {
  let store: EventStore;
  let cleanup: () => Promise<void>;

  beforeEach(async () => {
    ({ store, cleanup } = await target.open());
  });
  afterEach(async () => {
    await cleanup();
  });

  describe('opening a contract', () => {
    it('appends the contract event and reserves the basic number, with deterministic ids', async () => {
      const result = await handleContractCommand(store, openA, { metadata: { source: 'contracts.jsonl:1' } });
      expect(result.alreadyPresent).toBe(false);
      expect(result.events.map((e) => [e.streamId, e.type, e.id])).toEqual([
        [`contract-${A}`, 'ContractOpened', commandEventId(openA, 0)],
        ['number-0120222333', 'NumberAssigned', commandEventId(openA, 1)],
      ]);
      const [opened] = await store.readStream(`contract-${A}`);
      expect(opened!.metadata).toMatchObject({ source: 'contracts.jsonl:1', commandType: 'OpenContract' });
      expect(holderOn(await numberState(store, '0120222333'), '2010-11-15')).toBe(A);
    });

    it('never stores the initial password', async () => {
      await handleContractCommand(store, openA);
      const all = await store.readAll();
      expect(JSON.stringify(all.map((e) => [e.id, e.data, e.metadata]))).not.toContain('abc123');
    });

    it('is recognised when run again, even with another initial password', async () => {
      await handleContractCommand(store, openA);
      const again = await handleContractCommand(store, { ...openA, initialPassword: 'other9' });
      expect(again).toEqual({ alreadyPresent: true, events: [] });
      expect(await store.readStream(`contract-${A}`)).toHaveLength(1);
    });

    it('is refused for another opening of the same contract', async () => {
      await handleContractCommand(store, openA);
      const error = await failureOf(handleContractCommand(store, { ...openA, channels: 3 }));
      expect(error.code).toBe('CONTRACT_ALREADY_OPEN');
    });

    it('is refused when another contract holds the basic number', async () => {
      await handleContractCommand(store, openA);
      const error = await failureOf(handleContractCommand(store, { ...openB, basicNumber: '0120222333' }));
      expect(error.code).toBe('NUMBER_ALREADY_HELD');
      expect(await store.readStream(`contract-${B}`)).toEqual([]);
    });
  });

  describe('the INTERFACE sample file', () => {
    it('applies, and re-running it appends nothing', async () => {
      for (const command of sampleCommands()) expect((await handleContractCommand(store, command)).alreadyPresent).toBe(false);
      const head = await store.headPosition();
      for (const command of sampleCommands()) expect((await handleContractCommand(store, command)).alreadyPresent).toBe(true);
      expect(await store.headPosition()).toBe(head);

      const state = await contractState(store, A);
      expect(contractSummary(state, '2017-12-01')).toMatchObject({ numberCount: 2, dialInNumberCount: 1, channels: 1 });
      expect(representativeIntervals(state)).toEqual([{ from: startOfJapanDate('2017-11-10'), to: startOfJapanDate('2018-01-01'), number: '0312345678' }]);
      const reservation = await numberState(store, '0312345678');
      expect(holderOn(reservation, '2018-03-31')).toBe(A);
      expect(holderOn(reservation, '2018-04-01')).toBeUndefined();
    });
  });

  describe('a number moving between contracts', () => {
    const addTo = (contractCode: string, startDate: string): ContractCommand => ({
      type: 'AddNumber',
      contractCode,
      dialInNumber: '0312345678',
      auMobileNumber: '09012345678',
      startDate,
    });

    it('is refused while the first contract holds it, and accepted from the day after its release', async () => {
      await handleContractCommand(store, openA);
      await handleContractCommand(store, openB);
      await handleContractCommand(store, addTo(A, '2011-01-01'));
      expect((await failureOf(handleContractCommand(store, addTo(B, '2013-01-01')))).code).toBe('NUMBER_ALREADY_HELD');

      await handleContractCommand(store, { type: 'RemoveNumber', contractCode: A, dialInNumber: '0312345678', endDate: '2014-03-31' });
      expect((await failureOf(handleContractCommand(store, addTo(B, '2014-03-31')))).code).toBe('NUMBER_ALREADY_HELD');
      await handleContractCommand(store, addTo(B, '2014-04-01'));

      const reservation = await numberState(store, '0312345678');
      expect(holderOn(reservation, '2014-03-31')).toBe(A);
      expect(holderOn(reservation, '2014-04-01')).toBe(B);
    });

    it('goes to exactly one of two contracts adding it at the same time', async () => {
      await handleContractCommand(store, openA);
      await handleContractCommand(store, openB);
      const outcomes = await Promise.allSettled([handleContractCommand(store, addTo(A, '2013-01-01')), handleContractCommand(store, addTo(B, '2013-01-01'))]);
      expect(outcomes.filter((o) => o.status === 'fulfilled')).toHaveLength(1);
      const refused = outcomes.find((o): o is PromiseRejectedResult => o.status === 'rejected')!;
      expect((refused.reason as DomainError).code).toBe('NUMBER_ALREADY_HELD');
      expect(await store.readStream('number-0312345678')).toHaveLength(1);
    });
  });

  describe('concurrent changes to one contract', () => {
    it('all land, each retried against the newer version', async () => {
      await handleContractCommand(store, openA);
      const changes: ContractCommand[] = ['2011-01-01', '2012-01-01', '2013-01-01', '2014-01-01'].map((effectiveFrom, i) => ({
        type: 'ChangeChannels',
        contractCode: A,
        channels: i + 2,
        effectiveFrom,
      }));
      await Promise.all(changes.map((c) => handleContractCommand(store, c, { maxAttempts: 10 })));
      expect(await store.readStream(`contract-${A}`)).toHaveLength(5);
    });
  });

  it('refuses a rule break with its code and appends nothing', async () => {
    await handleContractCommand(store, openA);
    const head = await store.headPosition();
    const error = await failureOf(
      handleContractCommand(store, { type: 'SubscribeOption', contractCode: A, option: 'representativeNumber', effectiveFrom: '2017-11-10', representativeNumber: '0399999999' }),
    );
    expect(error.code).toBe('REPRESENTATIVE_NUMBER_NOT_HELD');
    expect(await store.headPosition()).toBe(head);
  });

  it('refuses a malformed contract code before naming a stream', async () => {
    const error = await failureOf(handleContractCommand(store, { ...openA, contractCode: '../etc' }));
    expect(error.code).toBe('INVALID_CONTRACT_CODE');
    expect(await store.readAll()).toEqual([]);
  });

  it('completes a command whose number event was stored without its contract event (a non-atomic store)', async () => {
    await handleContractCommand(store, openA);
    const add: ContractCommand = { type: 'AddNumber', contractCode: A, dialInNumber: '0312345678', auMobileNumber: '09012345678', startDate: '2011-01-01' };
    await store.append(
      'number-0312345678',
      [{ id: commandEventId(add, 1), type: 'NumberAssigned', data: { number: '0312345678', contractCode: A, kind: 'dialIn', from: '2011-01-01' } }],
      { expectedVersion: 'no_stream' },
    );
    const result = await handleContractCommand(store, add);
    expect(result.events.map((e) => e.type)).toEqual(['NumberAdded']);
    expect(await store.readStream('number-0312345678')).toHaveLength(1);
    expect(await store.readStream(`contract-${A}`)).toHaveLength(2);
  });
});

describe('the contract service when another writer keeps winning', () => {
  it('retries, then gives up with the conflict', async () => {
    const store = createMemoryEventStore();
    await handleContractCommand(store, openA);
    let n = 0;
    let injecting = false;
    store.beforeAppend = async () => {
      if (injecting) return;
      injecting = true;
      n++;
      try {
        await store.append(`contract-${A}`, [{ id: crypto.randomUUID(), type: 'SelfPasswordChanged', data: { contractCode: A, changedAt: `2018-01-01T00:00:0${n}+09:00` } }]);
      } finally {
        injecting = false;
      }
    };
    const change: ContractCommand = { type: 'ChangeChannels', contractCode: A, channels: 2, effectiveFrom: '2018-01-01' };
    await expect(handleContractCommand(store, change, { maxAttempts: 3 })).rejects.toBeInstanceOf(ExpectedVersionConflict);
    expect(n).toBe(3);

    store.beforeAppend = undefined;
    expect((await handleContractCommand(store, change)).alreadyPresent).toBe(false);
  });

  it('succeeds on a retry after one lost race', async () => {
    const store = createMemoryEventStore();
    await handleContractCommand(store, openA);
    store.beforeAppend = async () => {
      store.beforeAppend = undefined;
      await store.append(`contract-${A}`, [{ id: crypto.randomUUID(), type: 'ChannelsChanged', data: { contractCode: A, channels: 5, effectiveFrom: '2019-01-01' } }]);
    };
    await handleContractCommand(store, { type: 'ChangeChannels', contractCode: A, channels: 2, effectiveFrom: '2018-01-01' });
    expect((await store.readStream(`contract-${A}`)).map((e) => e.type)).toEqual(['ContractOpened', 'ChannelsChanged', 'ChannelsChanged']);
  });
});

describe('contracts racing for numbers', () => {
  it('never leave a number held by two contracts on one date', async () => {
    const NUMBERS = ['0312345678', '0312345679'];
    const DATES = ['2012-01-01', '2013-01-01', '2014-01-01'];
    const arbAdd = fc.record({
      type: fc.constant('AddNumber' as const),
      contractCode: fc.constantFrom(A, B),
      dialInNumber: fc.constantFrom(...NUMBERS),
      auMobileNumber: fc.constant('09012345678'),
      startDate: fc.constantFrom(...DATES),
    });
    const arbRemove = fc.record({
      type: fc.constant('RemoveNumber' as const),
      contractCode: fc.constantFrom(A, B),
      dialInNumber: fc.constantFrom(...NUMBERS),
      endDate: fc.constantFrom(...DATES),
    });
    await fc.assert(
      fc.asyncProperty(fc.array(fc.array(fc.oneof(arbAdd, arbRemove), { minLength: 1, maxLength: 3 }), { maxLength: 6 }), async (rounds) => {
        const store = createMemoryEventStore();
        await handleContractCommand(store, openA);
        await handleContractCommand(store, openB);
        for (const round of rounds) {
          // Each round's commands run concurrently.
          const outcomes = await Promise.allSettled(round.map((c) => handleContractCommand(store, c, { maxAttempts: 10 })));
          for (const o of outcomes) if (o.status === 'rejected') expect(o.reason).toBeInstanceOf(DomainError);
        }
        const [a, b] = [await contractState(store, A), await contractState(store, B)];
        for (const number of NUMBERS) {
          const reservation = await numberState(store, number);
          for (const date of ['2011-12-31', ...DATES, '2012-01-02', '2013-01-02', '2014-01-02']) {
            const holders = [a, b].filter((s) => s.status === 'open' && s.holdings.some((h) => h.number === number && h.from <= date && (h.to === null || date <= h.to)));
            expect(holders.length).toBeLessThanOrEqual(1);
            expect(holderOn(reservation, date)).toBe(holders[0]?.status === 'open' ? holders[0].contractCode : undefined);
          }
        }
      }),
      { numRuns: 40 },
    );
  });
});

describe('parsing a contract command line', () => {
  it('accepts every line of the INTERFACE sample', () => {
    expect(sampleCommands().map((c) => c.type)).toEqual(['OpenContract', 'AddNumber', 'RemoveNumber', 'SubscribeOption', 'SubscribeOption', 'CancelOption', 'ChangeChannels']);
  });

  it('hands the initial password back to the caller', () => {
    const command = sampleCommands()[0]!;
    expect(command.type === 'OpenContract' && command.initialPassword).toBe('abc123');
  });

  it.each([
    [null, 'INVALID_COMMAND', undefined],
    [[1], 'INVALID_COMMAND', undefined],
    [{}, 'INVALID_COMMAND', 'type'],
    [{ type: 'CloseContract', contractCode: A }, 'INVALID_COMMAND', 'type'],
    [{ type: 'RemoveNumber', contractCode: A, dialInNumber: '0312345678' }, 'INVALID_COMMAND', 'endDate'],
    [{ type: 'ChangeChannels', contractCode: A, channels: '2', effectiveFrom: '2018-01-01' }, 'INVALID_COMMAND', 'channels'],
    [{ type: 'CancelOption', contractCode: A, option: 'dialIn', effectiveFrom: '2018-01-01', efectiveFrom: '2018-01-01' }, 'INVALID_COMMAND', 'efectiveFrom'],
    [{ type: 'SubscribeOption', contractCode: A, option: 'freecallNotification', effectiveFrom: '2018-01-01', freecallNumbers: ['0120222333', 1] }, 'INVALID_COMMAND', 'freecallNumbers[1]'],
    [{ type: 'CancelOption', contractCode: A, option: 'teleport', effectiveFrom: '2018-01-01' }, 'UNKNOWN_OPTION', 'option'],
  ])('refuses %j with %s naming %s', (json, code, field) => {
    let caught: unknown;
    try {
      parseContractCommand(json);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(DomainError);
    expect((caught as DomainError).code).toBe(code);
    expect((caught as DomainError).field).toBe(field);
    if (field) expect((caught as DomainError).message).toContain(field.replace(/\[\d+\]$/, ''));
  });

  it('gives the same ids to the same command however its keys are ordered', () => {
    const [line] = SAMPLE.split('\n');
    const reordered = Object.fromEntries(Object.entries(JSON.parse(line!) as Record<string, unknown>).reverse());
    expect(commandEventId(parseContractCommand(reordered), 0)).toBe(commandEventId(sampleCommands()[0]!, 0));
  });
});

// ---- closing a month (domain/billing-service.ts) ----------------------------------------------

for (const target of targets) {
  describe(`closing a billing month on ${target.name}`, () => {
    let store: EventStore;
    let cleanup: () => Promise<void>;
    const code = 'd987654321';
    beforeEach(async () => {
      ({ store, cleanup } = await target.open());
      await handleContractCommand(store, parseContractCommand({ type: 'OpenContract', contractCode: code, selfId: code, startDate: '2017-01-10', channels: 1, connectionType: 'ダイヤルイン接続', primaryDns: '192.0.2.1', secondaryDns: '192.0.2.2', basicNumber: '0120999888' }));
    });
    afterEach(async () => {
      await cleanup();
    });

    it('records one MonthClosed on the contract’s billing stream; closing again is a no-op', async () => {
      const first = await closeMonth(store, { type: 'CloseMonth', contractCode: code, month: '2017-11', now: '2017-12-02T09:00:00+09:00' }, { source: 'test' });
      expect(first).toEqual({ contractCode: code, month: '2017-11', closed: true, closedAt: '2017-12-02T09:00:00+09:00' });
      const again = await closeMonth(store, { type: 'CloseMonth', contractCode: code, month: '2017-11', now: '2017-12-09T09:00:00+09:00' });
      expect(again).toEqual({ contractCode: code, month: '2017-11', closed: false, closedAt: '2017-12-02T09:00:00+09:00' });
      const events = await store.readStream(streams.billing(code));
      expect(events.map((e) => [e.id, e.type, e.data])).toEqual([[monthClosedIdOf(code, '2017-11'), 'MonthClosed', { contractCode: code, month: '2017-11', closedAt: '2017-12-02T09:00:00+09:00' }]]);
    });

    it('refuses a month not yet ended and changes nothing', async () => {
      await expect(closeMonth(store, { type: 'CloseMonth', contractCode: code, month: '2017-12', now: '2017-12-31T23:00:00+09:00' })).rejects.toMatchObject({ code: 'MONTH_NOT_ENDED' });
      await expect(closeMonth(store, { type: 'CloseMonth', contractCode: 'd000000001', month: '2017-11', now: '2018-01-01T00:00:00+09:00' })).rejects.toMatchObject({ code: 'CONTRACT_NOT_FOUND' });
      expect(await store.readStream(streams.billing(code))).toEqual([]);
    });

    it('two engineers closing at once record one close', async () => {
      const results = await Promise.all(
        ['2017-12-02T09:00:00+09:00', '2017-12-02T09:00:01+09:00', '2017-12-02T09:00:02+09:00'].map((now) => closeMonth(store, { type: 'CloseMonth', contractCode: code, month: '2017-11', now })),
      );
      expect(results.filter((r) => r.closed)).toHaveLength(1);
      expect(new Set(results.map((r) => r.closedAt)).size).toBe(1);
      expect(await store.readStream(streams.billing(code))).toHaveLength(1);
    });
  });
}
