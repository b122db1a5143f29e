import { Decimal } from 'decimal.js';

// SPEC §3.5: every amount is exact yen. A Money never comes from or goes to a JS number.
const D = Decimal.clone({ precision: 40, rounding: Decimal.ROUND_DOWN });

const PLAIN_AMOUNT = /^(0|[1-9]\d{0,15})(\.\d{1,2})?$/;
/**
 * The most one charge may be (INTERFACE "Other engineer files"): 9,999,999.99 yen. Every amount
 * coming in through a file is held to it, so no sum the projections keep can be poisoned by one
 * mistyped line.
 */
const MAX_CHARGE_TEXT = '9999999.99';
const SIGNED_AMOUNT = /^-?(0|[1-9]\d{0,15})(\.\d{1,2})?$/;
/** A non-negative amount already in the form of toString() (as the projections' numeric columns give it back). */
const PLAIN_TWO_PLACES = /^(0|[1-9]\d{0,15})\.\d\d$/;

export class MoneyFormatError extends Error {
  readonly code: 'INVALID_AMOUNT' | 'CHARGE_TOO_LARGE' = 'INVALID_AMOUNT';
  constructor(readonly input: string, readonly expected: string) {
    super(`expected ${expected}, got ${JSON.stringify(input)}`);
  }
}

/** A charge above Money.maxCharge: refused at the door, whatever its form. */
export class ChargeTooLargeError extends MoneyFormatError {
  override readonly code = 'CHARGE_TOO_LARGE';
  constructor(input: string) {
    super(input, `a charge of at most ${MAX_CHARGE_TEXT} yen`);
  }
}

export class Money {
  // toString() once known: a Money never changes, and the portal prints every amount it reads
  // (decimal.js's toFixed for the 21 amounts of a call-details page: about 5% of its CPU, measured).
  #text: string | undefined;
  // The decimal once needed: an amount read from the database is often only printed (a
  // call-details page prints its 20 without adding any up), and its text is then enough.
  #value: Decimal | undefined;

  private constructor(value: Decimal | undefined, text?: string) {
    this.#value = value;
    this.#text = text;
  }

  private get value(): Decimal {
    return (this.#value ??= new D(this.#text!));
  }

  static readonly zero = new Money(new D(0));

  /** 9,999,999.99: the largest charge a file may bring in. */
  static readonly maxCharge = new Money(new D(MAX_CHARGE_TEXT), MAX_CHARGE_TEXT);

  /**
   * A charge coming in (a call, a correction, a telegram): non-negative, at most 2 decimals, no
   * exponent, no sign, and at most Money.maxCharge.
   */
  static parseCharge(text: string): Money {
    const charge = Money.parseTotal(text);
    if (charge.compare(Money.maxCharge) > 0) throw new ChargeTooLargeError(text);
    return charge;
  }

  /** A non-negative figure that may be a sum of charges (a carrier's per-number total): no bound. */
  static parseTotal(text: string): Money {
    if (!PLAIN_AMOUNT.test(text)) {
      throw new MoneyFormatError(text, 'a non-negative amount with at most 2 decimals, like 8.00');
    }
    return new Money(new D(text));
  }

  /**
   * A charge as an event stores it, read as written: events outlive the rules of the door, so one
   * stored before the bound existed is read (and projected) as it is, never refused.
   */
  static fromEvent(text: string): Money {
    return Money.parseTotal(text);
  }

  /** An amount that may be negative (differences, corrections of a total). */
  static parse(text: string): Money {
    if (!SIGNED_AMOUNT.test(text)) {
      throw new MoneyFormatError(text, 'an amount with at most 2 decimals, like -8.00 or 1928.50');
    }
    return new Money(new D(text));
  }

  /** Read back a `numeric` column (a string, since our pg and PGlite parsers never make numbers). */
  static fromDb(text: string | null | undefined): Money {
    if (text == null) return Money.zero;
    if (typeof text !== 'string') throw new TypeError(`numeric came back as ${typeof text}, not string`);
    if (PLAIN_TWO_PLACES.test(text)) return new Money(undefined, text);
    const v = new D(text);
    if (!v.isFinite() || v.decimalPlaces() > 2) throw new MoneyFormatError(text, 'a numeric with at most 2 decimals');
    return new Money(v);
  }

  static sum(items: Iterable<Money>): Money {
    let acc = new D(0);
    for (const m of items) acc = acc.plus(m.value);
    return new Money(acc);
  }

  plus(other: Money): Money {
    // Adding nothing (a category or a month without calls, most of a summary's figures) changes nothing.
    if (other === Money.zero) return this;
    if (this === Money.zero) return other;
    return new Money(this.value.plus(other.value));
  }

  minus(other: Money): Money {
    return new Money(this.value.minus(other.value));
  }

  isZero(): boolean {
    return this.value.isZero();
  }

  isNegative(): boolean {
    return this.value.isNegative() && !this.value.isZero();
  }

  equals(other: Money): boolean {
    return this.value.equals(other.value);
  }

  compare(other: Money): -1 | 0 | 1 {
    return this.value.comparedTo(other.value) as -1 | 0 | 1;
  }

  /** `1928.50` — the form of JSON, CSV and the database. */
  toString(): string {
    return (this.#text ??= this.value.toFixed(2));
  }

  toJSON(): string {
    return this.toString();
  }

  /** Whole yen, fractions below 1 yen cut off (1円未満切り捨て): 1928.50 → "1928". */
  toWholeYen(): string {
    const text = this.toString();
    // Non-negative: the digits before the point of the 2-place text are the cut-off (the summary
    // prints both forms of the same figures, so the text is usually known already).
    if (!text.startsWith('-')) return text.slice(0, text.indexOf('.'));
    return this.value.toDecimalPlaces(0, Decimal.ROUND_DOWN).toFixed(0);
  }

  /** `1,928.50` (the portal's per-number and per-call figures, before 円). */
  toDisplay(): string {
    return groupThousands(this.toString());
  }

  /** `1,928` (the monthly summary, before 円). */
  toDisplayWholeYen(): string {
    return groupThousands(this.toWholeYen());
  }
}

function groupThousands(text: string): string {
  const negative = text.startsWith('-');
  const body = negative ? text.slice(1) : text;
  const [whole = '0', fraction] = body.split('.');
  const grouped = whole.replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  return (negative ? '-' : '') + grouped + (fraction !== undefined ? `.${fraction}` : '');
}
