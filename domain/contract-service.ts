// The contract application service: parse a command once at the edge, read the contract stream and
// the number streams it touches, decide, and append them all together under exact expected
// versions. This is the only contract file that does I/O; `planContractCommand` is its pure core.
import { uuidv5 } from './uuid.ts';
import { canonicalJson } from './canonical-json.ts';
import { z } from 'zod';
import type { ContractEvent, EventMetadata, NumberEvent } from './events.ts';
import { OPTION_KEYS, streams } from './events.ts';
import { DomainError } from './errors.ts';
import type { ContractCommand, ContractState } from './contract.ts';
import { decide, evolve, initialState, isContractCode, isPhoneNumber } from './contract.ts';
import type { NumberState } from './numbers.ts';
import { decideAssign, decideRelease, evolveNumber, initialNumberState } from './numbers.ts';
import type { EventStore, EventToAppend, RecordedEvent, StreamAppend } from '../eventstore/port.ts';
import { ExpectedVersionConflict } from '../eventstore/port.ts';

// ---- deterministic ids ------------------------------------------------------------------------

/** UUIDv5 namespace of contract-command event ids. Never change it: stored ids depend on it. */
export const CONTRACT_COMMAND_NAMESPACE = '6f1c2a7e-3b9d-4c5e-8a1f-2d3e4b5c6a7d';

/**
 * The command's identity: its JSON with sorted keys, without the initial password (a 4–8 character
 * password hashed into a public event id could be recovered by brute force).
 */
export function canonicalCommandJson(command: ContractCommand): string {
  const { initialPassword: _secret, ...rest } = command as ContractCommand & { initialPassword?: string };
  return canonicalJson(rest);
}

/** Index 0 is the contract event; index 1 the number-stream event, when the command has one. */
export function commandEventId(command: ContractCommand, index: number): string {
  return uuidv5(`${canonicalCommandJson(command)}#${index}`, CONTRACT_COMMAND_NAMESPACE);
}

// ---- pure core --------------------------------------------------------------------------------

/** The number streams a command has to read and may append to. */
export function numbersAffectedBy(command: ContractCommand): string[] {
  switch (command.type) {
    case 'OpenContract':
      return [command.basicNumber];
    case 'AddNumber':
    case 'RemoveNumber':
      return [command.dialInNumber];
    case 'SubscribeOption':
    case 'CancelOption':
    case 'ChangeChannels':
    case 'ChangeSelfPassword':
    case 'ResetSelfPassword':
      return [];
    default:
      return unreachable(command);
  }
}

export interface ContractCommandPlan {
  readonly contract: ContractEvent[];
  /** Per number stream, the reservation events to append (empty arrays are left out). */
  readonly numbers: ReadonlyArray<{ readonly number: string; readonly events: NumberEvent[] }>;
}

/**
 * Decide a command against the contract state and the states of the number streams it touches.
 * Pure. `numbersDone` names number streams that already hold this command's event (a retry after
 * an adapter without atomic multi-stream appends stored only part of it): they are not decided again.
 */
export function planContractCommand(
  command: ContractCommand,
  contract: ContractState,
  numbers: ReadonlyMap<string, NumberState>,
  numbersDone: ReadonlySet<string> = new Set(),
): ContractCommandPlan {
  const contractEvents = decide(command, contract);
  const numberEvents: { number: string; events: NumberEvent[] }[] = [];
  for (const event of contractEvents) {
    const reservation = reservationFor(event, numbers, numbersDone);
    if (reservation) numberEvents.push(reservation);
  }
  return { contract: contractEvents, numbers: numberEvents };
}

