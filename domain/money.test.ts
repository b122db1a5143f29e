import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Decimal } from 'decimal.js';
import { ChargeTooLargeError, Money, MoneyFormatError } from './money.ts';

describe('Money', () => {
  it('parses a carrier charge and keeps it exact to the sen', () => {
    expect(Money.parseCharge('8.00').toString()).toBe('8.00');
    expect(Money.parseCharge('1928.5').toString()).toBe('1928.50');
    expect(Money.parseCharge('0').toString()).toBe('0.00');
  });

  it.each(['1e3', '-1.00', '+1.00', '1.005', 'NaN', 'Infinity', '', ' 8.00', '08.00', '1,000', '.5', '0x10'])('refuses %j as a charge', (text) => {
    expect(() => Money.parseCharge(text)).toThrow(MoneyFormatError);
  });

  it('bounds a charge at 9,999,999.99 yen, and names the bound when refusing', () => {
    expect(Money.parseCharge('9999999.99').toString()).toBe('9999999.99');
    for (const text of ['10000000', '10000000.01', '1000000000000.00', '9999999999999999']) {
      expect(() => Money.parseCharge(text)).toThrow(MoneyFormatError);
    }
    const e = (() => {
      try {
        Money.parseCharge('10000000.00');
      } catch (x) {
        return x as ChargeTooLargeError;
      }
    })();
    expect(e).toBeInstanceOf(ChargeTooLargeError);
    expect(e?.code).toBe('CHARGE_TOO_LARGE');
    expect(e?.message).toBe('expected a charge of at most 9999999.99 yen, got "10000000.00"');
  });

  it('reads a stored charge as written, whatever the bound (events outlive the door)', () => {
    expect(Money.fromEvent('1000000000000.00').toString()).toBe('1000000000000.00');
    expect(Money.parseTotal('123456789012.50').toString()).toBe('123456789012.50');
    expect(() => Money.fromEvent('5 yen')).toThrow(MoneyFormatError);
  });

  it('adds without binary floating point error', () => {
    const tenths = Array.from({ length: 10 }, () => Money.parseCharge('0.10'));
    expect(Money.sum(tenths).toString()).toBe('1.00');
    expect(Money.parseCharge('0.10').plus(Money.parseCharge('0.20')).toString()).toBe('0.30');
  });

  it('cuts whole yen off below 1 yen (1円未満切り捨て) and formats for display', () => {
    const m = Money.parseCharge('1928.50');
    expect(m.toWholeYen()).toBe('1928');
    expect(m.toDisplay()).toBe('1,928.50');
    expect(m.toDisplayWholeYen()).toBe('1,928');
    expect(Money.parseCharge('1872.99').toWholeYen()).toBe('1872');
    expect(Money.parse('-0.50').toWholeYen()).toBe('0');
    // A month carried into by a late void can total below zero: the cut is toward zero, so each
    // figure's yen is the same size as the positive one's, and never "-0".
    expect(Money.parse('-56.50').toWholeYen()).toBe('-56');
    expect(Money.parse('-1928.50').toDisplayWholeYen()).toBe('-1,928');
    expect(Money.parse('-1928.50').toDisplay()).toBe('-1,928.50');
    expect(Money.parse('-0.01').toDisplayWholeYen()).toBe('0');
    expect(JSON.stringify({ a: Money.parseCharge('56') })).toBe('{"a":"56.00"}');
  });

  it('refuses a numeric that comes back from the database as a number', () => {
    expect(() => Money.fromDb(8 as unknown as string)).toThrow(TypeError);
    expect(Money.fromDb('1872.50').toString()).toBe('1872.50');
    expect(Money.fromDb(null).isZero()).toBe(true);
  });

  it('prints a database numeric as decimal.js does, whether or not it was already in that form (property)', () => {
    const D = Decimal.clone({ precision: 40 });
    const sen = fc.bigInt({ min: -(10n ** 16n) + 1n, max: 10n ** 16n - 1n });
    const places = fc.constantFrom(0, 1, 2);
    fc.assert(
      fc.property(sen, places, fc.boolean(), (s, p, padded) => {
        const abs = s < 0n ? -s : s;
        const whole = `${abs / 100n}`;
        const fraction = String(abs % 100n).padStart(2, '0');
        let text = `${s < 0n ? '-' : ''}${whole}${p === 0 ? '' : `.${p === 1 ? fraction[0] : fraction}`}`;
        if (padded) text = text.replace(/^(-?)/, '$100');
        const expected = new D(text).toFixed(2);
        const m = Money.fromDb(text);
        expect(m.toString()).toBe(expected);
        expect(m.toString()).toBe(expected);
        expect(m.plus(Money.zero).toString()).toBe(expected);
        expect(JSON.stringify(m)).toBe(JSON.stringify(expected));
      }),
    );
    expect(Money.fromDb('-0.00').toString()).toBe(new D('-0.00').toFixed(2));
    expect(Money.fromDb('007.50').toString()).toBe('7.50');
  });

  it('sums any list of sen exactly (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 10_000_000 }), { maxLength: 200 }), (sens) => {
        const asText = (s: number) => `${Math.floor(s / 100)}.${String(s % 100).padStart(2, '0')}`;
        const total = Money.sum(sens.map((s) => Money.parseCharge(asText(s))));
        const expected = sens.reduce((a, b) => a + BigInt(b), 0n);
        expect(total.toString()).toBe(`${expected / 100n}.${String(expected % 100n).padStart(2, '0')}`);
      }),
    );
  });
});
