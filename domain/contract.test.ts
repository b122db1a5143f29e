import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { DateTime } from 'luxon';
import type { ContractEvent, OptionKey } from './events.ts';
import { OPTION_KEYS } from './events.ts';
import { DomainError } from './errors.ts';
import type { ContractCommand, ContractState, OpenContract } from './contract.ts';
import {
  channelsOn,
  contractSummary,
  decide,
  evolve,
  holdsNumberOn,
  initialState,
  numberDetailsOn,
  numbersHeldOn,
  optionAt,
  optionOn,
  representativeIntervals,
  representativeNumberAt,
} from './contract.ts';
import type { NumberState } from './numbers.ts';
import { evolveNumber, holderOn, initialNumberState } from './numbers.ts';
import { planContractCommand } from './contract-service.ts';
import { instantOf, startOfJapanDate } from './time.ts';

// ---- given / when / then ----------------------------------------------------------------------

const CODE = 'd123456789';

function given(...events: ContractEvent[]) {
  const state = events.reduce(evolve, initialState());
  return {
    state,
    when(command: ContractCommand) {
      return {
        then(expected: ContractEvent[]) {
          expect(decide(command, state)).toEqual(expected);
        },
        thenFailsWith(code: string, field?: string) {
          let caught: unknown;
          try {
            decide(command, state);
          } catch (error) {
            caught = error;
          }
          expect(caught, `expected ${code}`).toBeInstanceOf(DomainError);
          expect((caught as DomainError).code).toBe(code);
          if (field !== undefined) expect((caught as DomainError).field).toBe(field);
        },
      };
    },
  };
}

/** State after deciding and evolving each command in turn (each must succeed). */
function after(...commands: ContractCommand[]): ContractState {
  return commands.reduce((s, c) => decide(c, s).reduce(evolve, s), initialState());
}

const open: OpenContract = {
  type: 'OpenContract',
  contractCode: CODE,
  selfId: CODE,
  initialPassword: 'abc123',
  startDate: '2010-11-15',
  channels: 1,
  connectionType: 'ダイヤルイン接続',
  primaryDns: '192.0.2.1',
  secondaryDns: '192.0.2.2',
  basicNumber: '0120222333',
};

const opened: ContractEvent = {
  type: 'ContractOpened',
  data: {
    contractCode: CODE,
    selfId: CODE,
    startDate: '2010-11-15',
    channels: 1,
    connectionType: 'ダイヤルイン接続',
    primaryDns: '192.0.2.1',
    secondaryDns: '192.0.2.2',
    basicNumber: '0120222333',
  },
};

const added = (dialInNumber: string, startDate: string): ContractEvent => ({
  type: 'NumberAdded',
  data: { contractCode: CODE, dialInNumber, auMobileNumber: '09012345678', startDate },
});
const removed = (dialInNumber: string, endDate: string): ContractEvent => ({
  type: 'NumberRemoved',
  data: { contractCode: CODE, dialInNumber, endDate },
});
const representative = (number: string, effectiveFrom: string): ContractEvent => ({
  type: 'OptionSubscribed',
  data: { contractCode: CODE, option: 'representativeNumber', effectiveFrom, representativeNumber: number },
});
const cancelled = (option: OptionKey, effectiveFrom: string): ContractEvent => ({
  type: 'OptionCancelled',
  data: { contractCode: CODE, option, effectiveFrom },
});
const subscribed = (option: OptionKey, effectiveFrom: string): ContractEvent => ({
  type: 'OptionSubscribed',
  data: { contractCode: CODE, option, effectiveFrom },
});

const at = (date: string, time = '000000.0') => instantOf(date, time);

// ---- opening ----------------------------------------------------------------------------------

