// The shapes the read side answers with: the API (portal and engineer routes), the CLI and the CSV
// exports all read through these, never the tables directly. Amounts are Money; JSON turns them
// into "1928.50" strings via Money.toJSON.
import type { ProjectionStall } from './framework.ts';
import type { Money } from '../domain/money.ts';
import type { Category, OptionKey } from '../domain/events.ts';
import type { AdjustmentKind } from '../domain/adjustments.ts';
import type { JapanDate, Month } from '../domain/time.ts';

export interface CategoryFigures {
  readonly total: Money;
  readonly domestic: Money;
  readonly international: Money;
  /** 携帯/PHS通話 = au + otherMobile */
  readonly mobile: Money;
  readonly au: Money;
  readonly otherMobile: Money;
}

export interface NumberCharges {
  /** The attributed number (the representative number while that option is in effect, SPEC §3.3). */
  readonly number: string;
  readonly normal: CategoryFigures;
  readonly billed: CategoryFigures;
  readonly calls: number;
}

/** A month's figures for the whole contract. */
export interface MonthTotals {
  readonly contractCode: string;
  readonly month: Month;
  readonly normal: CategoryFigures;
  readonly billed: CategoryFigures;
}

/** The portal's month summary: the call figures and, apart from them (SPEC §3.5), the telegrams' total. */
export interface MonthSummary extends MonthTotals {
  /** 電報明細: the month's telegram charges, never part of `normal` or `billed`. */
  readonly telegrams: Money;
}

export interface MonthCharges extends MonthTotals {
  readonly numbers: readonly NumberCharges[];
}

/**
 * 前月以前分の調整 (SPEC §4.1): what a row of a month carries for an earlier, closed month — a call
 * of that month recorded after its close ('late'), or the difference a late correction or void
 * made to one of its calls ('corrected', 'voided': charge = new − old, may be negative).
 */
export type { AdjustmentKind };

export interface Adjustment {
  readonly kind: AdjustmentKind;
  /** The closed month the row adjusts (the call's own billing month). */
  readonly month: Month;
  /** The call adjusted: for 'late' the call itself. */
  readonly callId: string;
}

/** A telegram of a closed month recorded after its close, listed in the next open month. */
export interface TelegramAdjustment {
  readonly kind: 'late';
  readonly month: Month;
}

export interface CallDetail {
  /** 1-based position in start order within (contract, month, number[, category]). */
  readonly seq: number;
  readonly callId: string;
  readonly attributedNumber: string;
  readonly usingNumber: string;
  readonly startDate: JapanDate;
  readonly startTime: string;
  /** ISO-8601 +09:00 */
  readonly startedAt: string;
  readonly destination: string;
  readonly area: string;
  readonly duration: string | null;
  readonly count: number | null;
  readonly extensionType: string;
  readonly callType: string;
  readonly category: Category;
  /** Normal charge (after corrections); for a 'corrected' or 'voided' adjustment, the difference. */
  readonly charge: Money;
  readonly billed: Money;
  /** null for a call of this month; else what the row adjusts of a closed month (前月以前分の調整). */
  readonly adjustment: Adjustment | null;
}

/**
 * SPEC §7.2 call-detail records, every field already formatted by the database (YYYY/MM/DD, N件,
 * 2-decimal amounts). Either records as field lists, or — PostgreSQL, streamed by COPY — whole
 * lines of COPY text: one record per `\n`-terminated line, fields separated by `,`, with the
 * backslash escapes COPY writes (`\\ \, \n \r \t \b \f \v`).
 */
export type CallRecordChunk = { readonly records: readonly (readonly string[])[] } | { readonly copyText: string };

/** A call with neither a duration nor a count has no §7.2 通話時間 (its field comes back NULL): refused. */
export const CALL_WITHOUT_DURATION = 'a call in the call details has neither a duration nor a count';

export interface CallDetailPage {
  readonly items: readonly CallDetail[];
  readonly page: number;
  readonly pageSize: number;
  /** Calls in the whole listing (number × month [× category]), not on this page. */
  readonly total: number;
  /** ご利用金額合計: the normal charges of the whole listing, not of this page (SPEC §4). */
  readonly sum: Money;
}

export interface ContractNumber {
  readonly basicNumber: string;
  readonly dialInNumber: string;
  readonly auMobileNumber: string;
  readonly startDate: JapanDate;
  readonly endDate: JapanDate | null;
}

export interface ContractOptionView {
  readonly subscribed: boolean;
  readonly effectiveFrom?: JapanDate;
  readonly representativeNumber?: string;
  readonly freecallNumbers?: readonly string[];
}

export interface ContractView {
  readonly contractCode: string;
  readonly selfId: string;
  readonly startDate: JapanDate;
  readonly channels: number;
  readonly connectionType: string;
  readonly primaryDns: string;
  readonly secondaryDns: string;
  readonly basicNumber: string;
  /** 契約電話番号数, including the KDDI management number. */
  readonly numberCount: number;
  readonly dialInNumberCount: number;
  readonly options: Readonly<Record<OptionKey, ContractOptionView>>;
}

export interface Telegram {
  readonly telegramId: string;
  /** 受付番号; null for a telegram stored before receipt numbers that no file has numbered since. */
  readonly receiptNumber: string | null;
  readonly date: JapanDate;
  readonly destination: string;
  readonly kind: string;
  readonly charge: Money;
  /** null for a telegram of this month; else the closed month it was carried from (前月以前分の調整). */
  readonly adjustment: TelegramAdjustment | null;
}

export interface ProjectionStatus {
  readonly position: string;
  readonly lag: number;
  /** Present while the projection is stopped before an event it cannot apply (framework.ts). */
  readonly stalled?: ProjectionStall;
}

/** What the read side offers; implemented over the projection tables in projections/queries.ts. */
export interface LedgerQueries {
  /** Every contract ever opened, in code order. */
  contractCodes(): Promise<string[]>;
  contractExists(contractCode: string): Promise<boolean>;
  contract(contractCode: string, asOf: JapanDate): Promise<ContractView | undefined>;
  contractNumbers(contractCode: string, asOf: JapanDate, page: number, size: number): Promise<{ items: ContractNumber[]; total: number }>;
  /** Zeros and no numbers for a month without calls. */
  monthCharges(contractCode: string, month: Month): Promise<MonthCharges>;
  /** The contract's figures (no numbers) and telegram total of several months, in the order asked, in one query; zeros for a month without calls. */
  monthsTotals(contractCode: string, months: readonly Month[]): Promise<MonthSummary[]>;
  /** category undefined = all categories; page is 1-based, 10 per page. */
  callDetails(contractCode: string, month: Month, number: string, category: Category | undefined, page: number): Promise<CallDetailPage>;
  /** Every call of the month in start order (for exports), as an async stream. */
  allCalls(contractCode: string, month: Month): AsyncIterable<CallDetail>;
  /** The same calls as SPEC §7.2 records for the CSV export, in chunks. */
  callRecords(contractCode: string, month: Month): AsyncIterable<CallRecordChunk>;
  telegrams(contractCode: string, month: Month): Promise<Telegram[]>;
  status(): Promise<Record<string, ProjectionStatus>>;
}
