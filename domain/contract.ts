// The contract decider (SPEC §1, INTERFACE "Contract changes"): pure, no clock, no I/O.
// Every change is effective-dated and may be recorded late with a past date, so the state keeps
// *timelines* (intervals), never just current values, and effective-dated questions are answered
// by the exported query functions below.
import type {
  ChannelsChanged,
  ContractEvent,
  ContractOpened,
  NumberAdded,
  NumberRemoved,
  OptionCancelled,
  OptionKey,
  OptionSubscribed,
  SelfPasswordChanged,
  SelfPasswordReset,
} from './events.ts';
import { OPTION_KEYS } from './events.ts';
import { DomainError } from './errors.ts';
import type { JapanDate, Tenths } from './time.ts';
import { fromIsoInstant, isJapanDate, japanDateOf, startOfJapanDate } from './time.ts';

// ---- commands ---------------------------------------------------------------------------------

/** What every contract command may carry (INTERFACE "Contract changes"). */
export interface CommandIdentity {
  /**
   * The order or ticket number the command comes from (up to 64 characters): its identity within
   * the contract. Without it, a command's identity is its content (contract-service.ts).
   */
  readonly commandId?: string;
}

export interface OpenContract extends CommandIdentity {
  readonly type: 'OpenContract';
  readonly contractCode: string;
  readonly selfId: string;
  /**
   * Accepted from the command file and handed to the caller (who stores a hash of it in the
   * credentials table); never written to an event and never part of the command's identity.
   */
  readonly initialPassword?: string;
  readonly startDate: JapanDate;
  readonly channels: number;
  readonly connectionType: string;
  readonly primaryDns: string;
  readonly secondaryDns: string;
  readonly basicNumber: string;
}

export interface AddNumber extends CommandIdentity {
  readonly type: 'AddNumber';
  readonly contractCode: string;
  readonly dialInNumber: string;
  readonly auMobileNumber: string;
  readonly startDate: JapanDate;
}

export interface RemoveNumber extends CommandIdentity {
  readonly type: 'RemoveNumber';
  readonly contractCode: string;
  readonly dialInNumber: string;
  /** Last day the number is held (inclusive). */
  readonly endDate: JapanDate;
}

export interface SubscribeOption extends CommandIdentity {
  readonly type: 'SubscribeOption';
  readonly contractCode: string;
  readonly option: OptionKey;
  readonly effectiveFrom: JapanDate;
  readonly representativeNumber?: string;
  readonly freecallNumbers?: readonly string[];
}

export interface CancelOption extends CommandIdentity {
  readonly type: 'CancelOption';
  readonly contractCode: string;
  readonly option: OptionKey;
  readonly effectiveFrom: JapanDate;
}

export interface ChangeChannels extends CommandIdentity {
  readonly type: 'ChangeChannels';
  readonly contractCode: string;
  readonly channels: number;
  readonly effectiveFrom: JapanDate;
}

/** The password itself lives in the API's credentials table; the event records only the fact. */
export interface ChangeSelfPassword extends CommandIdentity {
  readonly type: 'ChangeSelfPassword';
  readonly contractCode: string;
  /** ISO-8601 instant, passed in by the caller (deciders never read a clock). */
  readonly now: string;
}

export interface ResetSelfPassword extends CommandIdentity {
  readonly type: 'ResetSelfPassword';
  readonly contractCode: string;
  readonly now: string;
}

export type ContractCommand =
  | OpenContract
  | AddNumber
  | RemoveNumber
  | SubscribeOption
  | CancelOption
  | ChangeChannels
  | ChangeSelfPassword
  | ResetSelfPassword;

export type ContractCommandType = ContractCommand['type'];

export const CONTRACT_COMMAND_TYPES: readonly ContractCommandType[] = [
  'OpenContract',
  'AddNumber',
  'RemoveNumber',
  'SubscribeOption',
  'CancelOption',
  'ChangeChannels',
  'ChangeSelfPassword',
  'ResetSelfPassword',
];

// ---- state ------------------------------------------------------------------------------------

