// SPEC §4: the portal shows the last four months including the previous month, newest first, and
// the current month, still open, marked provisional. The portal's drill-downs and downloads are
// limited to these months; engineers can query any month.
import { addMonths, japanMonthAt, type Month } from '../domain/time.ts';
import { ApiError } from './errors.ts';

export interface WindowMonth {
  readonly month: Month;
  readonly provisional: boolean;
}

export function portalMonths(now: Date): WindowMonth[] {
  const current = japanMonthAt(now);
  return [{ month: current, provisional: true }, ...[1, 2, 3, 4].map((n) => ({ month: addMonths(current, -n), provisional: false }))];
}

export function requirePortalMonth(month: Month, now: Date): void {
  const months = portalMonths(now);
  if (!months.some((m) => m.month === month)) {
    const newest = months[0]!.month;
    const oldest = months[months.length - 1]!.month;
    throw new ApiError(404, 'MONTH_NOT_AVAILABLE', `charges are shown for ${oldest} to ${newest} only, not ${month}`);
  }
}
