import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type { MonthClosed } from './events.ts';
import { DomainError } from './errors.ts';
import { carryingMonthOf, decideCloseMonth, evolveBilling, initialBillingState, type CloseMonth } from './billing.ts';

const CODE = 'd123456789';

function given(contractStart: string | undefined, ...events: MonthClosed[]) {
  const state = events.reduce(evolveBilling, initialBillingState(contractStart));
  return {
    when(command: Omit<CloseMonth, 'type' | 'contractCode'>) {
      const full: CloseMonth = { type: 'CloseMonth', contractCode: CODE, ...command };
      return {
        then: (expected: MonthClosed[]) => expect(decideCloseMonth(full, state)).toEqual(expected),
        thenFailsWith(code: string) {
          try {
            decideCloseMonth(full, state);
          } catch (e) {
            expect(e).toBeInstanceOf(DomainError);
            expect((e as DomainError).code).toBe(code);
            return;
          }
          throw new Error(`expected ${code}`);
        },
      };
    },
  };
}

const closed = (month: string, closedAt = '2017-12-05T10:00:00+09:00'): MonthClosed => ({ type: 'MonthClosed', data: { contractCode: CODE, month, closedAt } });

describe('closing a billing month', () => {
  it('closes a month that has ended in Japan time', () => {
    given('2010-11-15').when({ month: '2017-11', now: '2017-12-01T00:00:00.0+09:00' }).then([closed('2017-11', '2017-12-01T00:00:00.0+09:00')]);
  });

  it('is refused while the month has not ended in Japan time, even when it has in UTC terms of another zone', () => {
    // 2017-11-30 23:59:59.9 in Tokyo is 14:59 UTC: November is still running.
    given('2010-11-15').when({ month: '2017-11', now: '2017-11-30T23:59:59.9+09:00' }).thenFailsWith('MONTH_NOT_ENDED');
    given('2010-11-15').when({ month: '2017-11', now: '2017-11-30T14:59:59.9Z' }).thenFailsWith('MONTH_NOT_ENDED');
    given('2010-11-15').when({ month: '2017-11', now: '2017-11-30T15:00:00Z' }).then([closed('2017-11', '2017-11-30T15:00:00Z')]);
  });

  it('closing a closed month decides nothing (idempotent)', () => {
    given('2010-11-15', closed('2017-11')).when({ month: '2017-11', now: '2018-01-01T00:00:00+09:00' }).then([]);
  });

  it('is refused for an unknown contract, a malformed month or clock, and a month before the contract began', () => {
    given(undefined).when({ month: '2017-11', now: '2018-01-01T00:00:00+09:00' }).thenFailsWith('CONTRACT_NOT_FOUND');
    given('2010-11-15').when({ month: '2017-13', now: '2018-01-01T00:00:00+09:00' }).thenFailsWith('INVALID_MONTH');
    given('2010-11-15').when({ month: '2017-11', now: 'yesterday' }).thenFailsWith('INVALID_TIMESTAMP');
    given('2010-11-15').when({ month: '2010-10', now: '2018-01-01T00:00:00+09:00' }).thenFailsWith('MONTH_BEFORE_CONTRACT_START');
    given('2010-11-15').when({ month: '2010-11', now: '2018-01-01T00:00:00+09:00' }).then([closed('2010-11', '2018-01-01T00:00:00+09:00')]);
  });
});

describe('the month that carries a late event', () => {
  const closes = new Map([
    ['2017-10', 10n],
    ['2017-11', 20n],
    ['2017-12', 30n],
  ]);
  it('is the event’s own month while it is open then', () => {
    expect(carryingMonthOf('2017-11', 19n, closes)).toBe('2017-11');
    expect(carryingMonthOf('2018-01', 99n, closes)).toBe('2018-01');
  });
  it('is the first later month not closed before the event', () => {
    expect(carryingMonthOf('2017-10', 15n, closes)).toBe('2017-11');
    expect(carryingMonthOf('2017-10', 25n, closes)).toBe('2017-12');
    expect(carryingMonthOf('2017-10', 35n, closes)).toBe('2018-01');
    expect(carryingMonthOf('2017-11', 25n, closes)).toBe('2017-12');
  });
  it('is never a month closed before the event, and never earlier than the event’s month', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.integer({ min: 0, max: 23 }), fc.bigInt({ min: 1n, max: 100n })), { maxLength: 12 }), fc.integer({ min: 0, max: 23 }), fc.bigInt({ min: 1n, max: 100n }), (list, m, at) => {
        const month = (i: number) => `2017-${String((i % 12) + 1).padStart(2, '0')}`.replace(/^2017/, i >= 12 ? '2018' : '2017');
        const map = new Map(list.map(([i, p]) => [month(i), p]));
        const carried = carryingMonthOf(month(m), at, map);
        expect(carried >= month(m)).toBe(true);
        const c = map.get(carried);
        expect(c === undefined || c > at).toBe(true);
      }),
    );
  });
});