/** One interval during which the contract holds a number; `to` is the last day held, inclusive. */
export interface NumberHolding {
  readonly number: string;
  /** 基本電話番号 (KDDI's management number) or 追加ダイヤルイン番号. */
  readonly kind: 'basic' | 'dialIn';
  /** au携帯電話番号 linked to a dial-in number. */
  readonly auMobileNumber?: string;
  readonly from: JapanDate;
  readonly to: JapanDate | null;
}

/** One change of an option, effective from 00:00 Asia/Tokyo of its date until the next change. */
export interface OptionChange {
  readonly effectiveFrom: JapanDate;
  readonly subscribed: boolean;
  readonly representativeNumber?: string;
  readonly freecallNumbers?: readonly string[];
}

export interface ChannelChange {
  readonly effectiveFrom: JapanDate;
  readonly channels: number;
}

export interface AbsentContract {
  readonly status: 'absent';
}

export interface OpenContractState {
  readonly status: 'open';
  readonly contractCode: string;
  readonly selfId: string;
  readonly startDate: JapanDate;
  readonly connectionType: string;
  readonly primaryDns: string;
  readonly secondaryDns: string;
  readonly basicNumber: string;
  /** Every holding ever recorded, in recording order (the basic number first). */
  readonly holdings: readonly NumberHolding[];
  /**
   * Per option, its changes sorted by effective date; changes on the same date keep recording
   * order, so the one recorded last wins that date.
   */
  readonly options: Readonly<Record<OptionKey, readonly OptionChange[]>>;
  /** Sorted like the option timelines; the first is the opening's channels on the start date. */
  readonly channels: readonly ChannelChange[];
  readonly passwordChangedAt?: string;
  readonly passwordResetAt?: string;
}

export type ContractState = AbsentContract | OpenContractState;

export function initialState(): ContractState {
  return { status: 'absent' };
}

// ---- evolve -----------------------------------------------------------------------------------

export function evolve(state: ContractState, event: ContractEvent): ContractState {
  switch (event.type) {
    case 'ContractOpened':
      return opened(event);
    case 'NumberAdded': {
      if (state.status !== 'open') return state;
      const { dialInNumber, auMobileNumber, startDate } = event.data;
      const holding: NumberHolding = { number: dialInNumber, kind: 'dialIn', auMobileNumber, from: startDate, to: null };
      return { ...state, holdings: [...state.holdings, holding] };
    }
    case 'NumberRemoved': {
      if (state.status !== 'open') return state;
      const { dialInNumber, endDate } = event.data;
      const index = holdingIndexToEnd(state.holdings, dialInNumber, endDate);
      if (index < 0) return state;
      return { ...state, holdings: state.holdings.map((h, i) => (i === index ? { ...h, to: endDate } : h)) };
    }
    case 'OptionSubscribed': {
      if (state.status !== 'open') return state;
      const { option, effectiveFrom, representativeNumber, freecallNumbers } = event.data;
      const change: OptionChange = {
        effectiveFrom,
        subscribed: true,
        ...(representativeNumber !== undefined ? { representativeNumber } : {}),
        ...(freecallNumbers !== undefined ? { freecallNumbers: [...freecallNumbers] } : {}),
      };
      return withOptionChange(state, option, change);
    }
    case 'OptionCancelled': {
      if (state.status !== 'open') return state;
      const { option, effectiveFrom } = event.data;
      return withOptionChange(state, option, { effectiveFrom, subscribed: false });
    }
    case 'ChannelsChanged': {
      if (state.status !== 'open') return state;
      const { channels, effectiveFrom } = event.data;
      return { ...state, channels: insertByDate(state.channels, { effectiveFrom, channels }) };
    }
    case 'SelfPasswordChanged':
      return state.status === 'open' ? { ...state, passwordChangedAt: event.data.changedAt } : state;
    case 'SelfPasswordReset':
      return state.status === 'open' ? { ...state, passwordResetAt: event.data.resetAt } : state;
    default:
      return unreachable(event);
  }
}

