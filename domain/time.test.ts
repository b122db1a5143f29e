import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { addMonths, formatHhmmssS, instantOf, isExportBlackoutDay, isJapanDate, isoOfJapanDateTime, japanDateOf, monthOf, parseHhmmssS, periodOf, startOfJapanDate, toIsoJapan } from './time.ts';

describe('Japan time', () => {
  it('keeps tenths of a second exact', () => {
    expect(parseHhmmssS('201221.5')).toBe(((20 * 60 + 12) * 60 + 21) * 10 + 5);
    expect(formatHhmmssS(parseHhmmssS('000106.0')!)).toBe('000106.0');
    expect(formatHhmmssS(parseHhmmssS('235959.9')!)).toBe('235959.9');
  });

  it('refuses times out of range', () => {
    expect(parseHhmmssS('240000.0', 23)).toBeUndefined();
    expect(parseHhmmssS('126000.0')).toBeUndefined();
    expect(parseHhmmssS('120060.0')).toBeUndefined();
    expect(parseHhmmssS('1200.0')).toBeUndefined();
    expect(parseHhmmssS('120000')).toBeUndefined();
  });

  it('knows which dates exist', () => {
    expect(isJapanDate('2017-11-30')).toBe(true);
    expect(isJapanDate('2017-11-31')).toBe(false);
    expect(isJapanDate('2016-02-29')).toBe(true);
    expect(isJapanDate('2017-02-29')).toBe(false);
  });

  it('places an instant in its Japan month, not its UTC month', () => {
    // 2017-12-01 00:30 in Tokyo is still November in UTC
    expect(monthOf(instantOf('2017-12-01', '003000.0'))).toBe('2017-12');
    expect(monthOf(instantOf('2017-11-30', '235959.9'))).toBe('2017-11');
    expect(toIsoJapan(instantOf('2017-11-01', '201221.5'))).toBe('2017-11-01T20:12:21.500+09:00');
  });

  it('gives the period of a month and moves by months', () => {
    expect(periodOf('2017-11')).toEqual({ from: '2017-11-01', to: '2017-11-30' });
    expect(periodOf('2016-02')).toEqual({ from: '2016-02-01', to: '2016-02-29' });
    expect(addMonths('2017-01', -1)).toBe('2016-12');
  });

  it('blocks exports on the 1st and the last day of a Japan month', () => {
    expect(isExportBlackoutDay(new Date('2017-11-30T15:00:00Z'))).toBe(true); // 12-01 00:00 JST
    expect(isExportBlackoutDay(new Date('2017-11-30T14:59:59Z'))).toBe(true); // 11-30 JST, last day
    expect(isExportBlackoutDay(new Date('2017-11-29T14:59:59Z'))).toBe(false); // 11-29 JST
    expect(isExportBlackoutDay(new Date('2017-11-15T03:00:00Z'))).toBe(false);
  });
});

describe('month arithmetic', () => {
  it('moves across years both ways and agrees with the calendar', () => {
    expect(addMonths('2017-11', 2)).toBe('2018-01');
    expect(addMonths('2018-01', -13)).toBe('2016-12');
    expect(addMonths('2017-11', 0)).toBe('2017-11');
    for (let n = -30; n <= 30; n++) {
      const d = new Date(Date.UTC(2017, 10 + n, 1));
      expect(addMonths('2017-11', n)).toBe(`${d.getUTCFullYear()}-${String(d.getUTCMonth() + 1).padStart(2, '0')}`);
    }
  });
});

describe('the ISO form of a call start', () => {
  it('is the same text luxon gives for the instant', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 40 * 365 }), fc.integer({ min: 0, max: 863_999 }), (day, tenthOfDay) => {
        const date = japanDateOf(startOfJapanDate('1990-01-01') + day * 864_000);
        const time = formatHhmmssS(tenthOfDay);
        expect(isoOfJapanDateTime(date, time)).toBe(toIsoJapan(instantOf(date, time)));
      }),
    );
  });
});