describe('opening a contract', () => {
  it('records the contract without the initial password', () => {
    given().when(open).then([opened]);
    expect(JSON.stringify(decide(open, initialState()))).not.toContain('abc123');
  });

  it('is refused when the contract is already open', () => {
    given(opened).when(open).thenFailsWith('CONTRACT_ALREADY_OPEN');
  });

  it.each([
    [{ contractCode: 'D123456789' }, 'INVALID_CONTRACT_CODE', 'contractCode'],
    [{ contractCode: 'd12345678' }, 'INVALID_CONTRACT_CODE', 'contractCode'],
    [{ selfId: 'd1234567890' }, 'INVALID_SELF_ID', 'selfId'],
    [{ startDate: '2017-02-29' }, 'INVALID_DATE', 'startDate'],
    [{ startDate: '2017/11/01' }, 'INVALID_DATE', 'startDate'],
    [{ channels: 0 }, 'INVALID_CHANNELS', 'channels'],
    [{ channels: 1.5 }, 'INVALID_CHANNELS', 'channels'],
    [{ connectionType: ' ' }, 'INVALID_CONNECTION_TYPE', 'connectionType'],
    [{ primaryDns: '192.0.2.256' }, 'INVALID_DNS', 'primaryDns'],
    [{ secondaryDns: 'dns.example' }, 'INVALID_DNS', 'secondaryDns'],
    [{ basicNumber: '03-1234-5678' }, 'INVALID_NUMBER', 'basicNumber'],
    [{ basicNumber: '012345678' }, 'INVALID_NUMBER', 'basicNumber'],
  ] as const)('refuses %j with %s', (change, code, field) => {
    given().when({ ...open, ...change }).thenFailsWith(code, field);
  });
});

describe('a command for a contract that was never opened', () => {
  it.each<ContractCommand>([
    { type: 'AddNumber', contractCode: CODE, dialInNumber: '0312345678', auMobileNumber: '09012345678', startDate: '2011-01-01' },
    { type: 'RemoveNumber', contractCode: CODE, dialInNumber: '0312345678', endDate: '2011-01-01' },
    { type: 'SubscribeOption', contractCode: CODE, option: 'dialIn', effectiveFrom: '2011-01-01' },
    { type: 'CancelOption', contractCode: CODE, option: 'dialIn', effectiveFrom: '2011-01-01' },
    { type: 'ChangeChannels', contractCode: CODE, channels: 2, effectiveFrom: '2011-01-01' },
    { type: 'ChangeSelfPassword', contractCode: CODE, now: '2018-01-01T10:00:00+09:00' },
    { type: 'ResetSelfPassword', contractCode: CODE, now: '2018-01-01T10:00:00+09:00' },
  ])('$type is refused as CONTRACT_NOT_FOUND', (command) => {
    given().when(command).thenFailsWith('CONTRACT_NOT_FOUND');
  });
});

// ---- numbers ----------------------------------------------------------------------------------

describe('adding a dial-in number', () => {
  const add = { type: 'AddNumber', contractCode: CODE, dialInNumber: '0312345678', auMobileNumber: '09012345678', startDate: '2010-11-15' } as const;

  it('records the number from its start date', () => {
    given(opened).when(add).then([added('0312345678', '2010-11-15')]);
  });

  it('is refused before the contract starts', () => {
    given(opened).when({ ...add, startDate: '2010-11-14' }).thenFailsWith('DATE_BEFORE_CONTRACT_START', 'startDate');
  });

  it('is refused while the contract already holds the number', () => {
    given(opened, added('0312345678', '2011-01-01')).when({ ...add, startDate: '2012-01-01' }).thenFailsWith('NUMBER_ALREADY_HELD');
  });

  it('is refused when a holding ending later would overlap', () => {
    given(opened, added('0312345678', '2011-01-01'), removed('0312345678', '2012-12-31'))
      .when({ ...add, startDate: '2010-12-01' })
      .thenFailsWith('NUMBER_ALREADY_HELD');
  });

  it('is refused for the basic number', () => {
    given(opened).when({ ...add, dialInNumber: '0120222333' }).thenFailsWith('NUMBER_ALREADY_HELD');
  });

  it('is accepted again after the number was removed', () => {
    given(opened, added('0312345678', '2011-01-01'), removed('0312345678', '2012-12-31'))
      .when({ ...add, startDate: '2013-01-01' })
      .then([added('0312345678', '2013-01-01')]);
  });

  it.each([
    [{ dialInNumber: '03-1234-5678' }, 'INVALID_NUMBER', 'dialInNumber'],
    [{ auMobileNumber: '090' }, 'INVALID_NUMBER', 'auMobileNumber'],
    [{ startDate: '2011-13-01' }, 'INVALID_DATE', 'startDate'],
  ] as const)('refuses %j with %s', (change, code, field) => {
    given(opened).when({ ...add, ...change }).thenFailsWith(code, field);
  });
});

