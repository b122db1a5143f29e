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
 * The command's content: its JSON with sorted keys, without the initial password (a 4–8 character
 * password hashed into a public event id could be recovered by brute force) and without its
 * commandId (the same content is the same content, whatever ticket it came on).
 */
export function canonicalCommandJson(command: ContractCommand): string {
  const { initialPassword: _secret, commandId: _id, ...rest } = command as ContractCommand & { initialPassword?: string };
  return canonicalJson(rest);
}

/**
 * Index 0 is the contract event; index 1 the number-stream event, when the command has one.
 * With a commandId the id is the commandId's (within the contract); without one, the content's —
 * as every command had before commandIds, so a file imported then is recognised now.
 */
export function commandEventId(command: ContractCommand, index: number): string {
  if (command.commandId !== undefined) {
    return uuidv5(`${command.contractCode}\u001fcommandId\u001f${command.commandId}#${index}`, CONTRACT_COMMAND_NAMESPACE);
  }
  return uuidv5(`${canonicalCommandJson(command)}#${index}`, CONTRACT_COMMAND_NAMESPACE);
}

/** A fingerprint of the command's content: kept with a commandId's events, to tell a repeat from a conflict. */
export function commandDigest(command: ContractCommand): string {
  return uuidv5(`${canonicalCommandJson(command)}#digest`, CONTRACT_COMMAND_NAMESPACE);
}

/** What the events of a command carry besides their data: where from, and (with a commandId) what. */
export function commandMetadata(command: ContractCommand, metadata: EventMetadata | undefined): EventMetadata {
  return {
    ...metadata,
    commandType: command.type,
    ...(command.commandId !== undefined ? { commandId: command.commandId, commandDigest: commandDigest(command) } : {}),
  };
}

// ---- repeats ----------------------------------------------------------------------------------
// A command whose id is stored already is a repeat. With a commandId it is the same command (the
// same content: already present) or a conflict. Without one its identity is its content, and the
// same content may be a new command: subscribe → cancel → subscribe again. So a repeat without a
// commandId is "already present" only while nothing has changed the same thing since (a plain
// re-delivery of a file); once something has, it is refused, asking for a commandId — never
// reported as present while the ledger says otherwise.

/** What a command changes: a later change of the same subject supersedes it. */
export function subjectOfCommand(command: ContractCommand): string {
  switch (command.type) {
    case 'OpenContract':
      return 'contract';
    case 'AddNumber':
    case 'RemoveNumber':
      return `number ${command.dialInNumber}`;
    case 'SubscribeOption':
    case 'CancelOption':
      return `option ${command.option}`;
    case 'ChangeChannels':
      return 'channels';
    case 'ChangeSelfPassword':
    case 'ResetSelfPassword':
      return 'password';
    default:
      return unreachable(command);
  }
}

/** The subject of a stored contract event (undefined for a type this code does not know). */
export function subjectOfEvent(e: { readonly type: string; readonly data: unknown }): string | undefined {
  const d = e.data as { dialInNumber?: string; option?: string };
  switch (e.type) {
    case 'ContractOpened':
      return 'contract';
    case 'NumberAdded':
    case 'NumberRemoved':
      return `number ${d.dialInNumber}`;
    case 'OptionSubscribed':
    case 'OptionCancelled':
      return `option ${d.option}`;
    case 'ChannelsChanged':
      return 'channels';
    case 'SelfPasswordChanged':
    case 'SelfPasswordReset':
      return 'password';
    default:
      return undefined;
  }
}

export interface StoredEventLike {
  readonly id: string;
  readonly type: string;
  readonly data: unknown;
  readonly metadata?: Record<string, unknown>;
}

export type RepeatVerdict =
  | { readonly kind: 'alreadyPresent' }
  /** The same commandId was given to a command with other content. */
  | { readonly kind: 'conflict'; readonly stored: StoredEventLike }
  /** The same content without a commandId, after a later change of the same subject. */
  | { readonly kind: 'superseded'; readonly stored: StoredEventLike; readonly by: StoredEventLike };

