// Closing a billing month (SPEC §4.1): the decider of the `billing-<contractCode>` stream. Pure: the
// clock comes in on the command, like every decider here.
//
// Once a month's bill is issued it never changes (Lago finalizes its drafts after a grace period,
// the FOCUS spec speaks of closed billing periods); what arrives late for it goes into the next open
// month as an adjustment, as Kill Bill adds items to a later invoice rather than editing a paid one.
// The close is an event, so that the live projection, a replay and a verification all see it at the
// same place in the log, and "late" means "after the close in log order" for all of them.
import type { MonthClosed } from './events.ts';
import { DomainError } from './errors.ts';
import { uuidv5 } from './uuid.ts';
import { addMonths, fromIsoInstant, isMonth, startOfJapanDate, type JapanDate, type Month } from './time.ts';

export interface CloseMonth {
  readonly type: 'CloseMonth';
  readonly contractCode: string;
  readonly month: Month;
  /** The command's clock, ISO-8601 with an offset. */
  readonly now: string;
}

export interface BillingState {
  /** ご利用開始日 of the contract; undefined while the contract was never opened. */
  readonly contractStart: JapanDate | undefined;
  /** Closed months, with the instant each was closed. */
  readonly closed: ReadonlyMap<Month, string>;
}

export function initialBillingState(contractStart: JapanDate | undefined): BillingState {
  return { contractStart, closed: new Map() };
}

export function evolveBilling(state: BillingState, event: MonthClosed): BillingState {
  switch (event.type) {
    case 'MonthClosed': {
      const closed = new Map(state.closed);
      if (!closed.has(event.data.month)) closed.set(event.data.month, event.data.closedAt);
      return { ...state, closed };
    }
    default:
      return unreachable(event.type);
  }
}

/** The first instant (tenths) after a month, in Japan time: 00:00 Asia/Tokyo on the 1st of the next. */
export function endOfJapanMonth(month: Month): number {
  return startOfJapanDate(`${addMonths(month, 1)}-01`);
}

/**
 * Closing a closed month decides nothing (idempotent). Refused: a month not yet ended in Japan time
 * at the command's clock, a month that ended before the contract started, an unknown contract.
 */
export function decideCloseMonth(command: CloseMonth, state: BillingState): MonthClosed[] {
  if (!isMonth(command.month)) throw new DomainError('INVALID_MONTH', `month must be YYYY-MM, got ${JSON.stringify(command.month)}`, 'month');
  let now: number;
  try {
    now = fromIsoInstant(command.now);
  } catch {
    throw new DomainError('INVALID_TIMESTAMP', `now must be an ISO-8601 instant, got ${JSON.stringify(command.now)}`, 'now');
  }
  if (state.contractStart === undefined) throw new DomainError('CONTRACT_NOT_FOUND', `no contract ${command.contractCode}`, 'contractCode');
  if (state.closed.has(command.month)) return [];
  if (now < endOfJapanMonth(command.month)) {
    throw new DomainError('MONTH_NOT_ENDED', `${command.month} has not ended in Japan time (it ends at ${addMonths(command.month, 1)}-01 00:00 +09:00); a month is closed once its bill is issued`, 'month');
  }
  if (endOfJapanMonth(command.month) <= startOfJapanDate(state.contractStart)) {
    throw new DomainError('MONTH_BEFORE_CONTRACT_START', `${command.month} ended before contract ${command.contractCode} started (${state.contractStart})`, 'month');
  }
  return [{ type: 'MonthClosed', data: { contractCode: command.contractCode, month: command.month, closedAt: command.now } }];
}

/**
 * The month that carries an event of `month` recorded at log position `at` (SPEC §4.1): the month
 * itself while it is open then, else the first later month not closed before `at`. `closes` holds
 * each closed month's position in the log (one contract).
 */
export function carryingMonthOf(month: Month, at: bigint, closes: ReadonlyMap<Month, bigint>): Month {
  let m = month;
  for (;;) {
    const closedAt = closes.get(m);
    if (closedAt === undefined || closedAt > at) return m;
    m = addMonths(m, 1);
  }
}

/** UUIDv5 namespace of the rows that carry a late correction or void (never change it: rows are keyed by it). */
const CARRY_NAMESPACE = '5f0c2a8e-3d4b-4e71-9a26-7b1e8c9d0f53';

/**
 * The id of the row that carries the difference made by a correction or void recorded after its
 * call's month was closed: one row per such event, whoever projects or folds it.
 */
export function adjustmentRowIdOf(eventId: string): string {
  return uuidv5(`carried\u001f${eventId}`, CARRY_NAMESPACE);
}

function unreachable(value: never): never {
  throw new Error(`unhandled: ${JSON.stringify(value)}`);
}