function opened(event: ContractOpened): OpenContractState {
  const d = event.data;
  const options = Object.fromEntries(OPTION_KEYS.map((k) => [k, [] as OptionChange[]])) as Record<OptionKey, OptionChange[]>;
  return {
    status: 'open',
    contractCode: d.contractCode,
    selfId: d.selfId,
    startDate: d.startDate,
    connectionType: d.connectionType,
    primaryDns: d.primaryDns,
    secondaryDns: d.secondaryDns,
    basicNumber: d.basicNumber,
    holdings: [{ number: d.basicNumber, kind: 'basic', from: d.startDate, to: null }],
    options,
    channels: [{ effectiveFrom: d.startDate, channels: d.channels }],
  };
}

function withOptionChange(state: OpenContractState, option: OptionKey, change: OptionChange): OpenContractState {
  // An option key this code does not know (a newer writer) is kept out rather than crashing a replay.
  const timeline = state.options[option];
  if (timeline === undefined) return state;
  return { ...state, options: { ...state.options, [option]: insertByDate(timeline, change) } };
}

/** Insert after every entry with the same or an earlier date: a late change slots into place. */
function insertByDate<T extends { readonly effectiveFrom: JapanDate }>(list: readonly T[], item: T): T[] {
  let at = list.length;
  while (at > 0 && list[at - 1]!.effectiveFrom > item.effectiveFrom) at--;
  return [...list.slice(0, at), item, ...list.slice(at)];
}

/**
 * The dial-in holding a removal ending on `endDate` applies to: the one containing that date
 * (a removal may also shorten an already-ended holding, as a correction).
 */
function holdingIndexToEnd(holdings: readonly NumberHolding[], number: string, endDate: JapanDate): number {
  for (let i = holdings.length - 1; i >= 0; i--) {
    const h = holdings[i]!;
    if (h.kind === 'dialIn' && h.number === number && contains(h, endDate)) return i;
  }
  return -1;
}

function contains(h: { readonly from: JapanDate; readonly to: JapanDate | null }, date: JapanDate): boolean {
  return h.from <= date && (h.to === null || date <= h.to);
}

// ---- decide -----------------------------------------------------------------------------------

export function decide(command: ContractCommand, state: ContractState): ContractEvent[] {
  requireContractCode(command.contractCode);
  switch (command.type) {
    case 'OpenContract':
      return [openContract(command, state)];
    case 'AddNumber':
      return [addNumber(command, requireOpen(command, state))];
    case 'RemoveNumber':
      return [removeNumber(command, requireOpen(command, state))];
    case 'SubscribeOption':
      return [subscribeOption(command, requireOpen(command, state))];
    case 'CancelOption':
      return [cancelOption(command, requireOpen(command, state))];
    case 'ChangeChannels':
      return [changeChannels(command, requireOpen(command, state))];
    case 'ChangeSelfPassword': {
      requireOpen(command, state);
      const changed: SelfPasswordChanged = {
        type: 'SelfPasswordChanged',
        data: { contractCode: command.contractCode, changedAt: requireInstant(command.now, 'now') },
      };
      return [changed];
    }
    case 'ResetSelfPassword': {
      requireOpen(command, state);
      const reset: SelfPasswordReset = {
        type: 'SelfPasswordReset',
        data: { contractCode: command.contractCode, resetAt: requireInstant(command.now, 'now') },
      };
      return [reset];
    }
    default:
      return unreachable(command);
  }
}

function openContract(c: OpenContract, state: ContractState): ContractOpened {
  if (state.status === 'open') {
    throw new DomainError('CONTRACT_ALREADY_OPEN', `contract ${c.contractCode} is already open`, 'contractCode');
  }
  if (!CONTRACT_CODE.test(c.selfId)) {
    throw new DomainError('INVALID_SELF_ID', `self ID must be "d" and 9 digits, got ${JSON.stringify(c.selfId)}`, 'selfId');
  }
  requireDate(c.startDate, 'startDate');
  requireChannels(c.channels, 'channels');
  if (c.connectionType.trim() === '') {
    throw new DomainError('INVALID_CONNECTION_TYPE', 'connection type must not be empty', 'connectionType');
  }
  requireIpv4(c.primaryDns, 'primaryDns');
  requireIpv4(c.secondaryDns, 'secondaryDns');
  requireNumber(c.basicNumber, 'basicNumber');
  return {
    type: 'ContractOpened',
    data: {
      contractCode: c.contractCode,
      selfId: c.selfId,
      startDate: c.startDate,
      channels: c.channels,
      connectionType: c.connectionType,
      primaryDns: c.primaryDns,
      secondaryDns: c.secondaryDns,
      basicNumber: c.basicNumber,
    },
  };
}

