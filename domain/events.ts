// Every event the ledger stores. Stored type strings are never renamed (STYLE §2); a changed shape
// gets an upcaster in domain/upcasters.ts. Amounts are strings ("8.00"), dates Japan dates.
import type { JapanDate, Month } from './time.ts';

export type OptionKey =
  | 'dialIn'
  | 'auIncomingDiscount'
  | 'numberNotificationRequest'
  | 'callRejection'
  | 'representativeNumber'
  | 'freecallNotification'
  | 'bulkForwarding';

export const OPTION_KEYS: readonly OptionKey[] = [
  'dialIn',
  'auIncomingDiscount',
  'numberNotificationRequest',
  'callRejection',
  'representativeNumber',
  'freecallNotification',
  'bulkForwarding',
];

/** SPEC §1 labels, for the portal and the CLI. */
export const OPTION_LABELS: Record<OptionKey, string> = {
  dialIn: 'ダイヤルイン',
  auIncomingDiscount: 'auケータイ着信割引(月額料型)',
  numberNotificationRequest: '番号通知リクエスト',
  callRejection: '着信拒否サービス',
  representativeNumber: '特定番号通知サービス (拠点代表番号機能)',
  freecallNotification: 'フリーコール(選択)番号通知サービス',
  bulkForwarding: '一括転送サービス',
};

export type Category = 'domestic' | 'international' | 'au' | 'otherMobile';
export const CATEGORIES: readonly Category[] = ['domestic', 'international', 'au', 'otherMobile'];

export type ExtensionType = '外線' | '内線';

export interface EventMetadata {
  /** Where the fact came from, for audit: a file and line, or an API request id. */
  source?: string;
  recordedAt?: string;
  [key: string]: unknown;
}

type Event<T extends string, D> = { readonly type: T; readonly data: D; readonly metadata?: EventMetadata };

// ---- contract stream: `contract-<contractCode>` ----------------------------------------------

export type ContractOpened = Event<'ContractOpened', {
  contractCode: string;
  selfId: string;
  startDate: JapanDate;
  channels: number;
  connectionType: string;
  primaryDns: string;
  secondaryDns: string;
  /** 基本電話番号: KDDI's management number, counted among the contracted numbers. */
  basicNumber: string;
}>;

export type NumberAdded = Event<'NumberAdded', {
  contractCode: string;
  /** 追加ダイヤルイン番号: the customer's own fixed number. */
  dialInNumber: string;
  auMobileNumber: string;
  startDate: JapanDate;
}>;

export type NumberRemoved = Event<'NumberRemoved', {
  contractCode: string;
  dialInNumber: string;
  /** Last day the number is held (inclusive). */
  endDate: JapanDate;
}>;

export type OptionSubscribed = Event<'OptionSubscribed', {
  contractCode: string;
  option: OptionKey;
  effectiveFrom: JapanDate;
  representativeNumber?: string;
  freecallNumbers?: string[];
}>;

export type OptionCancelled = Event<'OptionCancelled', {
  contractCode: string;
  option: OptionKey;
  effectiveFrom: JapanDate;
}>;

export type ChannelsChanged = Event<'ChannelsChanged', {
  contractCode: string;
  channels: number;
  effectiveFrom: JapanDate;
}>;

/** Records only that the password changed: never the password nor its hash. */
export type SelfPasswordChanged = Event<'SelfPasswordChanged', { contractCode: string; changedAt: string }>;
export type SelfPasswordReset = Event<'SelfPasswordReset', { contractCode: string; resetAt: string }>;

export type ContractEvent =
  | ContractOpened
  | NumberAdded
  | NumberRemoved
  | OptionSubscribed
  | OptionCancelled
  | ChannelsChanged
  | SelfPasswordChanged
  | SelfPasswordReset;

// ---- number reservation stream: `number-<digits>` ---------------------------------------------
// A number is held by at most one contract on any date; this stream, appended under optimistic
// concurrency together with the contract event, is what enforces it across contracts.

