// 前月以前分の調整 (SPEC §4.1) in the customer's words: how a row carried from a closed month into
// the next open one is named on the portal and in the call-detail CSV (SPEC §7.2, 呼種別). One
// source for the TypeScript writer (importers/csv-export.ts callRecord), the database's writer
// (projections/queries.ts CALL_RECORD_FIELDS: the same text built in SQL) and the portal's pages.
import type { Month } from './time.ts';

export type AdjustmentKind = 'late' | 'corrected' | 'voided';

export const ADJUSTMENT_KINDS: readonly AdjustmentKind[] = ['late', 'corrected', 'voided'];

/** 前月以前分の調整: the label of every carried row. */
export const ADJUSTMENT_LABEL_JA = '前月以前分の調整';

/** What the row adjusts: a call that arrived after its month closed, a correction's difference, a void's. */
export const ADJUSTMENT_KIND_JA: Readonly<Record<AdjustmentKind, string>> = {
  late: '遅れて届いた通話',
  corrected: '訂正',
  voided: '取消',
};

/** SPEC §7.2: 呼種別 is at most 80 characters. */
export const CALL_TYPE_MAX = 80;

/** `2017-11` → `2017/11`, as the call-detail CSV writes dates. */
export function csvMonth(month: Month): string {
  return month.replace('-', '/');
}

/** The mark appended to 呼種別: `(前月以前分の調整 2017/11 訂正)`. */
export function adjustmentMarkJa(kind: AdjustmentKind, month: Month): string {
  return `(${ADJUSTMENT_LABEL_JA} ${csvMonth(month)} ${ADJUSTMENT_KIND_JA[kind]})`;
}

/**
 * 呼種別 of a carried row: the call type, then the mark; the call type is cut (never the mark) so
 * that the field stays within 80 characters. Characters are counted as code points, as
 * PostgreSQL's left() and char_length() count them.
 */
export function markedCallType(callType: string, kind: AdjustmentKind, month: Month): string {
  const mark = adjustmentMarkJa(kind, month);
  const room = CALL_TYPE_MAX - [...mark].length;
  const chars = [...callType];
  return (chars.length > room ? chars.slice(0, room).join('') : callType) + mark;
}
