// SPEC §4: the portal shows the last four months including the previous month, newest first, and
// the current month, still open, marked provisional. The portal's drill-downs and downloads are
// limited to these months; engineers can query any month.
import { addMonths, japanMonthAt, startOfJapanDate, type Month } from '../domain/time.ts';
import { ApiError } from './errors.ts';

export interface WindowMonth {
  readonly month: Month;
  readonly provisional: boolean;
}

export function portalMonths(now: Date): readonly WindowMonth[] {
  // Asked for on every portal request, and the same for a whole month: kept with the instants
  // (ms) the current Japan month starts and ends, so luxon is asked once a month, not per request.
  const t = now.getTime();
  if (!(cached && cached.from <= t && t < cached.until)) {
    const current = japanMonthAt(now);
    const months = Object.freeze([{ month: current, provisional: true }, ...[1, 2, 3, 4].map((n) => ({ month: addMonths(current, -n), provisional: false }))].map((m) => Object.freeze(m)));
    cached = { from: startOfJapanDate(`${current}-01`) * 100, until: startOfJapanDate(`${addMonths(current, 1)}-01`) * 100, months };
  }
  return cached.months;
}
let cached: { readonly from: number; readonly until: number; readonly months: readonly WindowMonth[] } | undefined;

export function requirePortalMonth(month: Month, now: Date): void {
  const months = portalMonths(now);
  if (!months.some((m) => m.month === month)) {
    const newest = months[0]!.month;
    const oldest = months[months.length - 1]!.month;
    throw new ApiError(404, 'MONTH_NOT_AVAILABLE', `charges are shown for ${oldest} to ${newest} only, not ${month}`);
  }
}