function reservationFor(
  event: ContractEvent,
  numbers: ReadonlyMap<string, NumberState>,
  numbersDone: ReadonlySet<string>,
): { number: string; events: NumberEvent[] } | undefined {
  const stateOf = (n: string) => numbers.get(n) ?? initialNumberState();
  switch (event.type) {
    case 'ContractOpened': {
      const { basicNumber: number, contractCode, startDate } = event.data;
      if (numbersDone.has(number)) return undefined;
      return { number, events: decideAssign(stateOf(number), { number, contractCode, kind: 'basic', from: startDate }) };
    }
    case 'NumberAdded': {
      const { dialInNumber: number, contractCode, startDate } = event.data;
      if (numbersDone.has(number)) return undefined;
      return { number, events: decideAssign(stateOf(number), { number, contractCode, kind: 'dialIn', from: startDate }) };
    }
    case 'NumberRemoved': {
      const { dialInNumber: number, contractCode, endDate } = event.data;
      if (numbersDone.has(number)) return undefined;
      return { number, events: decideRelease(stateOf(number), { number, contractCode, endDate }) };
    }
    case 'OptionSubscribed':
    case 'OptionCancelled':
    case 'ChannelsChanged':
    case 'SelfPasswordChanged':
    case 'SelfPasswordReset':
      return undefined;
    default:
      return unreachable(event);
  }
}

// ---- parsing ----------------------------------------------------------------------------------

const text = z.string();
const contractCode = z.string();

const commandSchema = z.discriminatedUnion('type', [
  z.strictObject({
    type: z.literal('OpenContract'),
    contractCode,
    selfId: text,
    initialPassword: text.optional(),
    startDate: text,
    channels: z.number(),
    connectionType: text,
    primaryDns: text,
    secondaryDns: text,
    basicNumber: text,
  }),
  z.strictObject({ type: z.literal('AddNumber'), contractCode, dialInNumber: text, auMobileNumber: text, startDate: text }),
  z.strictObject({ type: z.literal('RemoveNumber'), contractCode, dialInNumber: text, endDate: text }),
  z.strictObject({
    type: z.literal('SubscribeOption'),
    contractCode,
    option: text,
    effectiveFrom: text,
    representativeNumber: text.optional(),
    freecallNumbers: z.array(text).optional(),
  }),
  z.strictObject({ type: z.literal('CancelOption'), contractCode, option: text, effectiveFrom: text }),
  z.strictObject({ type: z.literal('ChangeChannels'), contractCode, channels: z.number(), effectiveFrom: text }),
  z.strictObject({ type: z.literal('ChangeSelfPassword'), contractCode, now: text }),
  z.strictObject({ type: z.literal('ResetSelfPassword'), contractCode, now: text }),
]);

/**
 * Check the shape of one command (a JSON Lines line, already JSON-parsed). Formats and rules
 * (dates, numbers, codes) are the decider's, so each keeps its own precise error code; an option
 * key is checked here since the command type names the known ones.
 */
export function parseContractCommand(json: unknown): ContractCommand {
  const result = commandSchema.safeParse(json);
  if (!result.success) {
    const issue = result.error.issues[0];
    const { field, message } = describeIssue(issue, json);
    throw new DomainError('INVALID_COMMAND', message, field);
  }
  const command = result.data;
  if ((command.type === 'SubscribeOption' || command.type === 'CancelOption') && !isOptionKey(command.option)) {
    throw new DomainError('UNKNOWN_OPTION', `option: unknown option ${JSON.stringify(command.option)}; known: ${OPTION_KEYS.join(', ')}`, 'option');
  }
  return command as ContractCommand;
}

function isOptionKey(text: string): boolean {
  return (OPTION_KEYS as readonly string[]).includes(text);
}

const COMMAND_TYPES_TEXT = 'OpenContract, AddNumber, RemoveNumber, SubscribeOption, CancelOption, ChangeChannels, ChangeSelfPassword, ResetSelfPassword';

