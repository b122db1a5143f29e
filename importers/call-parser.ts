// parseCallRow at import speed. The domain's parser answers calendar questions through luxon's
// Asia/Tokyo zone, about 60 µs a row — a million-row file would spend a minute on it per pass.
// A carrier file holds few distinct dates, call types and end days, so this parser asks those
// questions once per distinct value and answers every row from the cache. Any row that is not
// plainly valid goes to parseCallRow itself, so problems and their messages stay the domain's.
// test/import.call-parser.test.ts checks both give identical results on generated and hostile rows.
import { CALL_COLUMNS, DEFAULT_CALL_RULES, callIdOf, parseCallRow, type CallRow, type CallRules, type ParsedCall } from '../domain/call.ts';
import { categorize, isFreeCall } from '../domain/categories.ts';
import type { Category, ExtensionType } from '../domain/events.ts';
import { Money, MoneyFormatError } from '../domain/money.ts';
import { freeTextProblem, isTelephoneNumber } from '../domain/text.ts';
import { isJapanDate, monthOf, parseHhmmssS, startOfJapanDate, type JapanDate, type Month, type Tenths } from '../domain/time.ts';

export type CallRowResult = ReturnType<typeof parseCallRow>;

const NUMBER = /^\d{1,13}$/;
const SLASH_DATE = /^(\d{4})\/(\d{2})\/(\d{2})$/;
const COUNT = /^([1-9]\d{0,5})件$/;
const DAY: Tenths = 24 * 60 * 60 * 10;
// Japan has kept UTC+9 without daylight saving time since 1952: from then on a Japan day is
// exactly DAY long, which is what lets an end instant be placed by its day's start.
const FIXED_OFFSET_FROM = '1952-01-01';

interface KnownDate {
  readonly iso: JapanDate;
  readonly start: Tenths;
}

export function createCallRowParser(rules: CallRules = DEFAULT_CALL_RULES): (row: CallRow) => CallRowResult {
  const dates = new Map<string, KnownDate | null>();
  const months = new Map<Tenths, Month>();
  const categories = new Map<string, Category | undefined>();
  const free = new Map<string, boolean>();
  const charges = new Map<string, Money>();
  const maxLengths = CALL_COLUMNS.map((c) => [c.field, c.max] as const);

  const dateOf = (text: string): KnownDate | null => {
    let known = dates.get(text);
    if (known === undefined) {
      const d = SLASH_DATE.exec(text);
      const iso = d ? `${d[1]}-${d[2]}-${d[3]}` : '';
      known = d && iso >= FIXED_OFFSET_FROM && isJapanDate(iso) ? { iso, start: startOfJapanDate(iso) } : null;
      if (dates.size > 100_000) dates.clear();
      dates.set(text, known);
    }
    return known;
  };
  const monthOfDay = (dayStart: Tenths): Month => {
    let m = months.get(dayStart);
    if (m === undefined) {
      m = monthOf(dayStart);
      if (months.size > 100_000) months.clear();
      months.set(dayStart, m);
    }
    return m;
  };
  const categoryOf = (callType: string): Category | undefined => {
    if (categories.has(callType)) return categories.get(callType);
    const c = categorize(callType, rules.categories);
    if (categories.size > 10_000) categories.clear();
    categories.set(callType, c);
    return c;
  };
  const isFree = (extensionType: string, callType: string): boolean => {
    const key = `${extensionType}\u001f${callType}`;
    let f = free.get(key);
    if (f === undefined) {
      f = isFreeCall(extensionType, callType, rules.freeCalls);
      if (free.size > 10_000) free.clear();
      free.set(key, f);
    }
    return f;
  };

  // Areas and call types repeat: each distinct one is checked once (domain/text.ts).
  const fitTexts = new Set<string>();
  const plainText = (text: string): boolean => {
    if (fitTexts.has(text)) return true;
    if (freeTextProblem(text) !== undefined) return false;
    if (fitTexts.size > 10_000) fitTexts.clear();
    fitTexts.add(text);
    return true;
  };

  return (row) => {
    const slow = () => parseCallRow(row, rules);
    // UTF-16 length ≥ code points: within the limit here means within it for parseCallRow too.
    for (const [field, max] of maxLengths) if (row[field].length > max) return slow();
    if (!NUMBER.test(row.usingNumber)) return slow();
    const date = dateOf(row.startDate);
    if (!date) return slow();
    const timeOfDay = parseHhmmssS(row.startTime, 23);
    if (timeOfDay === undefined || !isTelephoneNumber(row.destination) || !plainText(row.area)) return slow();
    let duration: string | null = null;
    let count: number | null = null;
    let durationTenths = 0;
    const countMatch = COUNT.exec(row.duration);
    if (countMatch) count = Number.parseInt(countMatch[1]!, 10);
    else {
      const t = parseHhmmssS(row.duration);
      if (t === undefined) return slow();
      duration = row.duration;
      durationTenths = t;
    }
    if (row.extensionType !== '外線' && row.extensionType !== '内線') return slow();
    const category = row.callType && plainText(row.callType) ? categoryOf(row.callType) : undefined;
    if (!category) return slow();
    // Money is immutable: a file's few distinct charges are parsed once each.
    let charge = charges.get(row.charge);
    if (charge === undefined) {
      try {
        charge = Money.parseCharge(row.charge);
      } catch (e) {
        if (e instanceof MoneyFormatError) return slow();
        throw e;
      }
      if (charges.size > 10_000) charges.clear();
      charges.set(row.charge, charge);
    }
    const startedAt = date.start + timeOfDay;
    const endedAt = startedAt + durationTenths;
    const endDayStart = date.start + Math.floor((endedAt - date.start) / DAY) * DAY;
    const extensionType = row.extensionType as ExtensionType;
    const call: ParsedCall = {
      callId: callIdOf({ usingNumber: row.usingNumber, startDate: date.iso, startTime: row.startTime, destination: row.destination, duration, count, callType: row.callType }),
      usingNumber: row.usingNumber,
      startDate: date.iso,
      startTime: row.startTime,
      destination: row.destination,
      area: row.area,
      duration,
      count,
      extensionType,
      callType: row.callType,
      category,
      free: isFree(extensionType, row.callType),
      charge,
      startedAt,
      endedAt,
      billingMonth: monthOfDay(endDayStart),
    };
    return { ok: true, call };
  };
}