/**
 * A command whose contract event is stored in `stream` (the contract's events in order): already
 * present, a conflict, or superseded. `comingLater`: ids of events the same file delivers again
 * on later lines (a re-delivered file supersedes nothing of its own).
 */
export function judgeRepeat(command: ContractCommand, stream: readonly StoredEventLike[], comingLater: { has(id: string): boolean } = new Set<string>()): RepeatVerdict {
  const id = commandEventId(command, 0);
  const at = stream.findIndex((e) => e.id === id);
  if (at < 0) throw new Error(`judgeRepeat: ${id} is not in the stream`);
  const stored = stream[at]!;
  if (command.commandId !== undefined) {
    return stored.metadata?.commandDigest === commandDigest(command) ? { kind: 'alreadyPresent' } : { kind: 'conflict', stored };
  }
  const subject = subjectOfCommand(command);
  const by = stream.slice(at + 1).find((e) => subjectOfEvent(e) === subject && !comingLater.has(e.id));
  return by ? { kind: 'superseded', stored, by } : { kind: 'alreadyPresent' };
}

/** The DomainError for a repeat that is not already present. */
export function repeatError(command: ContractCommand, verdict: Exclude<RepeatVerdict, { kind: 'alreadyPresent' }>): DomainError {
  const from = (e: StoredEventLike) => (typeof e.metadata?.source === 'string' ? ` (from ${e.metadata.source})` : '');
  if (verdict.kind === 'conflict') {
    return new DomainError(
      'COMMAND_ID_CONFLICT',
      `commandId ${JSON.stringify(command.commandId)} is already recorded for ${command.contractCode} with other content${from(verdict.stored)}; a commandId names one command`,
      'commandId',
    );
  }
  return new DomainError(
    'COMMAND_SUPERSEDED',
    `this ${command.type} repeats one already recorded${from(verdict.stored)}, which a later ${verdict.by.type}${from(verdict.by)} has since superseded; ` +
      'if it is a new command, give it a "commandId" (the order or ticket number it comes from)',
    'commandId',
  );
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
const commandId = z.string().min(1, 'must not be empty').max(64, 'at most 64 characters').optional();

const commandSchema = z.discriminatedUnion('type', [
  z.strictObject({
    type: z.literal('OpenContract'),
    commandId,
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
  z.strictObject({ type: z.literal('AddNumber'), commandId, contractCode, dialInNumber: text, auMobileNumber: text, startDate: text }),
  z.strictObject({ type: z.literal('RemoveNumber'), commandId, contractCode, dialInNumber: text, endDate: text }),
  z.strictObject({
    type: z.literal('SubscribeOption'),
    commandId,
    contractCode,
    option: text,
    effectiveFrom: text,
    representativeNumber: text.optional(),
    freecallNumbers: z.array(text).optional(),
  }),
  z.strictObject({ type: z.literal('CancelOption'), commandId, contractCode, option: text, effectiveFrom: text }),
  z.strictObject({ type: z.literal('ChangeChannels'), commandId, contractCode, channels: z.number(), effectiveFrom: text }),
  z.strictObject({ type: z.literal('ChangeSelfPassword'), commandId, contractCode, now: text }),
  z.strictObject({ type: z.literal('ResetSelfPassword'), commandId, contractCode, now: text }),
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
  if (contractRecorded.some((e) => e.id === contractEventId)) {
    // A commandId given to other content is refused. Whether a repeat without one was superseded
    // is the importer's to judge: it sees the file, and one command alone cannot tell a file
    // delivered again, command by command, from a new command.
    const verdict = judgeRepeat(command, contractRecorded);
    if (verdict.kind === 'conflict') throw repeatError(command, verdict);
    return { alreadyPresent: true, events: [], batches: [] };
  }

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
    metadata: commandMetadata(command, metadata),
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
