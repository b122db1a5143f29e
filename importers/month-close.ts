// Closing a billing month for one contract, some, or all (INTERFACE `ledger close`, the engineer
// route): each contract's close is its own event on its own billing stream (domain/billing.ts),
// so closing all contracts is one close per contract, each idempotent; a re-run after a crash half
// way closes the rest and reports the others as closed already.
import { closeMonth, type CloseMonthResult } from '../domain/billing-service.ts';
import { DomainError } from '../domain/errors.ts';
import { isMonth, isoJapanOf, type Month } from '../domain/time.ts';
import type { EventMetadata } from '../domain/events.ts';
import type { EventStore } from '../eventstore/port.ts';

export type CloseTarget = { readonly all: true } | { readonly contracts: readonly string[] };

export interface CloseReport {
  readonly month: Month;
  /** Contracts closed by this call, and those closed before (unchanged). */
  readonly results: readonly CloseMonthResult[];
  /** With `all`: contracts that started after the month (nothing to close). */
  readonly skipped: readonly { readonly contractCode: string; readonly reason: string }[];
}

export async function closeMonths(
  deps: { store: EventStore; contractCodes: () => Promise<string[]> },
  month: string,
  target: CloseTarget,
  now: Date,
  metadata: EventMetadata = {},
): Promise<CloseReport> {
  if (!isMonth(month)) throw new DomainError('INVALID_MONTH', `month must be YYYY-MM, got ${JSON.stringify(month)}`, 'month');
  const all = 'all' in target;
  const codes = all ? await deps.contractCodes() : [...new Set(target.contracts)];
  if (!all && codes.length === 0) throw new DomainError('NO_CONTRACTS', 'name at least one contract, or all', 'contracts');
  const at = isoJapanOf(now);
  const results: CloseMonthResult[] = [];
  const skipped: { contractCode: string; reason: string }[] = [];
  for (const contractCode of codes) {
    try {
      results.push(await closeMonth(deps.store, { type: 'CloseMonth', contractCode, month, now: at }, metadata));
    } catch (e) {
      // Closing every contract: one opened after the month has no bill for it.
      if (all && e instanceof DomainError && e.code === 'MONTH_BEFORE_CONTRACT_START') skipped.push({ contractCode, reason: e.message });
      else throw e;
    }
  }
  return { month, results, skipped };
}
