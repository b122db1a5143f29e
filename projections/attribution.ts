// Representative-number attribution (SPEC §3.3) from a contract's own events: the projection, verify
// and audit all fold the contract stream through the contract decider's `evolve` and ask it for the
// option's intervals, so the three can never disagree on what the option's timeline is.
import { evolve, initialState, representativeIntervals, type ContractState, type RepresentativeInterval } from '../domain/contract.ts';
import type { ContractEvent } from '../domain/events.ts';
import type { Tenths } from '../domain/time.ts';

export const CONTRACT_EVENT_TYPES = [
  'ContractOpened',
  'NumberAdded',
  'NumberRemoved',
  'OptionSubscribed',
  'OptionCancelled',
  'ChannelsChanged',
  'SelfPasswordChanged',
  'SelfPasswordReset',
] as const satisfies readonly ContractEvent['type'][];

export function foldContract(events: Iterable<{ type: string; data: unknown }>): ContractState {
  let state = initialState();
  for (const e of events) {
    if (!(CONTRACT_EVENT_TYPES as readonly string[]).includes(e.type)) continue;
    state = evolve(state, { type: e.type, data: e.data } as ContractEvent);
  }
  return state;
}

export type { RepresentativeInterval };

export function intervalsOf(state: ContractState): RepresentativeInterval[] {
  return representativeIntervals(state);
}

/** The number a call starting at `startedAt` is shown and totalled under. */
export function attributedNumberOf(intervals: readonly RepresentativeInterval[], usingNumber: string, startedAt: Tenths): string {
  for (const i of intervals) {
    if (i.from <= startedAt && (i.to === null || startedAt < i.to)) return i.number;
  }
  return usingNumber;
}
