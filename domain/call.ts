// A call record (SPEC §3, §7.2): validation of every field, its category, whether it is free, its
// billing month, and its deterministic id.
import { uuidv5 } from './uuid.ts';
import { Money, MoneyFormatError } from './money.ts';
import { freeTextProblem, isTelephoneNumber } from './text.ts';
import { categorize, isFreeCall, DEFAULT_CATEGORY_TABLE, DEFAULT_FREE_CALL_RULES, type CategoryTable, type FreeCallRule } from './categories.ts';
import type { CallRecorded, Category, ExtensionType } from './events.ts';
import { instantOf, isJapanDate, monthOf, parseHhmmssS, type JapanDate, type Month, type Tenths } from './time.ts';

/** The fields of one call-detail row, as strings with trailing half-width spaces already trimmed. */
export interface CallRow {
  readonly usingNumber: string; // ご利用電話番号
  readonly startDate: string; // 通話開始日時 YYYY/MM/DD
  readonly startTime: string; // 通話開始時刻 hhmmss.s
  readonly destination: string; // 着信電話番号
  readonly area: string; // 地域名
  readonly duration: string; // 通話時間 hhmmss.s or N件
  readonly extensionType: string; // 内線区分
  readonly callType: string; // 呼種別
  readonly charge: string; // 通話料
}

/** SPEC §7.2 column names and their maximum lengths, in file order. */
export const CALL_COLUMNS = [
  { field: 'usingNumber', header: 'ご利用電話番号', max: 13 },
  { field: 'startDate', header: '通話開始日時', max: 10 },
  { field: 'startTime', header: '通話開始時刻', max: 10 },
  { field: 'destination', header: '着信電話番号', max: 21 },
  { field: 'area', header: '地域名', max: 20 },
  { field: 'duration', header: '通話時間', max: 10 },
  { field: 'extensionType', header: '内線区分', max: 4 },
  { field: 'callType', header: '呼種別', max: 80 },
  { field: 'charge', header: '通話料', max: 6 },
] as const satisfies readonly { field: keyof CallRow; header: string; max: number }[];

export interface FieldProblem {
  readonly field: string;
  readonly message: string;
}

/** A validated call, everything derived that does not need a contract. */
export interface ParsedCall {
  readonly callId: string;
  readonly usingNumber: string;
  readonly startDate: JapanDate;
  readonly startTime: string;
  readonly destination: string;
  readonly area: string;
  readonly duration: string | null;
  readonly count: number | null;
  readonly extensionType: ExtensionType;
  readonly callType: string;
  readonly category: Category;
  readonly free: boolean;
  readonly charge: Money;
  readonly startedAt: Tenths;
  readonly endedAt: Tenths;
  readonly billingMonth: Month;
}

export interface CallRules {
  readonly categories: CategoryTable;
  readonly freeCalls: readonly FreeCallRule[];
}

export const DEFAULT_CALL_RULES: CallRules = { categories: DEFAULT_CATEGORY_TABLE, freeCalls: DEFAULT_FREE_CALL_RULES };

// The namespace of call ids (a fixed random UUID: changing it would change every call's identity).
export const CALL_ID_NAMESPACE = '6f0f8a5e-3c0e-4d7e-9a43-0c2f3b7d9e11';

const NUMBER = /^\d{1,13}$/;
const SLASH_DATE = /^(\d{4})\/(\d{2})\/(\d{2})$/;
const COUNT = /^([1-9]\d{0,5})件$/;

/** The identity of a call: a re-delivered record has the same id; a different charge is then a conflict. */
export function callIdOf(c: { usingNumber: string; startDate: string; startTime: string; destination: string; duration: string | null; count: number | null; callType: string }): string {
  const durationOrCount = c.duration ?? `${c.count}件`;
  return uuidv5([c.usingNumber, c.startDate, c.startTime, c.destination, durationOrCount, c.callType].join('\u001f'), CALL_ID_NAMESPACE);
}

