// LEDGER_CONTRACT_REQUESTS_PER_SECOND: a whole number of at least 1, or the start is refused with
// the variable named (a tired operator's typo must not silently lift or zero the bound).
import { describe, expect, it } from 'vitest';
import { configFromEnv } from '../cli/config.ts';

describe('the contract request rate setting', () => {
  it('takes a whole number of requests a second', () => {
    expect(configFromEnv({ LEDGER_CONTRACT_REQUESTS_PER_SECOND: '20' }).contractRequestsPerSecond).toBe(20);
    expect(configFromEnv({}).contractRequestsPerSecond).toBeUndefined();
  });

  it.each(['0', '-5', '2.5', '1e3', 'fifty', ' 50', '50\u0000', '５０'])('refuses %j, naming the variable', (value) => {
    expect(() => configFromEnv({ LEDGER_CONTRACT_REQUESTS_PER_SECOND: value })).toThrow(/LEDGER_CONTRACT_REQUESTS_PER_SECOND/);
  });
});