function describeIssue(issue: z.core.$ZodIssue | undefined, json: unknown): { field?: string; message: string } {
  if (json === null || typeof json !== 'object' || Array.isArray(json)) return { message: 'a contract command must be a JSON object' };
  if (issue === undefined) return { message: 'not a contract command' };
  if (issue.code === 'unrecognized_keys') {
    return { field: issue.keys[0], message: `unknown field${issue.keys.length > 1 ? 's' : ''}: ${issue.keys.join(', ')}` };
  }
  const field = issue.path.reduce<string>(
    (acc, key) => (typeof key === 'number' ? `${acc}[${key}]` : acc === '' ? String(key) : `${acc}.${String(key)}`),
    '',
  );
  if (field === '' || field === 'type') {
    const type = (json as Record<string, unknown>).type;
    return {
      field: 'type',
      message: `type: ${type === undefined ? 'missing' : `unknown command ${JSON.stringify(type)}`}; expected one of ${COMMAND_TYPES_TEXT}`,
    };
  }
  if (issue.code === 'invalid_type' && / received undefined$/.test(issue.message)) {
    return { field, message: `${field}: missing (expected ${issue.expected})` };
  }
  return { field, message: `${field}: ${issue.message}` };
}

// ---- the service ------------------------------------------------------------------------------

export interface HandleContractCommandOptions {
  /** Written on every event (`source`: a file and line, or a request id). */
  readonly metadata?: EventMetadata;
  /** Attempts when another writer got there first (ExpectedVersionConflict). Default 5. */
  readonly maxAttempts?: number;
}

export interface StoredCommandEvent {
  readonly streamId: string;
  readonly id: string;
  readonly type: string;
  readonly data: unknown;
}

export interface ContractCommandResult {
  /** The command's events were already stored (a re-run of the same command): nothing appended. */
  readonly alreadyPresent: boolean;
  /** The events appended now, contract event first. Empty when alreadyPresent. */
  readonly events: readonly StoredCommandEvent[];
}

export async function handleContractCommand(
  store: EventStore,
  command: ContractCommand,
  options: HandleContractCommandOptions = {},
): Promise<ContractCommandResult> {
  const maxAttempts = Math.max(1, options.maxAttempts ?? 5);
  for (let attempt = 1; ; attempt++) {
    try {
      return await attemptOnce(store, command, options.metadata);
    } catch (error) {
      if (!isExpectedVersionConflict(error) || attempt >= maxAttempts) throw error;
    }
  }
}

async function attemptOnce(store: EventStore, command: ContractCommand, metadata: EventMetadata | undefined): Promise<ContractCommandResult> {
  const planned = await planContractAppend(store, command, metadata);
  if (planned.alreadyPresent) return { alreadyPresent: true, events: [] };
  await store.appendMany(planned.batches);
  return { alreadyPresent: false, events: planned.events };
}

export interface PlannedContractAppend extends ContractCommandResult {
  /** What to append, each stream under the exact version it was decided on. Empty when alreadyPresent. */
  readonly batches: readonly StreamAppend[];
}

/**
 * Reads and decides a command without appending: what handleContractCommand would append now. For
 * a caller that appends the batches in a transaction of its own together with its own rows
 * (StoreTransaction.append), reading before that transaction opens; an ExpectedVersionConflict
 * from the append means another writer got there first: plan again.
 */