function addNumber(c: AddNumber, state: OpenContractState): NumberAdded {
  requireNumber(c.dialInNumber, 'dialInNumber');
  requireNumber(c.auMobileNumber, 'auMobileNumber');
  requireEffectiveDate(state, c.startDate, 'startDate');
  // The new holding runs from startDate on, open-ended: any holding of the same number that has
  // not ended before startDate would overlap it.
  const overlapping = state.holdings.find((h) => h.number === c.dialInNumber && (h.to === null || h.to >= c.startDate));
  if (overlapping) {
    throw new DomainError(
      'NUMBER_ALREADY_HELD',
      `number ${c.dialInNumber} is already held by contract ${state.contractCode} from ${overlapping.from}` +
        (overlapping.to ? ` to ${overlapping.to}` : ''),
      'dialInNumber',
    );
  }
  return {
    type: 'NumberAdded',
    data: { contractCode: c.contractCode, dialInNumber: c.dialInNumber, auMobileNumber: c.auMobileNumber, startDate: c.startDate },
  };
}

function removeNumber(c: RemoveNumber, state: OpenContractState): NumberRemoved {
  requireNumber(c.dialInNumber, 'dialInNumber');
  requireDate(c.endDate, 'endDate');
  if (c.dialInNumber === state.basicNumber) {
    throw new DomainError(
      'BASIC_NUMBER_NOT_REMOVABLE',
      `${c.dialInNumber} is the basic number (基本電話番号) of contract ${state.contractCode} and cannot be removed`,
      'dialInNumber',
    );
  }
  if (holdingIndexToEnd(state.holdings, c.dialInNumber, c.endDate) < 0) {
    throw new DomainError(
      'NUMBER_NOT_ON_CONTRACT',
      `contract ${state.contractCode} does not hold ${c.dialInNumber} on ${c.endDate}`,
      'dialInNumber',
    );
  }
  return { type: 'NumberRemoved', data: { contractCode: c.contractCode, dialInNumber: c.dialInNumber, endDate: c.endDate } };
}

function subscribeOption(c: SubscribeOption, state: OpenContractState): OptionSubscribed {
  requireOption(c.option);
  requireEffectiveDate(state, c.effectiveFrom, 'effectiveFrom');
  const data: OptionSubscribed['data'] = { contractCode: c.contractCode, option: c.option, effectiveFrom: c.effectiveFrom };
  if (c.option !== 'representativeNumber' && c.representativeNumber !== undefined) {
    throw new DomainError('INVALID_OPTION_PARAMETER', `representativeNumber is a parameter of representativeNumber only, not of ${c.option}`, 'representativeNumber');
  }
  if (c.option !== 'freecallNotification' && c.freecallNumbers !== undefined) {
    throw new DomainError('INVALID_OPTION_PARAMETER', `freecallNumbers is a parameter of freecallNotification only, not of ${c.option}`, 'freecallNumbers');
  }
  if (c.option === 'representativeNumber') {
    if (c.representativeNumber === undefined) {
      throw new DomainError('REPRESENTATIVE_NUMBER_REQUIRED', 'the representativeNumber option needs the notified number (通知電話番号)', 'representativeNumber');
    }
    requireNumber(c.representativeNumber, 'representativeNumber');
    if (!holdsNumberOn(state, c.representativeNumber, c.effectiveFrom)) {
      throw new DomainError(
        'REPRESENTATIVE_NUMBER_NOT_HELD',
        `contract ${state.contractCode} does not hold ${c.representativeNumber} on ${c.effectiveFrom}`,
        'representativeNumber',
      );
    }
    data.representativeNumber = c.representativeNumber;
  }
  if (c.option === 'freecallNotification') {
    if (c.freecallNumbers === undefined || c.freecallNumbers.length === 0) {
      throw new DomainError('FREECALL_NUMBERS_REQUIRED', 'the freecallNotification option needs at least one freecall number', 'freecallNumbers');
    }
    c.freecallNumbers.forEach((n, i) => requireNumber(n, `freecallNumbers[${i}]`));
    data.freecallNumbers = [...c.freecallNumbers];
  }
  const current = optionOn(state, c.option, c.effectiveFrom);
  if (
    current.subscribed &&
    current.representativeNumber === data.representativeNumber &&
    sameList(current.freecallNumbers, data.freecallNumbers)
  ) {
    throw new DomainError(
      'OPTION_ALREADY_SUBSCRIBED',
      `option ${c.option} is already subscribed on ${c.effectiveFrom} with the same parameters`,
      'option',
    );
  }
  return { type: 'OptionSubscribed', data };
}