describe('removing a dial-in number', () => {
  const remove = { type: 'RemoveNumber', contractCode: CODE, dialInNumber: '0312345678', endDate: '2018-03-31' } as const;

  it('records the last day held', () => {
    given(opened, added('0312345678', '2010-11-15')).when(remove).then([removed('0312345678', '2018-03-31')]);
  });

  it('keeps the number held up to and including the end date', () => {
    const { state } = given(opened, added('0312345678', '2010-11-15'), removed('0312345678', '2018-03-31'));
    expect(numbersHeldOn(state, '2018-03-31').map((h) => h.number)).toEqual(['0120222333', '0312345678']);
    expect(numbersHeldOn(state, '2018-04-01').map((h) => h.number)).toEqual(['0120222333']);
  });

  it('is refused for a number the contract does not hold on the end date', () => {
    given(opened, added('0312345678', '2012-01-01')).when({ ...remove, endDate: '2011-12-31' }).thenFailsWith('NUMBER_NOT_ON_CONTRACT');
    given(opened).when(remove).thenFailsWith('NUMBER_NOT_ON_CONTRACT');
  });

  it('is refused for the basic number', () => {
    given(opened).when({ ...remove, dialInNumber: '0120222333' }).thenFailsWith('BASIC_NUMBER_NOT_REMOVABLE');
  });

  it('can be corrected to an earlier end date', () => {
    const { state } = given(opened, added('0312345678', '2010-11-15'), removed('0312345678', '2018-03-31'));
    const corrected = decide({ ...remove, endDate: '2018-02-28' }, state).reduce(evolve, state);
    expect(holdsNumberOn(corrected, '0312345678', '2018-03-01')).toBe(false);
    expect(holdsNumberOn(corrected, '0312345678', '2018-02-28')).toBe(true);
  });
});

// ---- options ----------------------------------------------------------------------------------

describe('subscribing to an option', () => {
  const sub = { type: 'SubscribeOption', contractCode: CODE, effectiveFrom: '2017-11-10' } as const;

  it('records a plain option', () => {
    given(opened).when({ ...sub, option: 'callRejection' }).then([subscribed('callRejection', '2017-11-10')]);
  });

  it('is refused for an unknown option', () => {
    given(opened).when({ ...sub, option: 'teleport' as OptionKey }).thenFailsWith('UNKNOWN_OPTION', 'option');
  });

  it('is refused when already subscribed on that date with the same parameters', () => {
    given(opened, subscribed('callRejection', '2017-01-01')).when({ ...sub, option: 'callRejection' }).thenFailsWith('OPTION_ALREADY_SUBSCRIBED');
  });

  it('is refused before the contract starts', () => {
    given(opened).when({ ...sub, option: 'dialIn', effectiveFrom: '2009-01-01' }).thenFailsWith('DATE_BEFORE_CONTRACT_START');
  });

  it('refuses a parameter that belongs to another option', () => {
    given(opened).when({ ...sub, option: 'dialIn', representativeNumber: '0120222333' }).thenFailsWith('INVALID_OPTION_PARAMETER', 'representativeNumber');
    given(opened).when({ ...sub, option: 'dialIn', freecallNumbers: ['0120222333'] }).thenFailsWith('INVALID_OPTION_PARAMETER', 'freecallNumbers');
  });

  describe('freecall number notification', () => {
    it('records the freecall numbers', () => {
      given(opened)
        .when({ ...sub, option: 'freecallNotification', freecallNumbers: ['0120222333'] })
        .then([{ type: 'OptionSubscribed', data: { contractCode: CODE, option: 'freecallNotification', effectiveFrom: '2017-11-10', freecallNumbers: ['0120222333'] } }]);
    });

    it('needs a non-empty list of valid numbers', () => {
      given(opened).when({ ...sub, option: 'freecallNotification' }).thenFailsWith('FREECALL_NUMBERS_REQUIRED');
      given(opened).when({ ...sub, option: 'freecallNotification', freecallNumbers: [] }).thenFailsWith('FREECALL_NUMBERS_REQUIRED');
      given(opened).when({ ...sub, option: 'freecallNotification', freecallNumbers: ['0120222333', '0120-22'] }).thenFailsWith('INVALID_NUMBER', 'freecallNumbers[1]');
    });
  });

  describe('the representative number (拠点代表番号)', () => {
    it('needs a number', () => {
      given(opened).when({ ...sub, option: 'representativeNumber' }).thenFailsWith('REPRESENTATIVE_NUMBER_REQUIRED');
    });

    it('accepts the basic number or a dial-in number held on the effective date', () => {
      given(opened).when({ ...sub, option: 'representativeNumber', representativeNumber: '0120222333' }).then([representative('0120222333', '2017-11-10')]);
      given(opened, added('0312345678', '2017-11-10'))
        .when({ ...sub, option: 'representativeNumber', representativeNumber: '0312345678' })
        .then([representative('0312345678', '2017-11-10')]);
    });

    it('refuses a number not held on the effective date', () => {
      given(opened, added('0312345678', '2017-11-11'))
        .when({ ...sub, option: 'representativeNumber', representativeNumber: '0312345678' })
        .thenFailsWith('REPRESENTATIVE_NUMBER_NOT_HELD', 'representativeNumber');
      given(opened, added('0312345678', '2011-01-01'), removed('0312345678', '2017-11-09'))
        .when({ ...sub, option: 'representativeNumber', representativeNumber: '0312345678' })
        .thenFailsWith('REPRESENTATIVE_NUMBER_NOT_HELD');
    });

    it('can be superseded by a later subscription with another number', () => {
      given(opened, added('0312345678', '2011-01-01'), representative('0312345678', '2017-11-10'))
        .when({ ...sub, option: 'representativeNumber', representativeNumber: '0120222333', effectiveFrom: '2018-01-01' })
        .then([representative('0120222333', '2018-01-01')]);
    });
  });
});