export async function planContractAppend(store: EventStore, command: ContractCommand, metadata: EventMetadata | undefined): Promise<PlannedContractAppend> {
  // The code is checked before it names a stream to read.
  if (!isContractCode(command.contractCode)) {
    throw new DomainError('INVALID_CONTRACT_CODE', `contract code must be "d" and 9 digits, got ${JSON.stringify(command.contractCode)}`, 'contractCode');
  }
  const contractStream = streams.contract(command.contractCode);
  const contractRecorded = await store.readStream(contractStream);
  const contractEventId = commandEventId(command, 0);
  if (contractRecorded.some((e) => e.id === contractEventId)) return { alreadyPresent: true, events: [], batches: [] };

  const contractState = contractRecorded.reduce((s, e) => evolve(s, asContractEvent(e)), initialState());
  const numberEventId = commandEventId(command, 1);
  const numberStates = new Map<string, NumberState>();
  const numberVersions = new Map<string, number>();
  const numbersDone = new Set<string>();
  for (const number of numbersAffectedBy(command)) {
    // A malformed number is left for the decider to reject; it never names a stream.
    if (!isPhoneNumber(number)) continue;
    const recorded = await store.readStream(streams.number(number));
    numberStates.set(number, recorded.reduce((s, e) => evolveNumber(s, asNumberEvent(e)), initialNumberState()));
    numberVersions.set(number, versionOf(recorded));
    if (recorded.some((e) => e.id === numberEventId)) numbersDone.add(number);
  }

  const plan = planContractCommand(command, contractState, numberStates, numbersDone);
  const toAppend = (id: string, e: ContractEvent | NumberEvent): EventToAppend => ({
    id,
    type: e.type,
    data: e.data,
    metadata: { ...metadata, commandType: command.type },
  });
  // Ids by position in the command's output: the contract event(s) first, then reservations.
  const contractItems = plan.contract.map((e, i) => toAppend(commandEventId(command, i), e));
  let nextIndex = contractItems.length;
  const numberBatches: StreamAppend[] = plan.numbers
    .filter(({ events }) => events.length > 0)
    .map(({ number, events }) => ({
      streamId: streams.number(number),
      events: events.map((e) => toAppend(commandEventId(command, nextIndex++), e)),
      expectedVersion: expected(numberVersions.get(number) ?? -1),
    }));

  const stored = (streamId: string, item: EventToAppend): StoredCommandEvent => ({ streamId, id: item.id, type: item.type, data: item.data });
  return {
    alreadyPresent: false,
    // Number streams first: on an adapter without atomic multi-stream appends, the reservation is
    // made before the contract records the number, and a retry finds it by id (numbersDone).
    batches: [...numberBatches, { streamId: contractStream, events: contractItems, expectedVersion: expected(versionOf(contractRecorded)) }],
    events: [
      ...contractItems.map((item) => stored(contractStream, item)),
      ...numberBatches.flatMap((b) => b.events.map((item) => stored(b.streamId, item))),
    ],
  };
}

function versionOf(recorded: readonly RecordedEvent[]): number {
  return recorded.length === 0 ? -1 : recorded[recorded.length - 1]!.revision;
}

function expected(version: number): number | 'no_stream' {
  return version < 0 ? 'no_stream' : version;
}

export function isExpectedVersionConflict(error: unknown): boolean {
  return (
    error instanceof ExpectedVersionConflict ||
    (error !== null && typeof error === 'object' && (error as { code?: unknown }).code === 'EXPECTED_VERSION_CONFLICT')
  );
}

const CONTRACT_EVENT_TYPES: ReadonlySet<string> = new Set<ContractEvent['type']>([
  'ContractOpened',
  'NumberAdded',
  'NumberRemoved',
  'OptionSubscribed',
  'OptionCancelled',
  'ChannelsChanged',
  'SelfPasswordChanged',
  'SelfPasswordReset',
]);

function asContractEvent(e: RecordedEvent): ContractEvent {
  if (!CONTRACT_EVENT_TYPES.has(e.type)) throw new Error(`stream ${e.streamId} holds an event of type ${e.type} at revision ${e.revision}`);
  return { type: e.type, data: e.data, metadata: e.metadata } as ContractEvent;
}

function asNumberEvent(e: RecordedEvent): NumberEvent {
  if (e.type !== 'NumberAssigned' && e.type !== 'NumberReleased') {
    throw new Error(`stream ${e.streamId} holds an event of type ${e.type} at revision ${e.revision}`);
  }
  return { type: e.type, data: e.data, metadata: e.metadata } as NumberEvent;
}

function unreachable(value: never): never {
  throw new Error(`unhandled: ${JSON.stringify(value)}`);
}