/** Validate every field of one row; either a ParsedCall or the list of what is wrong with it. */
export function parseCallRow(row: CallRow, rules: CallRules = DEFAULT_CALL_RULES): { ok: true; call: ParsedCall } | { ok: false; problems: FieldProblem[] } {
  const problems: FieldProblem[] = [];
  const problem = (field: string, message: string) => problems.push({ field, message });

  for (const col of CALL_COLUMNS) {
    const value = row[col.field];
    if ([...value].length > col.max) problem(col.header, `at most ${col.max} characters expected, got ${[...value].length}`);
  }

  if (!NUMBER.test(row.usingNumber)) problem('ご利用電話番号', `expected digits only, like 0312345678, got ${JSON.stringify(row.usingNumber)}`);

  let startDate: JapanDate | undefined;
  const d = SLASH_DATE.exec(row.startDate);
  if (!d) problem('通話開始日時', `expected a date YYYY/MM/DD, got ${JSON.stringify(row.startDate)}`);
  else {
    const iso = `${d[1]}-${d[2]}-${d[3]}`;
    if (!isJapanDate(iso)) problem('通話開始日時', `no such date: ${row.startDate}`);
    else startDate = iso;
  }

  const timeOfDay = parseHhmmssS(row.startTime, 23);
  if (timeOfDay === undefined) problem('通話開始時刻', `expected a time hhmmss.s between 000000.0 and 235959.9, got ${JSON.stringify(row.startTime)}`);

  if (row.destination.length === 0) problem('着信電話番号', 'expected a destination number, got an empty field');
  else if (!isTelephoneNumber(row.destination)) {
    problem('着信電話番号', `expected a telephone number (digits and hyphens, an optional leading +), got ${JSON.stringify(row.destination)}`);
  }
  // Free text goes to customers' spreadsheets in the call-detail CSV: nothing Excel would run.
  const areaProblem = freeTextProblem(row.area);
  if (areaProblem) problem('地域名', areaProblem);
  const callTypeProblem = row.callType ? freeTextProblem(row.callType) : undefined;
  if (callTypeProblem) problem('呼種別', callTypeProblem);

  let duration: string | null = null;
  let count: number | null = null;
  let durationTenths = 0;
  const countMatch = COUNT.exec(row.duration);
  if (countMatch) {
    count = Number.parseInt(countMatch[1]!, 10);
  } else {
    const t = parseHhmmssS(row.duration);
    if (t === undefined) problem('通話時間', `expected a duration hhmmss.s or a count like 1件, got ${JSON.stringify(row.duration)}`);
    else {
      duration = row.duration;
      durationTenths = t;
    }
  }

  if (row.extensionType !== '外線' && row.extensionType !== '内線') {
    problem('内線区分', `expected 外線 or 内線, got ${JSON.stringify(row.extensionType)}`);
  }

  const category = row.callType ? categorize(row.callType, rules.categories) : undefined;
  if (!row.callType) problem('呼種別', 'expected a call type, got an empty field');
  else if (!category && !callTypeProblem) problem('呼種別', `the category table places no call type ${JSON.stringify(row.callType)}`);

  let charge: Money | undefined;
  try {
    charge = Money.parseCharge(row.charge);
  } catch (e) {
    if (!(e instanceof MoneyFormatError)) throw e;
    problem('通話料', `expected a non-negative amount with at most 2 decimals, like 8.00, got ${JSON.stringify(row.charge)}`);
  }

  if (problems.length > 0 || !startDate || timeOfDay === undefined || !category || !charge) {
    return { ok: false, problems };
  }
  const startedAt = instantOf(startDate, row.startTime);
  // SPEC §3.2: billed in the month the call ends; directory-assistance counts end at their start.
  const endedAt = startedAt + durationTenths;
  const extensionType = row.extensionType as ExtensionType;
  return {
    ok: true,
    call: {
      callId: callIdOf({ usingNumber: row.usingNumber, startDate, startTime: row.startTime, destination: row.destination, duration, count, callType: row.callType }),
      usingNumber: row.usingNumber,
      startDate,
      startTime: row.startTime,
      destination: row.destination,
      area: row.area,
      duration,
      count,
      extensionType,
      callType: row.callType,
      category,
      free: isFreeCall(extensionType, row.callType, rules.freeCalls),
      charge,
      startedAt,
      endedAt,
      billingMonth: monthOf(endedAt),
    },
  };
}

export function callRecordedData(call: ParsedCall, contractCode: string): CallRecorded['data'] {
  return {
    callId: call.callId,
    contractCode,
    usingNumber: call.usingNumber,
    startDate: call.startDate,
    startTime: call.startTime,
    destination: call.destination,
    area: call.area,
    duration: call.duration,
    count: call.count,
    extensionType: call.extensionType,
    callType: call.callType,
    category: call.category,
    free: call.free,
    charge: call.charge.toString(),
    billingMonth: call.billingMonth,
  };
}

/**
 * canonicalJson(callRecordedData(call, contractCode)), written out key by key in sorted order: an
 * import encodes a million of these, and the generic walk sorted the same fifteen keys every time.
 * domain/call.test.ts checks the two texts are equal.
 */
export function callRecordedText(call: ParsedCall, contractCode: string): string {
  // Fields the parser has already proven plain (digits, dates, times, ids, amounts, enum words) are
  // written without JSON.stringify; the free-text ones go through it.
  const q = jsonString;
  return (
    `{"area":${q(call.area)},"billingMonth":"${call.billingMonth}","callId":"${call.callId}","callType":${q(call.callType)},` +
    `"category":"${call.category}","charge":"${call.charge.toString()}","contractCode":${q(contractCode)},"count":${call.count === null ? 'null' : call.count},` +
    `"destination":${q(call.destination)},"duration":${call.duration === null ? 'null' : `"${call.duration}"`},"extensionType":"${call.extensionType}",` +
    `"free":${call.free},"startDate":"${call.startDate}","startTime":"${call.startTime}","usingNumber":"${call.usingNumber}"}`
  );
}

// What JSON.stringify would escape in a string: quote, backslash, control characters, surrogates.
const NEEDS_ESCAPE = /["\\\u0000-\u001f\ud800-\udfff]/;

function jsonString(text: string): string {
  return NEEDS_ESCAPE.test(text) ? JSON.stringify(text) : `"${text}"`;
}

/** The start instant of a recorded call (for attribution: SPEC §3.3 looks at the call's start). */
export function startedAtOf(data: Pick<CallRecorded['data'], 'startDate' | 'startTime'>): Tenths {
  return instantOf(data.startDate, data.startTime);
}
