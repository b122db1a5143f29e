// Read-model values → the JSON of INTERFACE.md. Amounts are Money (its toString: "1928.50");
// whole-yen display figures are the cut-off of each exact figure (SPEC §3.5), never a sum of cut-offs.
import { DateTime } from 'luxon';
import type { Money } from '../domain/money.ts';
import { periodOf, ZONE, type JapanDate, type Month } from '../domain/time.ts';
import type { CallDetail, CategoryFigures, Telegram } from '../projections/read-model.ts';

// One JSON form of the figures for the portal and the engineer routes.
export { figuresJson, type FiguresJson } from '../projections/engineering.ts';

/** The monthly summary's 円 figures: 1,928.50 → "1928". */
export function wholeYenJson(f: CategoryFigures) {
  return {
    total: f.total.toWholeYen(),
    domestic: f.domestic.toWholeYen(),
    international: f.international.toWholeYen(),
    mobile: f.mobile.toWholeYen(),
  };
}

export function callJson(call: CallDetail) {
  return {
    seq: call.seq,
    callId: call.callId,
    startedAt: call.startedAt,
    usingNumber: call.usingNumber,
    destination: call.destination,
    area: call.area,
    duration: call.duration,
    count: call.count,
    extensionType: call.extensionType,
    callType: call.callType,
    category: call.category,
    charge: call.charge.toString(),
    billed: call.billed.toString(),
    // 前月以前分の調整 (SPEC §4.1): null for a call of the month listed.
    adjustment: call.adjustment === null ? null : { kind: call.adjustment.kind, month: call.adjustment.month, callId: call.adjustment.callId },
  };
}

export function telegramJson(t: Telegram) {
  return {
    telegramId: t.telegramId,
    receiptNumber: t.receiptNumber,
    date: t.date,
    destination: t.destination,
    kind: t.kind,
    charge: t.charge.toString(),
    adjustment: t.adjustment === null ? null : { kind: t.adjustment.kind, month: t.adjustment.month },
  };
}

/** ISO-8601 with +09:00 (INTERFACE: timestamps). */
export function isoJapan(date: Date): string {
  return DateTime.fromJSDate(date, { zone: ZONE }).toISO({ includeOffset: true })!;
}

// ---- Japanese display (the portal's pages, api/portal/) ----------------------------------------
// The one place where figures and dates become the manual's text; templates call these and never
// format an amount or a date themselves. Amounts go through Money's own display (never a number).

const WEEKDAYS_JA = ['月', '火', '水', '木', '金', '土', '日'] as const;

/** `1,928.50円` (per number, per call). */
export function yenJa(amount: Money): string {
  return `${amount.toDisplay()}円`;
}

/** `1,928円`: the monthly summary, fractions below 1 yen cut off (SPEC §3.5). */
export function wholeYenJa(amount: Money): string {
  return `${amount.toDisplayWholeYen()}円`;
}

/** `2017年11月`. */
export function monthJa(month: Month): string {
  const [y, m] = month.split('-');
  return `${y}年${m}月`;
}

/** `【11月01日～11月30日】` (ご利用期間). */
export function periodJa(month: Month): string {
  const { from, to } = periodOf(month);
  const md = (d: JapanDate) => `${d.slice(5, 7)}月${d.slice(8, 10)}日`;
  return `【${md(from)}～${md(to)}】`;
}

/** `2010年11月15日`. */
export function dateJa(date: JapanDate): string {
  return `${date.slice(0, 4)}年${date.slice(5, 7)}月${date.slice(8, 10)}日`;
}

/** `2017年12月17日 12時00分` (Japan time), for an instant such as a file's expiry. */
export function dateTimeJa(instant: Date): string {
  return DateTime.fromJSDate(instant, { zone: ZONE }).toFormat("yyyy'年'MM'月'dd'日' HH'時'mm'分'");
}

/** `12/17 12:00` (Japan time): a file's 保存期限 where a table cell has little room. */
export function shortDateTimeJa(instant: Date): string {
  return DateTime.fromJSDate(instant, { zone: ZONE }).toFormat('MM/dd HH:mm');
}

/** A call's start as the manual's details show it: `05/01(金)20時12分21.5秒`. */
export function callStartJa(call: Pick<CallDetail, 'startDate' | 'startTime'>): string {
  const weekday = WEEKDAYS_JA[DateTime.fromISO(call.startDate, { zone: ZONE }).weekday - 1];
  const t = call.startTime; // hhmmss.s
  return `${call.startDate.slice(5, 7)}/${call.startDate.slice(8, 10)}(${weekday})${t.slice(0, 2)}時${t.slice(2, 4)}分${t.slice(4)}秒`;
}

/** A call's duration: `0時間 01分 06.0秒`; for directory assistance (番号案内) its count, `1件`. */
export function durationJa(call: Pick<CallDetail, 'duration' | 'count'>): string {
  if (call.duration === null) return `${call.count ?? 0}件`;
  const d = call.duration; // hhmmss.s
  return `${Number.parseInt(d.slice(0, 2), 10)}時間 ${d.slice(2, 4)}分 ${d.slice(4)}秒`;
}