function cancelOption(c: CancelOption, state: OpenContractState): OptionCancelled {
  requireOption(c.option);
  requireEffectiveDate(state, c.effectiveFrom, 'effectiveFrom');
  if (!optionOn(state, c.option, c.effectiveFrom).subscribed) {
    throw new DomainError('OPTION_NOT_SUBSCRIBED', `option ${c.option} is not subscribed on ${c.effectiveFrom}`, 'option');
  }
  return { type: 'OptionCancelled', data: { contractCode: c.contractCode, option: c.option, effectiveFrom: c.effectiveFrom } };
}

function changeChannels(c: ChangeChannels, state: OpenContractState): ChannelsChanged {
  requireChannels(c.channels, 'channels');
  requireEffectiveDate(state, c.effectiveFrom, 'effectiveFrom');
  return { type: 'ChannelsChanged', data: { contractCode: c.contractCode, channels: c.channels, effectiveFrom: c.effectiveFrom } };
}

// ---- validation -------------------------------------------------------------------------------

/** 契約コード and セルフID: `d` + 9 digits. */
export const CONTRACT_CODE = /^d\d{9}$/;
/** Phone numbers as the carrier writes them: digits only; 10–11 in Japan, a little slack kept. */
export const PHONE_NUMBER = /^\d{10,13}$/;
const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

export function isContractCode(text: unknown): text is string {
  return typeof text === 'string' && CONTRACT_CODE.test(text);
}

export function isPhoneNumber(text: unknown): text is string {
  return typeof text === 'string' && PHONE_NUMBER.test(text);
}

function requireContractCode(code: string): void {
  if (!isContractCode(code)) {
    throw new DomainError('INVALID_CONTRACT_CODE', `contract code must be "d" and 9 digits, got ${JSON.stringify(code)}`, 'contractCode');
  }
}

function requireOpen(command: ContractCommand, state: ContractState): OpenContractState {
  if (state.status !== 'open') {
    throw new DomainError('CONTRACT_NOT_FOUND', `contract ${command.contractCode} is not open`, 'contractCode');
  }
  if (state.contractCode !== command.contractCode) {
    throw new DomainError('INVALID_COMMAND', `command for ${command.contractCode} given the state of ${state.contractCode}`, 'contractCode');
  }
  return state;
}

function requireNumber(number: string, field: string): void {
  if (!isPhoneNumber(number)) {
    throw new DomainError('INVALID_NUMBER', `${field} must be 10 to 13 digits, got ${JSON.stringify(number)}`, field);
  }
}

function requireDate(date: string, field: string): void {
  if (typeof date !== 'string' || !isJapanDate(date)) {
    throw new DomainError('INVALID_DATE', `${field} must be a date YYYY-MM-DD, got ${JSON.stringify(date)}`, field);
  }
}

function requireEffectiveDate(state: OpenContractState, date: string, field: string): void {
  requireDate(date, field);
  if (date < state.startDate) {
    throw new DomainError(
      'DATE_BEFORE_CONTRACT_START',
      `${field} ${date} is before the contract's start date ${state.startDate}`,
      field,
    );
  }
}

function requireChannels(channels: number, field: string): void {
  if (typeof channels !== 'number' || !Number.isSafeInteger(channels) || channels < 1) {
    throw new DomainError('INVALID_CHANNELS', `${field} must be a positive whole number, got ${String(channels)}`, field);
  }
}

function requireIpv4(text: string, field: string): void {
  if (typeof text !== 'string' || !IPV4.test(text)) {
    throw new DomainError('INVALID_DNS', `${field} must be an IPv4 address, got ${JSON.stringify(text)}`, field);
  }
}

