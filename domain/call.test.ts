import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { callIdOf, callRecordedData, callRecordedText, parseCallRow, type CallRow } from './call.ts';
import { categorize } from './categories.ts';
import { canonicalJson } from './canonical-json.ts';
import { hashOfCanonical } from '../eventstore/canonical.ts';

const row = (over: Partial<CallRow> = {}): CallRow => ({
  usingNumber: '0312345678',
  startDate: '2017/11/01',
  startTime: '201221.5',
  destination: '03-1234-5678',
  area: '東京',
  duration: '000106.0',
  extensionType: '外線',
  callType: '国内呼',
  charge: '8.00',
  ...over,
});

function ok(r: CallRow) {
  const result = parseCallRow(r);
  if (!result.ok) throw new Error(JSON.stringify(result.problems));
  return result.call;
}

function problems(r: CallRow) {
  const result = parseCallRow(r);
  if (result.ok) throw new Error('expected problems');
  return result.problems;
}

describe('a call record', () => {
  it('is placed in a category by its call type (SPEC §3.1)', () => {
    expect(categorize('国内呼')).toBe('domestic');
    expect(categorize('IP間呼')).toBe('domestic');
    expect(categorize('番号案内')).toBe('domestic');
    expect(categorize('国際呼')).toBe('international');
    expect(categorize('携帯呼(au 定額)')).toBe('au');
    expect(categorize('携帯呼(au)')).toBe('au');
    expect(categorize('携帯呼')).toBe('otherMobile');
    expect(categorize('PHS呼')).toBe('otherMobile');
    expect(categorize('衛星呼')).toBeUndefined();
  });

  it('with a call type the table cannot place is an error, not a guess', () => {
    expect(problems(row({ callType: '衛星呼' }))).toEqual([{ field: '呼種別', message: expect.stringContaining('places no call type') }]);
  });

  describe('ending after midnight on the 30th of November', () => {
    it('is billed in December', () => {
      expect(ok(row({ startDate: '2017/11/30', startTime: '235930.0', duration: '000100.0' })).billingMonth).toBe('2017-12');
    });
  });

  describe('ending exactly at 00:00:00.0 on the 1st', () => {
    it('belongs to the new month', () => {
      expect(ok(row({ startDate: '2017/11/30', startTime: '235950.0', duration: '000010.0' })).billingMonth).toBe('2017-12');
    });
    it('a tenth earlier belongs to the old month', () => {
      expect(ok(row({ startDate: '2017/11/30', startTime: '235950.0', duration: '000009.9' })).billingMonth).toBe('2017-11');
    });
  });

  describe('of directory assistance (番号案内)', () => {
    it('has a count instead of a duration and ends at its start', () => {
      const c = ok(row({ startDate: '2017/11/30', startTime: '235959.9', duration: '1件', callType: '番号案内' }));
      expect(c.count).toBe(1);
      expect(c.duration).toBeNull();
      expect(c.billingMonth).toBe('2017-11');
    });
  });

  it('is free on the bill when it is an extension call or a flat-rate type (SPEC §3.4)', () => {
    expect(ok(row({ extensionType: '内線' })).free).toBe(true);
    expect(ok(row({ callType: '携帯呼(au 定額)' })).free).toBe(true);
    expect(ok(row()).free).toBe(false);
  });

  it('has the same id when delivered again, and another id when its identity differs', () => {
    expect(ok(row()).callId).toBe(ok(row({ charge: '9.00', area: '大阪' })).callId);
    expect(ok(row()).callId).not.toBe(ok(row({ startTime: '201221.6' })).callId);
    expect(ok(row()).callId).toBe(callIdOf({ usingNumber: '0312345678', startDate: '2017-11-01', startTime: '201221.5', destination: '03-1234-5678', duration: '000106.0', count: null, callType: '国内呼' }));
  });

  it.each([
    [{ usingNumber: '03-1234-5678' }, 'ご利用電話番号'],
    [{ startDate: '2017/11/31' }, '通話開始日時'],
    [{ startDate: '2017-11-01' }, '通話開始日時'],
    [{ startTime: '245959.0' }, '通話開始時刻'],
    [{ destination: '0'.repeat(22) }, '着信電話番号'],
    [{ duration: '1:06' }, '通話時間'],
    [{ duration: '0件' }, '通話時間'],
    [{ extensionType: '不明' }, '内線区分'],
    [{ charge: '-8.00' }, '通話料'],
    [{ charge: '8.001' }, '通話料'],
    [{ charge: '8e0' }, '通話料'],
  ] as const)('refuses %j naming the field %s', (over, field) => {
    expect(problems(row(over)).map((p) => p.field)).toContain(field);
  });
});

describe('the encoded CallRecorded event', () => {
  it('is the canonical JSON of its data, for any field content an import accepts (quotes, backslashes, U+2028, astral characters, 番号案内 counts)', () => {
    // Control characters are refused at import (domain/text.ts): what remains to escape is this.
    const text = fc.string({ unit: fc.constantFrom('"', '\\', 'a', '東', '/', ' ', '\u2028', '\u{1F600}', '0', '-'), maxLength: 8 });
    const telephone = fc.stringMatching(/^\+?\d[\d-]{0,18}$/);
    let compared = 0;
    fc.assert(
      fc.property(telephone, text, fc.constantFrom('000106.0', '1件', '12件'), fc.constantFrom('外線', '内線'), fc.constantFrom('国内呼', '携帯呼(au 定額)', '番号案内'), fc.constantFrom('8.00', '0', '15.5', '123456.78'), text, (destination, area, duration, ext, callType, charge, contract) => {
          const parsed = parseCallRow(row({ destination, area: area.slice(0, 10), duration, extensionType: ext, callType, charge }));
          if (!parsed.ok) return;
          compared++;
          expect(callRecordedText(parsed.call, contract)).toBe(canonicalJson(callRecordedData(parsed.call, contract)));
        },
      ),
      { numRuns: 1000 },
    );
    expect(compared).toBeGreaterThan(500);
  });

  it('is hashed as SHA-256 over stream, type and canonical data, as stored hashes always were', () => {
    const data = canonicalJson(callRecordedData(ok(row()), 'c123456789'));
    const chained = createHash('sha256').update('calls-c123456789-2017-11').update('\n').update('CallRecorded').update('\n').update(data).digest('base64');
    expect(hashOfCanonical('calls-c123456789-2017-11', 'CallRecorded', data)).toBe(chained);
  });
});
