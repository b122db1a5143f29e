// Import of contract changes (INTERFACE "Contract changes", JSON Lines): every line is parsed and
// decided against the contract and number states evolved in memory — the state the file itself
// builds up, line after line — and only when every line passes are all the events appended, in
// one transaction (SQL store) or one appendMany. Event ids are the contract service's
// deterministic ones, so a re-run of the same file finds its commands already present.
//
// OpenContract's initialPassword goes into the credentials table as a slow salted hash
// (projections/credentials.ts), in the same transaction as the events (hashed before it); never
// into an event or a log.
//
// A command repeated in a file, or already stored, is judged by judgeRepeat (contract-service.ts):
// with a commandId, the same content is already present and other content a conflict; without one,
// a repeat of a command something has superseded since (subscribe → cancel → subscribe) is refused.
import type { Kysely } from 'kysely';
import {
  commandDigest,
  commandEventId,
  commandMetadata,
  judgeRepeat,
  numbersAffectedBy,
  parseContractCommand,
  planContractCommand,
  repeatError,
  subjectOfCommand,
  type StoredEventLike,
} from '../domain/contract-service.ts';
import { evolve, initialState, isContractCode, isPhoneNumber, type ContractCommand, type ContractState } from '../domain/contract.ts';
import { DomainError } from '../domain/errors.ts';
import { streams, type ContractEvent, type NumberEvent } from '../domain/events.ts';
import { evolveNumber, initialNumberState, type NumberState } from '../domain/numbers.ts';
import type { EventStore, EventToAppend, RecordedEvent } from '../eventstore/port.ts';
import { hashPassword, insertInitialCredentials } from '../projections/credentials.ts';
import { appendAll, importWithRetries, plural, readJsonLines, StreamBatches, type ImportResult, type JsonLinesOptions } from './jsonl.ts';
import { ProblemList } from './problems.ts';
import type { ImportInput } from './source.ts';
import { basename } from 'node:path';

export interface ContractImportOptions extends JsonLinesOptions {
  /**
   * Where credentials live when the event store is not the SQL one (EventStoreDB): the projections
   * database. With the SQL store they are written in the events' own transaction.
   */
  readonly credentialsDb?: Kysely<any>;
  /** Attempts when another writer changes a stream between validation and append (default 3). */
  readonly maxAttempts?: number;
  /** How initial passwords are hashed (default: projections/credentials.ts's scrypt). */
  readonly hashPassword?: (password: string) => Promise<string>;
}

interface Tracked<S> {
  state: S;
  /** Version read from the store (-1: no stream). */
  readonly version: number;
  readonly ids: Set<string>;
}

interface TrackedContract extends Tracked<ContractState> {
  /** The stream as stored, then the events this file adds, in order (for judgeRepeat). */
  readonly events: StoredEventLike[];
}

interface Credential {
  readonly contractCode: string;
  readonly selfId: string;
  readonly password: string;
}

export async function importContracts(store: EventStore, input: ImportInput, options: ContractImportOptions = {}): Promise<ImportResult> {
  return importWithRetries(input, options, (bytes, name) => importOnce(store, bytes, name, options));
}

