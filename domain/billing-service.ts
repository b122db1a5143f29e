// The month-close application service: read the contract's billing stream (and its contract stream,
// for the start date), decide, append under the stream's exact version. Like contract-service.ts,
// this file does the I/O; domain/billing.ts decides.
import { uuidv5 } from './uuid.ts';
import { streams, type ContractEvent, type EventMetadata, type MonthClosed } from './events.ts';
import { decideCloseMonth, evolveBilling, initialBillingState, type CloseMonth } from './billing.ts';
import { evolve, initialState, isContractCode } from './contract.ts';
import { DomainError } from './errors.ts';
import type { Month } from './time.ts';
import type { EventStore, RecordedEvent } from '../eventstore/port.ts';
import { EventIdConflict, ExpectedVersionConflict } from '../eventstore/port.ts';

/** UUIDv5 namespace of MonthClosed ids. Never change it: stored ids depend on it. */
export const BILLING_NAMESPACE = '2b7d9f40-8c1e-4a6b-9e35-d0f4c7a1b862';

/** One close per contract and month: its id says so, whoever closes it and when. */
export function monthClosedIdOf(contractCode: string, month: Month): string {
  return uuidv5(`MonthClosed\u001f${contractCode}\u001f${month}`, BILLING_NAMESPACE);
}

export interface CloseMonthResult {
  readonly contractCode: string;
  readonly month: Month;
  /** False when the month was closed already (nothing appended). */
  readonly closed: boolean;
  /** When the month was closed (now, or the earlier close). */
  readonly closedAt: string;
}

export async function closeMonth(store: EventStore, command: CloseMonth, metadata: EventMetadata = {}): Promise<CloseMonthResult> {
  if (!isContractCode(command.contractCode)) {
    throw new DomainError('INVALID_CONTRACT_CODE', `contract code must be "d" and 9 digits, got ${JSON.stringify(command.contractCode)}`, 'contractCode');
  }
  for (let attempt = 1; ; attempt++) {
    try {
      return await attemptOnce(store, command, metadata);
    } catch (error) {
      // Another engineer closed it (or closed another month) meanwhile: decide again on what is
      // stored. The same close stored first is found by its id before the version is compared.
      const raced = error instanceof ExpectedVersionConflict || (error instanceof EventIdConflict && error.eventId === monthClosedIdOf(command.contractCode, command.month));
      if (!raced || attempt >= 5) throw error;
    }
  }
}

async function attemptOnce(store: EventStore, command: CloseMonth, metadata: EventMetadata): Promise<CloseMonthResult> {
  const contract = (await store.readStream(streams.contract(command.contractCode))).reduce(
    (s, e) => (isContractEvent(e) ? evolve(s, { type: e.type, data: e.data } as ContractEvent) : s),
    initialState(),
  );
  const billingStream = streams.billing(command.contractCode);
  const recorded = await store.readStream(billingStream);
  const state = recorded
    .filter((e) => e.type === 'MonthClosed')
    .reduce((s, e) => evolveBilling(s, { type: 'MonthClosed', data: e.data as MonthClosed['data'] }), initialBillingState(contract.status === 'open' ? contract.startDate : undefined));
  const events = decideCloseMonth(command, state);
  if (events.length === 0) return { contractCode: command.contractCode, month: command.month, closed: false, closedAt: state.closed.get(command.month)! };
  const version = recorded.length === 0 ? 'no_stream' : recorded[recorded.length - 1]!.revision;
  await store.append(
    billingStream,
    events.map((e) => ({ id: monthClosedIdOf(e.data.contractCode, e.data.month), type: e.type, data: e.data, metadata: { ...metadata } })),
    { expectedVersion: version },
  );
  return { contractCode: command.contractCode, month: command.month, closed: true, closedAt: command.now };
}

const CONTRACT_TYPES: ReadonlySet<string> = new Set<ContractEvent['type']>([
  'ContractOpened',
  'NumberAdded',
  'NumberRemoved',
  'OptionSubscribed',
  'OptionCancelled',
  'ChannelsChanged',
  'SelfPasswordChanged',
  'SelfPasswordReset',
]);

function isContractEvent(e: RecordedEvent): boolean {
  return CONTRACT_TYPES.has(e.type);
}