describe('cancelling an option', () => {
  const cancel = { type: 'CancelOption', contractCode: CODE, option: 'callRejection', effectiveFrom: '2018-01-01' } as const;

  it('records the cancellation', () => {
    given(opened, subscribed('callRejection', '2017-01-01')).when(cancel).then([cancelled('callRejection', '2018-01-01')]);
  });

  it('is refused when the option is not subscribed on that date', () => {
    given(opened).when(cancel).thenFailsWith('OPTION_NOT_SUBSCRIBED');
    given(opened, subscribed('callRejection', '2018-02-01')).when(cancel).thenFailsWith('OPTION_NOT_SUBSCRIBED');
    given(opened, subscribed('callRejection', '2017-01-01'), cancelled('callRejection', '2017-06-01')).when(cancel).thenFailsWith('OPTION_NOT_SUBSCRIBED');
  });
});

describe('an option in effect', () => {
  const { state } = given(opened, subscribed('bulkForwarding', '2017-01-01'), cancelled('bulkForwarding', '2018-01-01'));

  it('starts at 00:00 Asia/Tokyo of its effective date and ends at 00:00 of the cancellation date', () => {
    expect(optionAt(state, 'bulkForwarding', at('2016-12-31', '235959.9')).subscribed).toBe(false);
    expect(optionAt(state, 'bulkForwarding', at('2017-01-01')).subscribed).toBe(true);
    expect(optionAt(state, 'bulkForwarding', at('2017-12-31', '235959.9'))).toEqual({ subscribed: true, effectiveFrom: '2017-01-01' });
    expect(optionAt(state, 'bulkForwarding', at('2018-01-01')).subscribed).toBe(false);
  });
});

// ---- representative intervals -----------------------------------------------------------------

describe('representative number intervals', () => {
  it('run from each subscription to the next change', () => {
    const { state } = given(opened, added('0312345678', '2011-01-01'), representative('0312345678', '2017-11-10'), representative('0120222333', '2018-01-01'), cancelled('representativeNumber', '2018-03-01'));
    expect(representativeIntervals(state)).toEqual([
      { from: startOfJapanDate('2017-11-10'), to: startOfJapanDate('2018-01-01'), number: '0312345678' },
      { from: startOfJapanDate('2018-01-01'), to: startOfJapanDate('2018-03-01'), number: '0120222333' },
    ]);
    expect(representativeNumberAt(state, at('2017-11-09', '235959.9'))).toBeUndefined();
    expect(representativeNumberAt(state, at('2017-11-10'))).toBe('0312345678');
    expect(representativeNumberAt(state, at('2017-12-31', '235959.9'))).toBe('0312345678');
    expect(representativeNumberAt(state, at('2018-01-01'))).toBe('0120222333');
    expect(representativeNumberAt(state, at('2018-03-01'))).toBeUndefined();
  });

  it('are open-ended while the option stays subscribed', () => {
    const { state } = given(opened, representative('0120222333', '2017-11-10'));
    expect(representativeIntervals(state)).toEqual([{ from: startOfJapanDate('2017-11-10'), to: null, number: '0120222333' }]);
    expect(representativeNumberAt(state, at('2030-01-01'))).toBe('0120222333');
  });

  it('are empty for a contract without the option', () => {
    expect(representativeIntervals(given(opened).state)).toEqual([]);
    expect(representativeIntervals(initialState())).toEqual([]);
  });
});

