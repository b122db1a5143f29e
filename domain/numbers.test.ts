import { describe, expect, it } from 'vitest';
import type { NumberEvent } from './events.ts';
import { DomainError } from './errors.ts';
import type { AssignNumber, ReleaseNumber } from './numbers.ts';
import { decideAssign, decideRelease, evolveNumber, holderOn, initialNumberState, reservationOn } from './numbers.ts';

const N = '0312345678';
const A = 'd000000001';
const B = 'd000000002';

const assigned = (contractCode: string, from: string, kind: 'basic' | 'dialIn' = 'dialIn'): NumberEvent => ({
  type: 'NumberAssigned',
  data: { number: N, contractCode, kind, from },
});
const released = (contractCode: string, endDate: string): NumberEvent => ({
  type: 'NumberReleased',
  data: { number: N, contractCode, endDate },
});

function given(...events: NumberEvent[]) {
  const state = events.reduce(evolveNumber, initialNumberState());
  const expectCode = (run: () => unknown, code: string) => {
    let caught: unknown;
    try {
      run();
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(DomainError);
    expect((caught as DomainError).code).toBe(code);
  };
  return {
    state,
    whenAssigned: (command: Omit<AssignNumber, 'number'>) => ({
      then: (expected: NumberEvent[]) => expect(decideAssign(state, { number: N, ...command })).toEqual(expected),
      thenFailsWith: (code: string) => expectCode(() => decideAssign(state, { number: N, ...command }), code),
    }),
    whenReleased: (command: Omit<ReleaseNumber, 'number'>) => ({
      then: (expected: NumberEvent[]) => expect(decideRelease(state, { number: N, ...command })).toEqual(expected),
      thenFailsWith: (code: string) => expectCode(() => decideRelease(state, { number: N, ...command }), code),
    }),
  };
}

describe('a number nobody holds', () => {
  it('can be assigned to a contract from a date', () => {
    given().whenAssigned({ contractCode: A, kind: 'dialIn', from: '2011-01-01' }).then([assigned(A, '2011-01-01')]);
  });

  it('has no holder', () => {
    expect(holderOn(given().state, '2011-01-01')).toBeUndefined();
  });

  it('cannot be released', () => {
    given().whenReleased({ contractCode: A, endDate: '2011-01-01' }).thenFailsWith('NUMBER_NOT_ON_CONTRACT');
  });

  it('refuses malformed input', () => {
    given().whenAssigned({ contractCode: 'A', kind: 'dialIn', from: '2011-01-01' }).thenFailsWith('INVALID_CONTRACT_CODE');
    given().whenAssigned({ contractCode: A, kind: 'dialIn', from: '2011-02-30' }).thenFailsWith('INVALID_DATE');
    expect(() => decideAssign(initialNumberState(), { number: '03-1234-5678', contractCode: A, kind: 'dialIn', from: '2011-01-01' })).toThrow(DomainError);
  });
});

describe('a number held by one contract', () => {
  const held = given(assigned(A, '2011-01-01'));

  it('answers its holder from the start date on', () => {
    expect(holderOn(held.state, '2010-12-31')).toBeUndefined();
    expect(holderOn(held.state, '2011-01-01')).toBe(A);
    expect(holderOn(held.state, '2030-01-01')).toBe(A);
  });

  it('cannot be assigned to another contract, before or after', () => {
    held.whenAssigned({ contractCode: B, kind: 'dialIn', from: '2012-01-01' }).thenFailsWith('NUMBER_ALREADY_HELD');
    held.whenAssigned({ contractCode: B, kind: 'basic', from: '2010-01-01' }).thenFailsWith('NUMBER_ALREADY_HELD');
  });

  it('cannot be assigned twice to the same contract', () => {
    held.whenAssigned({ contractCode: A, kind: 'dialIn', from: '2012-01-01' }).thenFailsWith('NUMBER_ALREADY_HELD');
  });

  it('is released by its holder only, on a date it holds it', () => {
    held.whenReleased({ contractCode: A, endDate: '2018-03-31' }).then([released(A, '2018-03-31')]);
    held.whenReleased({ contractCode: B, endDate: '2018-03-31' }).thenFailsWith('NUMBER_NOT_ON_CONTRACT');
    held.whenReleased({ contractCode: A, endDate: '2010-12-31' }).thenFailsWith('NUMBER_NOT_ON_CONTRACT');
  });
});

describe('a number released and taken by another contract', () => {
  const history = given(assigned(A, '2011-01-01'), released(A, '2018-03-31'), assigned(B, '2018-04-01'));

  it('has one holder on every date, the end date inclusive', () => {
    expect(holderOn(history.state, '2018-03-31')).toBe(A);
    expect(holderOn(history.state, '2018-04-01')).toBe(B);
    expect(reservationOn(history.state, '2018-04-01')).toEqual({ contractCode: B, kind: 'dialIn', from: '2018-04-01', to: null });
  });

  it('cannot be assigned to overlap the earlier holding', () => {
    given(assigned(A, '2011-01-01'), released(A, '2018-03-31'))
      .whenAssigned({ contractCode: B, kind: 'dialIn', from: '2018-03-31' })
      .thenFailsWith('NUMBER_ALREADY_HELD');
  });

  it('can have its first holding ended earlier (a correction)', () => {
    history.whenReleased({ contractCode: A, endDate: '2017-12-31' }).then([released(A, '2017-12-31')]);
    const corrected = evolveNumber(history.state, released(A, '2017-12-31'));
    expect(holderOn(corrected, '2018-01-01')).toBeUndefined();
  });
});