async function importOnce(store: EventStore, bytes: Buffer, name: string, options: ContractImportOptions): Promise<ImportResult> {
  const problems = new ProblemList(options.maxProblems ?? 100);
  const { file, lines } = await readJsonLines(bytes, { ...options, name }, problems);
  const sourceName = basename(file);
  const contracts = new Map<string, TrackedContract>();
  const numbers = new Map<string, Tracked<NumberState>>();
  const batches = new StreamBatches();
  const credentials: Credential[] = [];
  let imported = 0;
  let alreadyPresent = 0;
  let duplicates = 0;

  const contractOf = async (code: string) => {
    let t = contracts.get(code);
    if (!t) {
      const recorded = await store.readStream(streams.contract(code));
      t = {
        state: recorded.reduce((s, e) => evolve(s, e as unknown as ContractEvent), initialState()),
        version: versionOf(recorded),
        ids: idsOf(recorded),
        events: [...recorded],
      };
      contracts.set(code, t);
    }
    return t;
  };
  const numberOf = async (number: string) => {
    let t = numbers.get(number);
    if (!t) {
      const recorded = await store.readStream(streams.number(number));
      t = { state: recorded.reduce((s, e) => evolveNumber(s, e as unknown as NumberEvent), initialNumberState()), version: versionOf(recorded), ids: idsOf(recorded) };
      numbers.set(number, t);
    }
    return t;
  };

  // Every line parsed first: whether a repeated command was superseded depends on what the later
  // lines of the same file deliver (a re-delivered file supersedes nothing of its own).
  const commands: { line: number; command: ContractCommand; id: string }[] = [];
  for (const { line, value } of lines) {
    try {
      const command = parseContractCommand(value);
      if (!isContractCode(command.contractCode)) {
        throw new DomainError('INVALID_CONTRACT_CODE', `contract code must be "d" and 9 digits, got ${JSON.stringify(command.contractCode)}`, 'contractCode');
      }
      commands.push({ line, command, id: commandEventId(command, 0) });
    } catch (e) {
      if (!(e instanceof DomainError)) throw e;
      problems.add({ file, line, field: e.code, message: e.message });
    }
  }
  const lastIndexOf = new Map(commands.map((c, i) => [c.id, i]));
  const firstIndexOf = new Map<string, number>();

  for (const [k, { line, command, id: firstId }] of commands.entries()) {
    const problem = (e: DomainError) => problems.add({ file, line, field: e.code, message: e.message });
    const earlier = firstIndexOf.get(firstId);
    if (earlier !== undefined) {
      // The same id on an earlier line of this file.
      const first = commands[earlier]!;
      if (command.commandId !== undefined) {
        if (commandDigest(first.command) === commandDigest(command)) duplicates++;
        else problem(new DomainError('COMMAND_ID_CONFLICT', `commandId ${JSON.stringify(command.commandId)} is on line ${first.line} too, with other content; a commandId names one command`, 'commandId'));
        continue;
      }
      const subject = subjectOfCommand(command);
      const between = commands.slice(earlier + 1, k).find((c) => c.command.contractCode === command.contractCode && subjectOfCommand(c.command) === subject);
      if (between) {
        problem(
          new DomainError(
            'COMMAND_SUPERSEDED',
            `this line repeats line ${first.line}, which line ${between.line} has since superseded; if it is a new command, give it a "commandId" (the order or ticket number it comes from)`,
            'commandId',
          ),
        );
      } else duplicates++;
      continue;
    }
    firstIndexOf.set(firstId, k);

    const contract = await contractOf(command.contractCode);
    const password = command.type === 'OpenContract' ? command.initialPassword : undefined;
    if (contract.ids.has(firstId)) {
      const verdict = judgeRepeat(command, contract.events, { has: (id) => (lastIndexOf.get(id) ?? -1) > k });
      if (verdict.kind !== 'alreadyPresent') {
        problem(repeatError(command, verdict));
        continue;
      }
      alreadyPresent++;
      // Idempotent (insert … on conflict do nothing): heals a crash between events and credentials
      // on a store where the two are not one transaction.
      if (password !== undefined && command.type === 'OpenContract') credentials.push({ contractCode: command.contractCode, selfId: command.selfId, password });
      continue;
    }
    const numberStates = new Map<string, NumberState>();
    const numbersDone = new Set<string>();
    const numberEventId = commandEventId(command, 1);
    for (const n of numbersAffectedBy(command)) {
      if (!isPhoneNumber(n)) continue;
      const t = await numberOf(n);
      numberStates.set(n, t.state);
      if (t.ids.has(numberEventId)) numbersDone.add(n);
    }
    let plan;
    try {
      plan = planContractCommand(command, contract.state, numberStates, numbersDone);
    } catch (e) {
      if (!(e instanceof DomainError)) throw e;
      problem(e);
      continue;
    }
    // The ids the contract service gives (contract events first, then reservations), so that the
    // CLI, the API and this importer recognise each other's commands.
    const metadata = commandMetadata(command, { source: `${sourceName}:${line}` });
    const toAppend = (index: number, e: ContractEvent | NumberEvent): EventToAppend => ({ id: commandEventId(command, index), type: e.type, data: e.data, metadata });
    let index = 0;
    for (const e of plan.contract) {
      const item = toAppend(index++, e);
      batches.add(streams.contract(command.contractCode), item, expected(contract.version));
      contract.state = evolve(contract.state, e);
      contract.ids.add(item.id);
      // A later line repeating an earlier command is judged against this one too.
      contract.events.push(item);
    }
    for (const { number, events } of plan.numbers) {
      const t = await numberOf(number);
      for (const e of events) {
        batches.add(streams.number(number), toAppend(index++, e), expected(t.version));
        t.state = evolveNumber(t.state, e);
        t.ids.add(commandEventId(command, index - 1));
      }
    }
    if (password !== undefined && command.type === 'OpenContract') credentials.push({ contractCode: command.contractCode, selfId: command.selfId, password });
    imported++;
  }

  if (!problems.isEmpty) throw problems.reject(`${file}: ${plural(problems.count, 'problem')}; nothing applied`);

  // Hashed before the transaction: scrypt takes about 100 ms a password, and the transaction holds
  // the writers' lock (20 new contracts kept another append waiting 4.2 s).
  const hash = options.hashPassword ?? hashPassword;
  const hashed = await Promise.all(credentials.map(async (c) => ({ contractCode: c.contractCode, selfId: c.selfId, passwordHash: await hash(c.password) })));
  await appendAll(store, batches.batches, async (trx) => {
    const db = trx ?? options.credentialsDb;
    if (hashed.length === 0) return;
    if (!db) throw new Error('initial passwords need a credentials database (credentialsDb) with this event store');
    for (const c of hashed) await insertInitialCredentials(db, c);
  });
  return { file, read: lines.length, imported, alreadyPresent, duplicates };
}

function versionOf(recorded: readonly RecordedEvent[]): number {
  return recorded.length === 0 ? -1 : recorded[recorded.length - 1]!.revision;
}

function idsOf(recorded: readonly RecordedEvent[]): Set<string> {
  return new Set(recorded.map((e) => e.id));
}

function expected(version: number): number | 'no_stream' {
  return version < 0 ? 'no_stream' : version;
}