export type NumberAssigned = Event<'NumberAssigned', {
  number: string;
  contractCode: string;
  kind: 'basic' | 'dialIn';
  from: JapanDate;
}>;

export type NumberReleased = Event<'NumberReleased', {
  number: string;
  contractCode: string;
  /** Last day held (inclusive). */
  endDate: JapanDate;
}>;

export type NumberEvent = NumberAssigned | NumberReleased;

// ---- calls stream: `calls-<contractCode>-<YYYY-MM>` (the billing month) -----------------------

export type CallRecorded = Event<'CallRecorded', {
  /** UUIDv5 of the call's identity (see callIdOf): the event id too. */
  callId: string;
  contractCode: string;
  /** ご利用電話番号 as delivered: the number the call was made from. */
  usingNumber: string;
  startDate: JapanDate;
  /** `hhmmss.s` */
  startTime: string;
  destination: string;
  area: string;
  /** `hhmmss.s`, or null for a directory-assistance count. */
  duration: string | null;
  /** `N件` for 番号案内, else null. */
  count: number | null;
  extensionType: ExtensionType;
  callType: string;
  /** As placed by the category table at import. */
  category: Category;
  /** SPEC §3.4: billed 0 on the actual bill. */
  free: boolean;
  /** Normal (list) charge, `"8.00"`. */
  charge: string;
  /** SPEC §3.2: the month in which the call ends. */
  billingMonth: Month;
}>;

export type CallCorrected = Event<'CallCorrected', { callId: string; charge: string; reason: string }>;
export type CallVoided = Event<'CallVoided', { callId: string; reason: string }>;

export type CallEvent = CallRecorded | CallCorrected | CallVoided;

// ---- telegrams: `telegrams-<contractCode>` ------------------------------------------------------

export type TelegramRecorded = Event<'TelegramRecorded', {
  telegramId: string;
  contractCode: string;
  date: JapanDate;
  month: Month;
  /**
   * 受付番号: the telegram's identity within its contract (two telegrams alike in all else are two
   * charges). Null on events stored before it was asked for (upcastTelegramRecorded).
   */
  receiptNumber: string | null;
  destination: string;
  kind: string;
  charge: string;
}>;

/**
 * A telegram stored before receipt numbers (its id derived from its content) is given the receipt
 * number a later file names for it: the same telegram, not a second charge. Its id is the one the
 * telegram would have under that receipt number, so the receipt number is taken from then on.
 */
export type TelegramReceiptNumbered = Event<'TelegramReceiptNumbered', {
  /** The telegram as stored, without a receipt number. */
  telegramId: string;
  contractCode: string;
  receiptNumber: string;
}>;

export type TelegramEvent = TelegramRecorded | TelegramReceiptNumbered;


// ---- billing: `billing-<contractCode>` -----------------------------------------------------------

/**
 * SPEC §4.1: the month's bill is issued. Everything recorded before this event (in log order) makes
 * the month's figures, screens and files, which never change again; a call, correction or void of
 * the month recorded after it is carried into the next open month (前月以前分の調整).
 */
export type MonthClosed = Event<'MonthClosed', {
  contractCode: string;
  month: Month;
  /** The closing command's clock (ISO-8601): when the engineer issued the bill. */
  closedAt: string;
}>;

export type BillingEvent = MonthClosed;

export type LedgerEvent = ContractEvent | NumberEvent | CallEvent | TelegramEvent | BillingEvent;
export type LedgerEventType = LedgerEvent['type'];

export const streams = {
  contract: (contractCode: string) => `contract-${contractCode}`,
  number: (number: string) => `number-${number}`,
  calls: (contractCode: string, month: Month) => `calls-${contractCode}-${month}`,
  telegrams: (contractCode: string) => `telegrams-${contractCode}`,
  billing: (contractCode: string) => `billing-${contractCode}`,
} as const;

export const STREAM_PREFIXES = ['contract-', 'number-', 'calls-', 'telegrams-', 'billing-'] as const;