describe('a representative number change recorded late', () => {
  it('re-attributes the past from its effective date (a late cancel)', () => {
    const { state } = given(opened, added('0312345678', '2011-01-01'), representative('0312345678', '2017-11-10'), representative('0120222333', '2018-02-01'), cancelled('representativeNumber', '2018-01-01'));
    expect(representativeIntervals(state)).toEqual([
      { from: startOfJapanDate('2017-11-10'), to: startOfJapanDate('2018-01-01'), number: '0312345678' },
      { from: startOfJapanDate('2018-02-01'), to: null, number: '0120222333' },
    ]);
    expect(representativeNumberAt(state, at('2018-01-15', '120000.0'))).toBeUndefined();
  });

  it('slots in before a change already recorded (a late subscribe with an earlier date)', () => {
    const { state } = given(opened, added('0312345678', '2011-01-01'), representative('0120222333', '2018-01-01'), representative('0312345678', '2017-11-10'));
    expect(representativeIntervals(state)).toEqual([
      { from: startOfJapanDate('2017-11-10'), to: startOfJapanDate('2018-01-01'), number: '0312345678' },
      { from: startOfJapanDate('2018-01-01'), to: null, number: '0120222333' },
    ]);
  });

  it('is decided against the timeline on its own date', () => {
    // Subscribed from 2018-01-01 only: a late cancel dated before that finds nothing to cancel.
    given(opened, representative('0120222333', '2018-01-01'))
      .when({ type: 'CancelOption', contractCode: CODE, option: 'representativeNumber', effectiveFrom: '2017-12-01' })
      .thenFailsWith('OPTION_NOT_SUBSCRIBED');
  });

  it('leaves no interval when superseded on its own date', () => {
    const { state } = given(opened, representative('0120222333', '2018-01-01'), cancelled('representativeNumber', '2018-01-01'));
    expect(representativeIntervals(state)).toEqual([]);
  });
});

// ---- channels and passwords -------------------------------------------------------------------

describe('changing channels', () => {
  it('takes effect from its date, also when recorded late', () => {
    const state = after(
      open,
      { type: 'ChangeChannels', contractCode: CODE, channels: 3, effectiveFrom: '2019-01-01' },
      { type: 'ChangeChannels', contractCode: CODE, channels: 2, effectiveFrom: '2018-01-01' },
    );
    expect(channelsOn(state, '2017-12-31')).toBe(1);
    expect(channelsOn(state, '2018-01-01')).toBe(2);
    expect(channelsOn(state, '2019-01-01')).toBe(3);
    expect(channelsOn(state, '2010-11-14')).toBeUndefined();
  });

  it('refuses a count that is not a positive whole number', () => {
    given(opened).when({ type: 'ChangeChannels', contractCode: CODE, channels: -1, effectiveFrom: '2018-01-01' }).thenFailsWith('INVALID_CHANNELS');
  });
});

describe('the self password', () => {
  it('change is recorded as a fact, with no password', () => {
    given(opened)
      .when({ type: 'ChangeSelfPassword', contractCode: CODE, now: '2018-01-01T10:00:00.000+09:00' })
      .then([{ type: 'SelfPasswordChanged', data: { contractCode: CODE, changedAt: '2018-01-01T10:00:00.000+09:00' } }]);
  });

  it('reset is recorded as a fact', () => {
    given(opened)
      .when({ type: 'ResetSelfPassword', contractCode: CODE, now: '2018-01-01T10:00:00+09:00' })
      .then([{ type: 'SelfPasswordReset', data: { contractCode: CODE, resetAt: '2018-01-01T10:00:00+09:00' } }]);
  });

  it('needs a real instant', () => {
    given(opened).when({ type: 'ChangeSelfPassword', contractCode: CODE, now: 'yesterday' }).thenFailsWith('INVALID_TIMESTAMP', 'now');
  });
});

