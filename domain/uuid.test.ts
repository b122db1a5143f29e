import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { v5 } from 'uuid';
import { uuidv5 } from './uuid.ts';
import { CALL_ID_NAMESPACE } from './call.ts';

describe('uuidv5', () => {
  it('gives the same ids as the uuid package for any name', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), (name) => {
        expect(uuidv5(name, CALL_ID_NAMESPACE)).toBe(v5(name, CALL_ID_NAMESPACE));
      }),
      { numRuns: 500 },
    );
    expect(uuidv5('ご利用電話番号', v5.URL)).toBe(v5('ご利用電話番号', v5.URL));
  });
});
