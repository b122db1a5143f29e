// The number reservation decider, stream `number-<digits>`: a number is held by at most one
// contract on any date. Appended under optimistic concurrency together with the contract event,
// this stream is what enforces that across contracts (one contract's stream cannot see another's).
import type { NumberAssigned, NumberEvent, NumberReleased } from './events.ts';
import { DomainError } from './errors.ts';
import { isContractCode, isPhoneNumber } from './contract.ts';
import type { JapanDate } from './time.ts';
import { isJapanDate } from './time.ts';

/** One contract's hold on the number; `to` is the last day held, inclusive. */
export interface NumberReservation {
  readonly contractCode: string;
  readonly kind: 'basic' | 'dialIn';
  readonly from: JapanDate;
  readonly to: JapanDate | null;
}

export interface NumberState {
  /** Recording order. */
  readonly reservations: readonly NumberReservation[];
}

export interface AssignNumber {
  readonly number: string;
  readonly contractCode: string;
  readonly kind: 'basic' | 'dialIn';
  readonly from: JapanDate;
}

export interface ReleaseNumber {
  readonly number: string;
  readonly contractCode: string;
  /** Last day held (inclusive). */
  readonly endDate: JapanDate;
}

export function initialNumberState(): NumberState {
  return { reservations: [] };
}

export function evolveNumber(state: NumberState, event: NumberEvent): NumberState {
  switch (event.type) {
    case 'NumberAssigned': {
      const { contractCode, kind, from } = event.data;
      return { reservations: [...state.reservations, { contractCode, kind, from, to: null }] };
    }
    case 'NumberReleased': {
      const { contractCode, endDate } = event.data;
      const index = reservationIndexToEnd(state, contractCode, endDate);
      if (index < 0) return state;
      return { reservations: state.reservations.map((r, i) => (i === index ? { ...r, to: endDate } : r)) };
    }
    default:
      return unreachable(event);
  }
}

export function decideAssign(state: NumberState, command: AssignNumber): NumberAssigned[] {
  requireNumber(command.number);
  requireContractCode(command.contractCode);
  requireDate(command.from, 'from');
  // The new reservation is open-ended from `from`: anything not ended before then overlaps it.
  const overlapping = state.reservations.find((r) => r.to === null || r.to >= command.from);
  if (overlapping) {
    throw new DomainError(
      'NUMBER_ALREADY_HELD',
      `number ${command.number} is held by contract ${overlapping.contractCode} from ${overlapping.from}` +
        (overlapping.to ? ` to ${overlapping.to}` : '') +
        `, overlapping ${command.from} onwards`,
      command.kind === 'basic' ? 'basicNumber' : 'dialInNumber',
    );
  }
  return [{ type: 'NumberAssigned', data: { number: command.number, contractCode: command.contractCode, kind: command.kind, from: command.from } }];
}

export function decideRelease(state: NumberState, command: ReleaseNumber): NumberReleased[] {
  requireNumber(command.number);
  requireContractCode(command.contractCode);
  requireDate(command.endDate, 'endDate');
  if (reservationIndexToEnd(state, command.contractCode, command.endDate) < 0) {
    throw new DomainError(
      'NUMBER_NOT_ON_CONTRACT',
      `number ${command.number} is not held by contract ${command.contractCode} on ${command.endDate}`,
      'dialInNumber',
    );
  }
  return [{ type: 'NumberReleased', data: { number: command.number, contractCode: command.contractCode, endDate: command.endDate } }];
}

/** The reservation in force on a Japan date, if any. */
export function reservationOn(state: NumberState, date: JapanDate): NumberReservation | undefined {
  return state.reservations.find((r) => contains(r, date));
}

/**
 * The contract that held the number on a Japan date: the call importer's answer to "whose call is
 * this" (a call belongs to the contract holding its using number on the call's start date).
 */
export function holderOn(state: NumberState, date: JapanDate): string | undefined {
  return reservationOn(state, date)?.contractCode;
}

function reservationIndexToEnd(state: NumberState, contractCode: string, endDate: JapanDate): number {
  for (let i = state.reservations.length - 1; i >= 0; i--) {
    const r = state.reservations[i]!;
    if (r.contractCode === contractCode && contains(r, endDate)) return i;
  }
  return -1;
}

function contains(r: NumberReservation, date: JapanDate): boolean {
  return r.from <= date && (r.to === null || date <= r.to);
}

function requireNumber(number: string): void {
  if (!isPhoneNumber(number)) throw new DomainError('INVALID_NUMBER', `number must be 10 to 13 digits, got ${JSON.stringify(number)}`, 'number');
}

function requireContractCode(code: string): void {
  if (!isContractCode(code)) {
    throw new DomainError('INVALID_CONTRACT_CODE', `contract code must be "d" and 9 digits, got ${JSON.stringify(code)}`, 'contractCode');
  }
}

function requireDate(date: string, field: string): void {
  if (typeof date !== 'string' || !isJapanDate(date)) {
    throw new DomainError('INVALID_DATE', `${field} must be a date YYYY-MM-DD, got ${JSON.stringify(date)}`, field);
  }
}

function unreachable(value: never): never {
  throw new Error(`unhandled: ${JSON.stringify(value)}`);
}