// ---- the portal's summary ---------------------------------------------------------------------

describe("the manual's worked example (SPEC §8)", () => {
  const state = after(
    open,
    { type: 'AddNumber', contractCode: CODE, dialInNumber: '0312345678', auMobileNumber: '09012345678', startDate: '2010-11-15' },
    { type: 'SubscribeOption', contractCode: CODE, option: 'freecallNotification', effectiveFrom: '2010-11-15', freecallNumbers: ['0120222333'] },
  );

  it('shows 2 contracted numbers, 1 dial-in number, 1 channel, freecall notification only', () => {
    const summary = contractSummary(state, '2017-11-30')!;
    expect(summary).toMatchObject({ contractCode: CODE, selfId: CODE, startDate: '2010-11-15', channels: 1, numberCount: 2, dialInNumberCount: 1, connectionType: 'ダイヤルイン接続' });
    expect(summary.options.freecallNotification).toEqual({ subscribed: true, effectiveFrom: '2010-11-15', freecallNumbers: ['0120222333'] });
    for (const key of OPTION_KEYS.filter((k) => k !== 'freecallNotification')) expect(summary.options[key]).toEqual({ subscribed: false });
  });

  it('pages the dial-in lines with their basic number', () => {
    expect(numberDetailsOn(state, '2017-11-30')).toEqual([
      { basicNumber: '0120222333', dialInNumber: '0312345678', auMobileNumber: '09012345678', startDate: '2010-11-15' },
    ]);
  });

  it('has no summary for a contract never opened', () => {
    expect(contractSummary(initialState(), '2017-11-30')).toBeUndefined();
  });
});

describe('the INTERFACE sample command file', () => {
  const commands: ContractCommand[] = [
    open,
    { type: 'AddNumber', contractCode: CODE, dialInNumber: '0312345678', auMobileNumber: '09012345678', startDate: '2010-11-15' },
    { type: 'RemoveNumber', contractCode: CODE, dialInNumber: '0312345678', endDate: '2018-03-31' },
    { type: 'SubscribeOption', contractCode: CODE, option: 'representativeNumber', effectiveFrom: '2017-11-10', representativeNumber: '0312345678' },
    { type: 'SubscribeOption', contractCode: CODE, option: 'freecallNotification', effectiveFrom: '2010-11-15', freecallNumbers: ['0120222333'] },
    { type: 'CancelOption', contractCode: CODE, option: 'representativeNumber', effectiveFrom: '2018-01-01' },
    { type: 'ChangeChannels', contractCode: CODE, channels: 2, effectiveFrom: '2018-01-01' },
  ];

  it('applies line by line, in its (not date) order', () => {
    const state = after(...commands);
    expect(representativeIntervals(state)).toEqual([{ from: startOfJapanDate('2017-11-10'), to: startOfJapanDate('2018-01-01'), number: '0312345678' }]);
    expect(contractSummary(state, '2017-12-01')).toMatchObject({ numberCount: 2, dialInNumberCount: 1, channels: 1 });
    expect(contractSummary(state, '2018-04-01')).toMatchObject({ numberCount: 1, dialInNumberCount: 0, channels: 2 });
    expect(optionOn(state, 'representativeNumber', '2017-12-31')).toEqual({ subscribed: true, effectiveFrom: '2017-11-10', representativeNumber: '0312345678' });
  });
});

// ---- properties -------------------------------------------------------------------------------

const CODES = ['d000000001', 'd000000002'];
const NUMBERS = ['0312345678', '0312345679', '0120222333', '0612345678'];
const DATES = ['2010-01-01', '2010-06-15', '2011-03-01', '2012-12-31', '2013-01-01', '2014-07-07'];
const INVALID_DATES = ['2013-02-29', '2013-2-1', ''];
const CHECK_DATES = [...new Set([...DATES, ...DATES.map((d) => DateTime.fromISO(d).plus({ days: 1 }).toISODate()!), '2009-12-31'])].sort();