function requireOption(option: string): asserts option is OptionKey {
  if (!(OPTION_KEYS as readonly string[]).includes(option)) {
    throw new DomainError('UNKNOWN_OPTION', `unknown option ${JSON.stringify(option)}; known: ${OPTION_KEYS.join(', ')}`, 'option');
  }
}

function requireInstant(text: string, field: string): string {
  let ok = false;
  try {
    ok = typeof text === 'string' && Number.isFinite(fromIsoInstant(text));
  } catch {
    ok = false;
  }
  if (!ok) throw new DomainError('INVALID_TIMESTAMP', `${field} must be an ISO-8601 instant, got ${JSON.stringify(text)}`, field);
  return text;
}

function sameList(a: readonly string[] | undefined, b: readonly string[] | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

function sameParameters(a: OptionChange, b: OptionChange): boolean {
  return a.representativeNumber === b.representativeNumber && sameList(a.freecallNumbers, b.freecallNumbers);
}

function unreachable(value: never): never {
  throw new Error(`unhandled: ${JSON.stringify(value)}`);
}

// ---- effective-dated queries ------------------------------------------------------------------

/** The numbers (basic and dial-in) the contract holds on a Japan date, the basic number first. */
export function numbersHeldOn(state: ContractState, date: JapanDate): NumberHolding[] {
  if (state.status !== 'open') return [];
  return state.holdings
    .filter((h) => contains(h, date))
    .sort((a, b) => (a.kind === b.kind ? (a.from < b.from ? -1 : a.from > b.from ? 1 : 0) : a.kind === 'basic' ? -1 : 1));
}

export function holdsNumberOn(state: ContractState, number: string, date: JapanDate): boolean {
  return state.status === 'open' && state.holdings.some((h) => h.number === number && contains(h, date));
}

/** An option's status on a date: what its last change on or before that date says. */
export interface OptionStatus {
  readonly subscribed: boolean;
  readonly effectiveFrom?: JapanDate;
  readonly representativeNumber?: string;
  readonly freecallNumbers?: readonly string[];
}

export function optionOn(state: ContractState, option: OptionKey, date: JapanDate): OptionStatus {
  if (state.status !== 'open') return { subscribed: false };
  const timeline = state.options[option] ?? [];
  let at = -1;
  while (at + 1 < timeline.length && timeline[at + 1]!.effectiveFrom <= date) at++;
  const last = timeline[at];
  if (!last || !last.subscribed) return { subscribed: false };
  // The date the subscription, as it stands on `date`, began: a re-subscribe with other
  // parameters supersedes from its own date, one with the same parameters (a late duplicate) does not.
  let start = last;
  for (let i = at - 1; i >= 0; i--) {
    const earlier = timeline[i]!;
    if (!earlier.subscribed || !sameParameters(earlier, last)) break;
    start = earlier;
  }
  return {
    subscribed: true,
    effectiveFrom: start.effectiveFrom,
    ...(last.representativeNumber !== undefined ? { representativeNumber: last.representativeNumber } : {}),
    ...(last.freecallNumbers !== undefined ? { freecallNumbers: [...last.freecallNumbers] } : {}),
  };
}

export function optionAt(state: ContractState, option: OptionKey, t: Tenths): OptionStatus {
  // Effective dates start at 00:00 Asia/Tokyo, so the instant's Japan date decides.
  return optionOn(state, option, japanDateOf(t));
}

export function optionsOn(state: ContractState, date: JapanDate): Record<OptionKey, OptionStatus> {
  return Object.fromEntries(OPTION_KEYS.map((k) => [k, optionOn(state, k, date)])) as Record<OptionKey, OptionStatus>;
}

export function optionsAt(state: ContractState, t: Tenths): Record<OptionKey, OptionStatus> {
  return optionsOn(state, japanDateOf(t));
}

export function channelsOn(state: ContractState, date: JapanDate): number | undefined {
  if (state.status !== 'open') return undefined;
  let channels: number | undefined;
  for (const change of state.channels) {
    if (change.effectiveFrom > date) break;
    channels = change.channels;
  }
  return channels;
}

/** A stretch of time during which every call of the contract is shown under `number` (SPEC §3.3). */
export interface RepresentativeInterval {
  /** Inclusive, 00:00 Asia/Tokyo of the effective date. */
  readonly from: Tenths;
  /** Exclusive; null while still in effect. */
  readonly to: Tenths | null;
  readonly number: string;
}

/**
 * The representativeNumber option's timeline as non-overlapping intervals, sorted: each subscribe
 * runs until the next change (a cancel, or a subscribe with another number that supersedes it).
 * Adjacent intervals with the same number are merged; a change superseded on its own date leaves
 * no interval.
 */
export function representativeIntervals(state: ContractState): RepresentativeInterval[] {
  if (state.status !== 'open') return [];
  const timeline = state.options.representativeNumber ?? [];
  const out: RepresentativeInterval[] = [];
  for (let i = 0; i < timeline.length; i++) {
    const change = timeline[i]!;
    if (!change.subscribed || change.representativeNumber === undefined) continue;
    const next = timeline[i + 1];
    const from = startOfJapanDate(change.effectiveFrom);
    const to = next ? startOfJapanDate(next.effectiveFrom) : null;
    if (to !== null && to <= from) continue;
    const previous = out[out.length - 1];
    if (previous && previous.number === change.representativeNumber && previous.to === from) {
      out[out.length - 1] = { from: previous.from, to, number: previous.number };
    } else {
      out.push({ from, to, number: change.representativeNumber });
    }
  }
  return out;
}

/** The number every call starting at `t` is shown and totalled under, when the option is in effect. */
export function representativeNumberAt(state: ContractState, t: Tenths): string | undefined {
  for (const interval of representativeIntervals(state)) {
    if (interval.from <= t && (interval.to === null || t < interval.to)) return interval.number;
  }
  return undefined;
}

// ---- portal views -----------------------------------------------------------------------------

/** SPEC §1 ご契約内容, as of a Japan date. */
export interface ContractSummary {
  readonly contractCode: string;
  /** セルフID */
  readonly selfId: string;
  /** ご利用開始日 */
  readonly startDate: JapanDate;
  /** チャンネル数/回線数 */
  readonly channels: number;
  /** 接続タイプ */
  readonly connectionType: string;
  readonly primaryDns: string;
  readonly secondaryDns: string;
  /** 契約電話番号数: includes the basic number (基本電話番号). */
  readonly numberCount: number;
  /** 追加ダイヤルイン番号数 */
  readonly dialInNumberCount: number;
  readonly options: Record<OptionKey, OptionStatus>;
}

/** Undefined when the contract is not open. */
export function contractSummary(state: ContractState, asOfDate: JapanDate): ContractSummary | undefined {
  if (state.status !== 'open') return undefined;
  // Before the start date nothing is held yet; the summary still shows the contract as opened.
  const date = asOfDate < state.startDate ? state.startDate : asOfDate;
  const held = numbersHeldOn(state, date);
  return {
    contractCode: state.contractCode,
    selfId: state.selfId,
    startDate: state.startDate,
    channels: channelsOn(state, date) ?? 0,
    connectionType: state.connectionType,
    primaryDns: state.primaryDns,
    secondaryDns: state.secondaryDns,
    numberCount: held.length,
    dialInNumberCount: held.filter((h) => h.kind === 'dialIn').length,
    options: optionsOn(state, date),
  };
}

/** One line of 契約電話番号詳細. */
export interface NumberDetail {
  /** 基本電話番号 */
  readonly basicNumber: string;
  /** 追加ダイヤルイン番号 */
  readonly dialInNumber: string;
  /** au携帯電話番号 */
  readonly auMobileNumber: string;
  /** ご利用開始日 */
  readonly startDate: JapanDate;
}

/** The dial-in lines held on a date, in start order, for the portal's NEXT / BACK paging. */
export function numberDetailsOn(state: ContractState, date: JapanDate): NumberDetail[] {
  if (state.status !== 'open') return [];
  return numbersHeldOn(state, date)
    .filter((h) => h.kind === 'dialIn')
    .map((h) => ({ basicNumber: state.basicNumber, dialInNumber: h.number, auMobileNumber: h.auMobileNumber ?? '', startDate: h.from }));
}
