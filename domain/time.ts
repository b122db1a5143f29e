import { DateTime, FixedOffsetZone } from 'luxon';

// Asia/Tokyo has been UTC+9 without daylight saving time since 1952. luxon's IANA zone asks Intl
// for the offset of every instant (measured: most of a portal request's CPU), so we use luxon's
// fixed +09:00 zone, which gives the same answers for every date since then; calendar questions
// (which month, which weekday, does the date exist) are still answered by luxon.
export const ZONE = FixedOffsetZone.instance(9 * 60);

/**
 * An instant kept as whole tenths of a second since the Unix epoch: call times are `hhmmss.s`, and
 * tenths stay exact as an integer (≈1.8e13 today, far below 2^53).
 */
export type Tenths = number;

/** `YYYY-MM-DD`, a Japan calendar date. */
export type JapanDate = string;
/** `YYYY-MM`, a billing month. */
export type Month = string;

const ISO_DATE = /^(\d{4})-(\d{2})-(\d{2})$/;
const MONTH = /^(\d{4})-(0[1-9]|1[0-2])$/;
const HHMMSS_S = /^(\d{2})(\d{2})(\d{2})\.(\d)$/;

export function isJapanDate(text: string): boolean {
  const m = ISO_DATE.exec(text);
  if (!m) return false;
  return DateTime.fromObject({ year: +m[1]!, month: +m[2]!, day: +m[3]! }, { zone: ZONE }).isValid;
}

export function isMonth(text: string): boolean {
  return MONTH.test(text);
}

/** 00:00 Asia/Tokyo of a Japan date, as tenths. */
export function startOfJapanDate(date: JapanDate): Tenths {
  const dt = DateTime.fromISO(date, { zone: ZONE });
  if (!dt.isValid || !ISO_DATE.test(date)) throw new RangeError(`not a date: ${date}`);
  return dt.toMillis() / 100;
}

// luxon per call costs more than the rest of a call's projection or fold; the dates repeat.
const dayStarts = new Map<string, Tenths>();

/**
 * A call's start instant from its Japan date (YYYY-MM-DD or YYYY/MM/DD) and `hhmmss.s`, as
 * instantOf gives it, with the day's start remembered (a month of calls has 31 dates).
 */
export function startInstantOf(date: JapanDate, time: string): Tenths {
  let day = dayStarts.get(date);
  if (day === undefined) {
    if (dayStarts.size > 50_000) dayStarts.clear();
    day = startOfJapanDate(date.replaceAll('/', '-'));
    dayStarts.set(date, day);
  }
  const tod = parseHhmmssS(time, 23);
  if (tod === undefined) throw new RangeError(`not a time of day: ${time}`);
  return day + tod;
}

/** The Japan date an instant falls on. */
export function japanDateOf(t: Tenths): JapanDate {
  return DateTime.fromMillis(t * 100, { zone: ZONE }).toFormat('yyyy-MM-dd');
}

/** The Japan month an instant falls in. */
export function monthOf(t: Tenths): Month {
  return DateTime.fromMillis(t * 100, { zone: ZONE }).toFormat('yyyy-MM');
}

/** Parse `hhmmss.s` into tenths of a second; undefined when malformed. `maxHours` bounds hh. */
export function parseHhmmssS(text: string, maxHours = 99): number | undefined {
  const m = HHMMSS_S.exec(text);
  if (!m) return undefined;
  const [h, mi, s, t] = [+m[1]!, +m[2]!, +m[3]!, +m[4]!];
  if (h > maxHours || mi > 59 || s > 59) return undefined;
  return ((h * 60 + mi) * 60 + s) * 10 + t;
}

/** Tenths of a second as `hhmmss.s`. */
export function formatHhmmssS(tenths: number): string {
  const t = tenths % 10;
  const totalSeconds = (tenths - t) / 10;
  const s = totalSeconds % 60;
  const mi = ((totalSeconds - s) / 60) % 60;
  const h = (totalSeconds - s - mi * 60) / 3600;
  return `${pad2(h)}${pad2(mi)}${pad2(s)}.${t}`;
}

/** The instant a Japan date and a time of day (`hhmmss.s`) name. */
export function instantOf(date: JapanDate, time: string): Tenths {
  const tod = parseHhmmssS(time, 23);
  if (tod === undefined) throw new RangeError(`not a time of day: ${time}`);
  return startOfJapanDate(date) + tod;
}

/** ISO-8601 with +09:00, to the tenth of a second when there is one. */
export function toIsoJapan(t: Tenths): string {
  return DateTime.fromMillis(t * 100, { zone: ZONE }).toISO({ suppressMilliseconds: false, includeOffset: true })!;
}

/** An instant as ISO-8601 with +09:00, to the millisecond (API timestamps). */
export function isoJapanOf(instant: Date): string {
  return DateTime.fromJSDate(instant, { zone: ZONE }).toISO({ suppressMilliseconds: false, includeOffset: true })!;
}

/**
 * The ISO-8601 form of a Japan date and time of day (`hhmmss.s`), written out rather than through
 * luxon: the same text as toIsoJapan(instantOf(date, time)), for every call of a month's export.
 */
export function isoOfJapanDateTime(date: JapanDate, time: string): string {
  return `${date}T${time.slice(0, 2)}:${time.slice(2, 4)}:${time.slice(4, 6)}.${time.slice(7, 8)}00+09:00`;
}

export function fromIsoInstant(iso: string): Tenths {
  const dt = DateTime.fromISO(iso, { setZone: true });
  if (!dt.isValid) throw new RangeError(`not an instant: ${iso}`);
  return Math.floor(dt.toMillis() / 100);
}

/** First and last Japan date of a month (the portal's ご利用期間). */
export function periodOf(month: Month): { from: JapanDate; to: JapanDate } {
  // Asked for on every portal request; the answers never change, and there are few months.
  let period = periods.get(month);
  if (!period) {
    const first = DateTime.fromISO(`${month}-01`, { zone: ZONE });
    period = Object.freeze({ from: first.toFormat('yyyy-MM-dd'), to: first.endOf('month').toFormat('yyyy-MM-dd') });
    if (periods.size > 10_000) periods.clear();
    periods.set(month, period);
  }
  return period;
}
const periods = new Map<Month, { from: JapanDate; to: JapanDate }>();

export function addMonths(month: Month, n: number): Month {
  const m = MONTH.exec(month);
  if (!m) throw new RangeError(`not a month: ${month}`);
  const index = Number(m[1]) * 12 + (Number(m[2]) - 1) + n;
  const year = Math.floor(index / 12);
  return `${String(year).padStart(4, '0')}-${String(index - year * 12 + 1).padStart(2, '0')}`;
}

/** The current Japan month at a given instant (clock passed in, never read here). */
export function japanMonthAt(now: Date): Month {
  return DateTime.fromJSDate(now, { zone: ZONE }).toFormat('yyyy-MM');
}

export function japanDateAt(now: Date): JapanDate {
  return DateTime.fromJSDate(now, { zone: ZONE }).toFormat('yyyy-MM-dd');
}

/** SPEC §5: on the 1st and the last day of a Japan month, files can be neither created nor downloaded. */
export function isExportBlackoutDay(now: Date): boolean {
  const dt = DateTime.fromJSDate(now, { zone: ZONE });
  return dt.day === 1 || dt.day === dt.daysInMonth;
}

function pad2(n: number): string {
  return n < 10 ? `0${n}` : String(n);
}