const arbCode = fc.oneof({ weight: 12, arbitrary: fc.constantFrom(...CODES) }, { weight: 1, arbitrary: fc.constantFrom('d12', 'x000000001') });
const arbNumber = fc.oneof({ weight: 12, arbitrary: fc.constantFrom(...NUMBERS) }, { weight: 1, arbitrary: fc.constantFrom('03-1234', '1') });
const arbDate = fc.oneof({ weight: 12, arbitrary: fc.constantFrom(...DATES) }, { weight: 1, arbitrary: fc.constantFrom(...INVALID_DATES) });
const arbOption = fc.oneof({ weight: 12, arbitrary: fc.constantFrom(...OPTION_KEYS) }, { weight: 1, arbitrary: fc.constant('warpDrive' as OptionKey) });

/** Mostly the parameters each option takes; now and then a wrong or missing one. */
function arbSubscribe(): fc.Arbitrary<ContractCommand> {
  const base = { type: fc.constant('SubscribeOption' as const), contractCode: arbCode, effectiveFrom: arbDate };
  return fc.oneof(
    { weight: 3, arbitrary: fc.record({ ...base, option: fc.constantFrom(...OPTION_KEYS.filter((k) => k !== 'representativeNumber' && k !== 'freecallNotification')) }) },
    { weight: 3, arbitrary: fc.record({ ...base, option: fc.constant('representativeNumber' as const), representativeNumber: arbNumber }) },
    { weight: 2, arbitrary: fc.record({ ...base, option: fc.constant('freecallNotification' as const), freecallNumbers: fc.array(arbNumber, { minLength: 1, maxLength: 2 }) }) },
    {
      weight: 1,
      arbitrary: fc.record(
        { ...base, option: arbOption, representativeNumber: arbNumber, freecallNumbers: fc.array(arbNumber, { maxLength: 2 }) },
        { requiredKeys: ['type', 'contractCode', 'option', 'effectiveFrom'] },
      ),
    },
  );
}

const arbCommand: fc.Arbitrary<ContractCommand> = fc.oneof(
  fc.record({
    type: fc.constant('OpenContract' as const),
    contractCode: arbCode,
    selfId: arbCode,
    startDate: arbDate,
    channels: fc.oneof(fc.integer({ min: 1, max: 4 }), fc.constantFrom(0, -2, 1.5)),
    connectionType: fc.constantFrom('ダイヤルイン接続', ''),
    primaryDns: fc.constantFrom('192.0.2.1', '300.1.1.1'),
    secondaryDns: fc.constant('192.0.2.2'),
    basicNumber: arbNumber,
  }),
  { weight: 4, arbitrary: fc.record({ type: fc.constant('AddNumber' as const), contractCode: arbCode, dialInNumber: arbNumber, auMobileNumber: fc.constantFrom('09012345678', 'x'), startDate: arbDate }) },
  { weight: 3, arbitrary: fc.record({ type: fc.constant('RemoveNumber' as const), contractCode: arbCode, dialInNumber: arbNumber, endDate: arbDate }) },
  { weight: 4, arbitrary: arbSubscribe() },
  { weight: 3, arbitrary: fc.record({ type: fc.constant('CancelOption' as const), contractCode: arbCode, option: arbOption, effectiveFrom: arbDate }) },
  fc.record({ type: fc.constant('ChangeChannels' as const), contractCode: arbCode, channels: fc.integer({ min: -1, max: 5 }), effectiveFrom: arbDate }),
  fc.record({ type: fc.constantFrom('ChangeSelfPassword' as const, 'ResetSelfPassword' as const), contractCode: arbCode, now: fc.constantFrom('2018-01-01T10:00:00+09:00', 'soon') }),
);

interface World {
  contracts: Map<string, ContractState>;
  numbers: Map<string, NumberState>;
}

/** One command through the same pure core the service uses; false when refused. */
function step(world: World, command: ContractCommand): boolean {
  const before = world.contracts.get(command.contractCode) ?? initialState();
  let plan;
  try {
    plan = planContractCommand(command, before, world.numbers);
  } catch (error) {
    if (error instanceof DomainError) return false;
    throw error;
  }
  world.contracts.set(command.contractCode, plan.contract.reduce(evolve, before));
  for (const { number, events } of plan.numbers) {
    world.numbers.set(number, events.reduce(evolveNumber, world.numbers.get(number) ?? initialNumberState()));
  }
  return true;
}

function checkInvariants(world: World): void {
  for (const number of NUMBERS) {
    for (const date of CHECK_DATES) {
      const holders = [...world.contracts.entries()].filter(([, s]) => holdsNumberOn(s, number, date)).map(([code]) => code);
      // At most one contract holds a number on any date...
      expect(holders.length, `${number} on ${date}`).toBeLessThanOrEqual(1);
      // ...and the reservation stream agrees with the contracts.
      expect(holderOn(world.numbers.get(number) ?? initialNumberState(), date), `${number} on ${date}`).toBe(holders[0]);
    }
  }
  for (const state of world.contracts.values()) {
    const intervals = representativeIntervals(state);
    intervals.forEach((interval, i) => {
      if (interval.to !== null) expect(interval.from).toBeLessThan(interval.to);
      const next = intervals[i + 1];
      if (next) {
        expect(interval.to).not.toBeNull();
        expect(interval.to!).toBeLessThanOrEqual(next.from);
      }
      expect(representativeNumberAt(state, interval.from)).toBe(interval.number);
    });
  }
}

/** What a command that was accepted must have changed, read back through the queries. */
function checkIntent(world: World, command: ContractCommand): void {
  const state = world.contracts.get(command.contractCode)!;
  expect(state.status).toBe('open');
  switch (command.type) {
    case 'OpenContract':
      expect(numbersHeldOn(state, command.startDate).map((h) => h.number)).toEqual([command.basicNumber]);
      expect(channelsOn(state, command.startDate)).toBe(command.channels);
      break;
    case 'AddNumber':
      expect(holdsNumberOn(state, command.dialInNumber, command.startDate)).toBe(true);
      break;
    case 'RemoveNumber':
      expect(numbersHeldOn(state, command.endDate).find((h) => h.number === command.dialInNumber)?.to).toBe(command.endDate);
      break;
    case 'SubscribeOption': {
      const status = optionOn(state, command.option, command.effectiveFrom);
      expect(status.subscribed).toBe(true);
      expect(status.representativeNumber).toBe(command.representativeNumber);
      expect(status.freecallNumbers).toEqual(command.freecallNumbers);
      break;
    }
    case 'CancelOption':
      expect(optionOn(state, command.option, command.effectiveFrom).subscribed).toBe(false);
      break;
    case 'ChangeChannels':
      expect(channelsOn(state, command.effectiveFrom)).toBe(command.channels);
      break;
    case 'ChangeSelfPassword':
    case 'ResetSelfPassword':
      break;
  }
}

const opening = (contractCode: string, basicNumber: string, startDate: string): OpenContract => ({ ...open, contractCode, selfId: contractCode, basicNumber, startDate });

describe('any sequence of contract commands, valid or not, across two contracts', () => {
  it('keeps every number held by at most one contract on any date, intervals apart, and only DomainErrors', () => {
    fc.assert(
      fc.property(fc.array(arbCommand, { minLength: 1, maxLength: 60, size: 'max' }), (commands) => {
        const world: World = { contracts: new Map(), numbers: new Map() };
        // Both contracts open most of the time, so that later commands mostly reach the rules.
        step(world, opening('d000000001', '0120222333', '2010-01-01'));
        step(world, opening('d000000002', '0612345678', '2010-06-15'));
        for (const command of commands) {
          if (step(world, command)) checkIntent(world, command);
          checkInvariants(world);
        }
      }),
      { numRuns: 100 },
    );
  });

  it('evolves to the same state however the events are replayed', () => {
    fc.assert(
      fc.property(fc.array(arbCommand, { maxLength: 30 }), (commands) => {
        const events: ContractEvent[] = [];
        let state = evolve(initialState(), decide(opening(CODES[0]!, '0120222333', '2010-01-01'), initialState())[0]!);
        events.push(...decide(opening(CODES[0]!, '0120222333', '2010-01-01'), initialState()));
        for (const command of commands.map((c) => ({ ...c, contractCode: CODES[0]! }))) {
          try {
            const decided = decide(command, state);
            events.push(...decided);
            state = decided.reduce(evolve, state);
          } catch (error) {
            if (!(error instanceof DomainError)) throw error;
          }
        }
        // A replay from the stream gives the state the decider built up step by step.
        expect(events.reduce(evolve, initialState())).toEqual(state);
      }),
      { numRuns: 150 },
    );
  });
});
