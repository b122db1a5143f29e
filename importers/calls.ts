// Import of the carrier's call-detail CSV (SPEC §3, §7.2; INTERFACE `ledger import calls`).
//
// A bad file appends nothing, and a kill -9 at any moment leaves either the whole file or nothing
// (the same command run again finishes the job: test/import.crash.test.ts). Two ways:
//   - one pass (a store with the bulkAppend capability, as the SQL one, and a file never seen
//     before): every row is checked and written at once into ONE transaction (bulkWrite: COPY on
//     PostgreSQL) while the next rows are read; any problem rolls it all back. If a call of the file is stored already,
//     the unique index says so and the import starts again the careful way:
//   - two passes: 1. validate: decode, check the header byte-for-byte, validate every field of
//     every row (parseCallRow), find the contract that held the using number on the call's start
//     date, spot exact duplicates and conflicting rows inside the file, and compare with calls
//     already stored. Every problem is collected (capped); any problem refuses the file.
//     2. append: read the file again and append CallRecorded events (id = callId) in chunks, in one
//     transaction where the store offers bulkAppend (appendBulk). On another store (the plain port) each
//     chunk is one appendMany: chunk-safe rather than atomic — a re-run completes an interrupted
//     import, since ids are deterministic and a stored event with the same content counts as
//     already present.
//   Calls stored already are looked up many at a time: by id where the store offers bulkAppend
//   (an index), else per target stream through a StreamSession where the store offers one
//   (EventStoreDB: each contract-month stream is read once for the whole import, never $all per
//   call), else one findEvent per call.
//
// Memory: per distinct call, a 16-byte fingerprint (64 bits of its id, 32 bits of its content, its
// line) finds duplicates and conflicts inside the file — about 32 MB for a million calls — and
// nothing else grows with the file.
import { basename } from 'node:path';
import { CALL_COLUMNS, DEFAULT_CALL_RULES, callRecordedData, callRecordedText, type CallRow, type CallRules, type ParsedCall } from '../domain/call.ts';
import { createCallRowParser } from './call-parser.ts';
import { streams, type CallRecorded, type NumberEvent } from '../domain/events.ts';
import { evolveNumber, holderOn, initialNumberState, type NumberState } from '../domain/numbers.ts';
import {
  BulkIdTaken,
  EventIdConflict,
  bulkAppenderOf,
  payloadHash,
  streamSessionOf,
  type AppendResult,
  type BulkAppender,
  type EventStore,
  type EventToAppend,
  type StoredEvent,
  type StreamAppend,
  type StreamSession,
} from '../eventstore/port.ts';
import { csvErrorOf, readCsvRows, type CsvRow } from './csv-read.ts';
import { newDecodeReport, NOT_TEXT, trimTrailingSpaces, type DecodeReport, type FileEncoding } from './encoding.ts';
import { ImportRejected, ProblemList } from './problems.ts';
import { reopenable, type ImportInput, type ReopenableSource } from './source.ts';

export const CALL_HEADER: readonly string[] = CALL_COLUMNS.map((c) => c.header);

export interface CallImportProgress {
  readonly phase: 'validate' | 'append';
  /** Bytes of the file read so far in this phase. */
  readonly bytes: number;
  readonly totalBytes?: number;
  /** Data rows handled so far in this phase. */
  readonly rows: number;
}

export interface CallImportOptions {
  /** How error lines name the input (default: the path, or `input`). */
  readonly name?: string;
  readonly rules?: CallRules;
  /** Events per append chunk (default 5000). */
  readonly chunkSize?: number;
  /** Problems kept before "and N more" (default 100). */
  readonly maxProblems?: number;
  readonly onProgress?: (progress: CallImportProgress) => void;
}

export interface CallImportResult {
  readonly file: string;
  readonly encoding: FileEncoding | undefined;
  /** Data rows in the file. */
  readonly read: number;
  /** Events appended now. */
  readonly imported: number;
  /** Calls stored before with the same content. */
  readonly alreadyPresent: number;
  /** Exact repeats of an earlier row of the same file (counted once). */
  readonly duplicates: number;
}

type Row = CsvRow;

const PROGRESS_EVERY = 2000;
const YIELD_EVERY = 250;

/** Import one call-detail CSV: the whole file or nothing (see the top of this file). */
export async function importCalls(store: EventStore, input: ImportInput, options: CallImportOptions = {}): Promise<CallImportResult> {
  const source = await reopenable(input, options.name);
  try {
    const bulk = bulkAppenderOf(store);
    if (bulk) {
      const done = await importInOnePass(bulk, source, options);
      if (done) return done;
    }
    const holders = new NumberHolders((streamId) => store.readStream(streamId));
    // One session for both passes: the streams read while validating are not read again to append.
    const session = streamSessionOf(store)?.();
    const checked = await validate(store, session, source, holders, options);
    const appended = await append(store, session, source, holders, checked.duplicateLines, checked.read, options);
    return {
      file: source.name,
      encoding: checked.encoding,
      read: checked.read,
      imported: appended.imported,
      alreadyPresent: appended.alreadyPresent,
      duplicates: checked.duplicateLines.size,
    };
  } finally {
    await source.dispose();
  }
}

// ---- pass 1: validate ---------------------------------------------------------------------------

interface Checked {
  readonly encoding: FileEncoding | undefined;
  readonly read: number;
  readonly duplicateLines: ReadonlySet<number>;
}

interface PendingCheck {
  readonly line: number;
  readonly call: ParsedCall;
  readonly contractCode: string;
}

async function validate(store: EventStore, session: StreamSession | undefined, source: ReopenableSource, holders: NumberHolders, options: CallImportOptions): Promise<Checked> {
  const chunkSize = options.chunkSize ?? 5000;
  const checks = new RowChecks(source, holders, options);
  const { problems, file } = checks;
  const lookup = storedCallsLookup(store, session);
  let pending: PendingCheck[] = [];

  const flush = async () => {
    if (pending.length === 0) return;
    const batch = pending;
    pending = [];
    const stored = await lookup(batch.map((p) => ({ streamId: streams.calls(p.contractCode, p.call.billingMonth), event: callEvent(p.call, p.contractCode) })));
    for (const p of batch) {
      const found = stored.get(p.call.callId);
      if (!found || found === 'same') continue;
      const streamId = streams.calls(p.contractCode, p.call.billingMonth);
      for (const d of describeConflict(await found(), p.call.callId, streamId, callRecordedData(p.call, p.contractCode))) problems.add({ file, line: p.line, ...d });
    }
  };

  await checks.readAll('validate', async (line, call, contractCode) => {
    pending.push({ line, call, contractCode });
    if (pending.length >= chunkSize) await flush();
  });
  if (problems.isEmpty) await flush();
  checks.refuseIfProblems();
  return { encoding: checks.report.encoding, read: checks.read, duplicateLines: checks.duplicateLines };
}

// ---- one pass, when nothing of the file is stored yet -------------------------------------------

/**
 * The usual case, a file never imported before, in ONE pass: every row is checked as in pass 1 and
 * written straight away into one transaction (BulkAppender.bulkWrite, COPY on PostgreSQL) while
 * the next rows are read. The first problem stops the writing; the rest of the file is still read
 * to report every problem; then the transaction rolls back — nothing imported. When a call of the
 * file is stored already (a file delivered again, or overlapping an earlier one), the unique index
 * says so, everything rolls back, and undefined sends the import the careful two-pass way, which
 * tells already-present from conflicting calls line by line.
 */
async function importInOnePass(store: BulkAppender, source: ReopenableSource, options: CallImportOptions): Promise<CallImportResult | undefined> {
  const sourceOfLine = `${JSON.stringify(basename(source.name)).slice(0, -1)}:`;
  try {
    return await store.bulkWrite(
      async (writer) => {
        // Number streams are read inside the transaction (PGlite has one connection, held by it).
        const checks = new RowChecks(source, new NumberHolders((streamId) => writer.readStream(streamId)), options);
        let rows = 0;
        await checks.readAll('append', async (line, call, contractCode) => {
          const waiting = writer.add(streams.calls(contractCode, call.billingMonth), {
            id: call.callId,
            type: 'CallRecorded',
            dataText: callRecordedText(call, contractCode),
            // JSON.stringify({ source: `${file}:${line}` }), as the careful path stores it
            metadataText: `{"source":${sourceOfLine}${line}"}`,
          });
          if (waiting) await waiting;
          // Let the event loop run now and then: the COPY of the chunk before is sent and its
          // answer read only between rows, and a file's 256 KB read lasts some 3,000 rows.
          if (++rows % YIELD_EVERY === 0) await new Promise((resolve) => setImmediate(resolve));
        });
        checks.refuseIfProblems();
        return {
          file: source.name,
          encoding: checks.report.encoding,
          read: checks.read,
          imported: checks.read - checks.duplicateLines.size,
          alreadyPresent: 0,
          duplicates: checks.duplicateLines.size,
        };
      },
      { chunkSize: options.chunkSize ?? 5000 },
    );
  } catch (e) {
    if (e instanceof BulkIdTaken) return undefined;
    throw e;
  }
}

// ---- the checks of every row --------------------------------------------------------------------

/**
 * What both ways of importing check of each row, without looking at stored calls: the header, the
 * bytes, every field, the contract holding the number, and repeats inside the file. Problems are
 * collected; a row that passes is handed to `accept` only while there is no problem at all.
 */
class RowChecks {
  readonly file: string;
  readonly problems: ProblemList;
  readonly report = newDecodeReport();
  readonly duplicateLines = new Set<number>();
  read = 0;
  private readonly parseRow: ReturnType<typeof createCallRowParser>;
  private readonly fingerprints = new CallFingerprints();
  private readonly reportedBadLines = new Set<number>();
  private sawHeader = false;

  constructor(
    private readonly source: ReopenableSource,
    private readonly holders: NumberHolders,
    private readonly options: CallImportOptions,
  ) {
    this.file = source.name;
    this.problems = new ProblemList(options.maxProblems ?? 100);
    this.parseRow = createCallRowParser(options.rules ?? DEFAULT_CALL_RULES);
  }

  async readAll(phase: CallImportProgress['phase'], accept: (line: number, call: ParsedCall, contractCode: string) => Promise<void>): Promise<void> {
    const { file, problems, report, options } = this;
    try {
      for await (const row of readCsvRows(this.source.open(), report)) {
        if (!this.sawHeader) {
          this.sawHeader = true;
          const headerProblem = checkHeader(row, report);
          if (headerProblem) {
            problems.add({ file, line: row.line, field: 'header', message: headerProblem });
            throw problems.reject(`${file}: not a call-detail CSV (SPEC §7.2)`);
          }
          continue;
        }
        this.read++;
        if (this.read % PROGRESS_EVERY === 0) options.onProgress?.({ phase, bytes: report.bytes, totalBytes: this.source.size, rows: this.read });
        const checked = await this.check(row);
        if (checked && problems.isEmpty) await accept(row.line, checked.call, checked.contractCode);
      }
    } catch (e) {
      if (e instanceof ImportRejected) throw e;
      const csv = csvErrorOf(e);
      if (!csv) throw e;
      // Before the header was read, a CSV syntax error means it is not a call-detail CSV at all.
      problems.add({ file, line: csv.line, field: this.sawHeader ? 'CSV' : 'header', message: this.sawHeader ? csv.message : `not a call-detail CSV: ${csv.message}` });
    }
    for (const [line, why] of report.badLines) if (!this.reportedBadLines.has(line)) problems.add({ file, line, message: why });
    if (report.badLineCount > report.badLines.size) {
      for (let i = report.badLines.size; i < report.badLineCount; i++) problems.add({ file, line: 0, message: 'undecodable byte' });
    }
    if (!this.sawHeader && problems.isEmpty) {
      problems.add({ file, line: 1, field: 'header', message: `the file is empty; expected the header ${CALL_HEADER.join(',')}` });
    }
    if (problems.isEmpty) options.onProgress?.({ phase, bytes: report.bytes, totalBytes: this.source.size, rows: this.read });
  }

  refuseIfProblems(): void {
    const { problems, file } = this;
    if (!problems.isEmpty) throw problems.reject(`${file}: ${problems.count} problem${problems.count === 1 ? '' : 's'}; nothing imported`);
  }

  /** The call and its contract, or undefined (a problem noted, or a repeat of an earlier row). */
  private async check(row: Row): Promise<{ call: ParsedCall; contractCode: string } | undefined> {
    const { file, problems } = this;
    const bad = this.report.badLines.get(row.line);
    if (bad !== undefined) {
      this.reportedBadLines.add(row.line);
      problems.add({ file, line: row.line, field: fieldHoldingBadByte(row.fields), message: bad });
      return undefined;
    }
    if (row.fields.length !== CALL_COLUMNS.length) {
      problems.add({ file, line: row.line, field: 'record', message: `expected ${CALL_COLUMNS.length} fields, got ${row.fields.length}` });
      return undefined;
    }
    const parsed = this.parseRow(toCallRow(row.fields));
    if (!parsed.ok) {
      for (const p of parsed.problems) problems.add({ file, line: row.line, field: p.field, message: p.message });
      return undefined;
    }
    const call = parsed.call;
    // The cached answer without an await (a microtask a row); the stream is read only for a new number.
    const contractCode = this.holders.cachedHolderOn(call.usingNumber, call.startDate) ?? (await this.holders.holderOn(call.usingNumber, call.startDate));
    if (contractCode === undefined) {
      problems.add({ file, line: row.line, field: 'ご利用電話番号', message: `no contract held ${call.usingNumber} on ${row.fields[1]}` });
      return undefined;
    }
    const earlier = this.fingerprints.add(call.callId, contentFingerprint(call, contractCode), row.line);
    if (earlier > 0) {
      this.duplicateLines.add(row.line);
      return undefined;
    }
    if (earlier < 0) {
      problems.add({
        file,
        line: row.line,
        field: 'call',
        message: `the same call as line ${-earlier} (number, start, destination, duration, call type) with different content; a correction goes through \`ledger import corrections\``,
      });
      return undefined;
    }
    return { call, contractCode };
  }
}

function checkHeader(row: Row, report: DecodeReport): string | undefined {
  const got = row.fields.map(trimTrailingSpaces);
  if (got.length === CALL_HEADER.length && got.every((h, i) => h === CALL_HEADER[i])) return undefined;
  const shown = got.join(',');
  const binary = report.badLines.has(row.line) ? ` (${report.badLines.get(row.line)})` : '';
  return `expected ${CALL_HEADER.join(',')}, got ${JSON.stringify(shown.length > 200 ? `${shown.slice(0, 200)}…` : shown)}${binary}`;
}

function fieldHoldingBadByte(fields: readonly string[]): string {
  const i = fields.findIndex((f) => NOT_TEXT.test(f));
  return CALL_COLUMNS[i]?.header ?? 'record';
}

// ---- pass 2: append -----------------------------------------------------------------------------

async function append(
  store: EventStore,
  session: StreamSession | undefined,
  source: ReopenableSource,
  holders: NumberHolders,
  duplicateLines: ReadonlySet<number>,
  expectedRows: number,
  options: CallImportOptions,
): Promise<{ imported: number; alreadyPresent: number }> {
  let imported = 0;
  let alreadyPresent = 0;
  const count = (results: readonly { appended: number; alreadyPresent: number }[]) => {
    for (const r of results) {
      imported += r.appended;
      alreadyPresent += r.alreadyPresent;
    }
  };
  const bulk = bulkAppenderOf(store);
  if (bulk) {
    // One transaction for the whole file (COPY on PostgreSQL): all or nothing, crash-safe.
    // The store asks for the next chunk while it appends the current one, so a conflict may belong
    // to the chunk before the newest: look the id up in the last few.
    const recent: EventChunk[] = [];
    const chunks = async function* () {
      for await (const chunk of eventChunks(source, holders, duplicateLines, expectedRows, options)) {
        recent.push(chunk);
        if (recent.length > 3) recent.shift();
        yield chunk.batches;
      }
    };
    const total = await withConflictLines(
      (id) => recent.find((c) => c.lines.has(id)) ?? recent[recent.length - 1],
      () => bulk.appendBulk(chunks()),
    );
    // Rows repeated inside the file were left out in pass 1, so nothing here is a duplicate.
    count([{ appended: total.appended, alreadyPresent: total.alreadyPresent + total.duplicates }]);
  } else {
    const appendMany = (batches: readonly StreamAppend[]): Promise<AppendResult[]> => (session ? session.appendMany(batches) : store.appendMany(batches));
    for await (const chunk of eventChunks(source, holders, duplicateLines, expectedRows, options)) {
      count(await withConflictLines(() => chunk, () => appendMany(chunk.batches)));
    }
  }
  return { imported, alreadyPresent };
}

interface EventChunk {
  readonly file: string;
  readonly batches: StreamAppend[];
  /** Event id → line, to name the line of a conflict found while appending. */
  readonly lines: Map<string, number>;
}

async function* eventChunks(
  source: ReopenableSource,
  holders: NumberHolders,
  duplicateLines: ReadonlySet<number>,
  expectedRows: number,
  options: CallImportOptions,
): AsyncGenerator<EventChunk> {
  const parseRow = createCallRowParser(options.rules ?? DEFAULT_CALL_RULES);
  const chunkSize = options.chunkSize ?? 5000;
  const file = source.name;
  const sourceName = basename(file);
  const report = newDecodeReport();
  let byStream = new Map<string, EventToAppend[]>();
  let lines = new Map<string, number>();
  let size = 0;
  let rows = 0;
  let sawHeader = false;
  const changed = (line: number) =>
    new ImportRejected(`${file}: the file changed while it was being imported; nothing imported`, [
      { file, line, message: 'differs from what was validated a moment ago' },
    ]);

  for await (const row of readCsvRows(source.open(), report)) {
    if (!sawHeader) {
      sawHeader = true;
      continue;
    }
    rows++;
    if (rows % PROGRESS_EVERY === 0) options.onProgress?.({ phase: 'append', bytes: report.bytes, totalBytes: source.size, rows });
    if (duplicateLines.has(row.line)) continue;
    const parsed = row.fields.length === CALL_COLUMNS.length ? parseRow(toCallRow(row.fields)) : undefined;
    if (!parsed?.ok) throw changed(row.line);
    const call = parsed.call;
    const contractCode = holders.cachedHolderOn(call.usingNumber, call.startDate);
    if (contractCode === undefined) throw changed(row.line);
    const streamId = streams.calls(contractCode, call.billingMonth);
    const event: EventToAppend = {
      id: call.callId,
      type: 'CallRecorded',
      data: callRecordedData(call, contractCode) satisfies CallRecorded['data'],
      metadata: { source: `${sourceName}:${row.line}` },
    };
    let list = byStream.get(streamId);
    if (!list) byStream.set(streamId, (list = []));
    list.push(event);
    lines.set(call.callId, row.line);
    if (++size >= chunkSize) {
      yield { file, batches: [...byStream].map(([streamId, events]) => ({ streamId, events })), lines };
      byStream = new Map();
      lines = new Map();
      size = 0;
    }
  }
  if (rows !== expectedRows) throw changed(rows + 1);
  if (size > 0) yield { file, batches: [...byStream].map(([streamId, events]) => ({ streamId, events })), lines };
  options.onProgress?.({ phase: 'append', bytes: report.bytes, totalBytes: source.size, rows });
}

async function withConflictLines<T>(chunkOf: (eventId: string) => EventChunk | undefined, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (e) {
    if (!(e instanceof EventIdConflict)) throw e;
    const chunk = chunkOf(e.eventId);
    if (!chunk) throw e;
    const line = chunk.lines.get(e.eventId) ?? 0;
    throw new ImportRejected(`${chunk.file}: a call is already stored with different content; nothing imported`, [
      { file: chunk.file, line, field: 'call', message: `already recorded with different content (${e.reason}); a correction goes through \`ledger import corrections\`` },
    ]);
  }
}

// ---- reading rows -------------------------------------------------------------------------------

function toCallRow(fields: readonly string[]): CallRow {
  const f = fields.map(trimTrailingSpaces);
  return {
    usingNumber: f[0]!,
    startDate: f[1]!,
    startTime: f[2]!,
    destination: f[3]!,
    area: f[4]!,
    duration: f[5]!,
    extensionType: f[6]!,
    callType: f[7]!,
    charge: f[8]!,
  };
}

// ---- who held the number ------------------------------------------------------------------------

/** Number reservation streams (`number-<n>`), read once per number and kept for the import. */
class NumberHolders {
  private readonly states = new Map<string, NumberState>();

  constructor(private readonly readStream: (streamId: string) => Promise<readonly { type: string; data: unknown }[]>) {}

  async holderOn(number: string, date: string): Promise<string | undefined> {
    let state = this.states.get(number);
    if (!state) {
      const recorded = await this.readStream(streams.number(number));
      state = recorded.reduce(
        (s, e) => (e.type === 'NumberAssigned' || e.type === 'NumberReleased' ? evolveNumber(s, { type: e.type, data: e.data } as NumberEvent) : s),
        initialNumberState(),
      );
      this.states.set(number, state);
    }
    return holderOn(state, date);
  }

  /** After pass 1 every number of the file is cached. */
  cachedHolderOn(number: string, date: string): string | undefined {
    const state = this.states.get(number);
    return state ? holderOn(state, date) : undefined;
  }
}

// ---- calls stored already -----------------------------------------------------------------------

function callEvent(call: ParsedCall, contractCode: string): EventToAppend {
  return { id: call.callId, type: 'CallRecorded', data: callRecordedData(call, contractCode) };
}

/** By call id: stored the same in its stream, or how to fetch the stored event that differs. Calls not stored are left out. */
type StoredCalls = Map<string, 'same' | (() => Promise<StoredEvent | undefined>)>;

type StoredCallsLookup = (calls: readonly { streamId: string; event: EventToAppend }[]) => Promise<StoredCalls>;

function storedCallsLookup(store: EventStore, session: StreamSession | undefined): StoredCallsLookup {
  const bulk = bulkAppenderOf(store);
  if (bulk) {
    return async (calls) => {
      const found = await bulk.storedContent(calls.map((c) => c.event.id));
      const out: StoredCalls = new Map();
      for (const { streamId, event } of calls) {
        const stored = found.get(event.id);
        if (!stored) continue;
        const same = stored.streamId === streamId && stored.hash === payloadHash(streamId, event.type, event.data);
        out.set(event.id, same ? 'same' : () => store.findEvent(event.id));
      }
      return out;
    };
  }
  if (session) {
    // Per target stream: a contract-month of calls, read once by the session for the whole import.
    return async (calls) => {
      const byStream = new Map<string, EventToAppend[]>();
      for (const { streamId, event } of calls) {
        let list = byStream.get(streamId);
        if (!list) byStream.set(streamId, (list = []));
        list.push(event);
      }
      const out: StoredCalls = new Map();
      for (const [streamId, events] of byStream) {
        for (const [id, held] of await session.held(streamId, events)) out.set(id, held === 'same' ? 'same' : async () => held);
      }
      return out;
    };
  }
  return async (calls) => {
    const out: StoredCalls = new Map();
    for (const { streamId, event } of calls) {
      const e = await store.findEvent(event.id);
      if (!e) continue;
      const same = e.streamId === streamId && payloadHash(e.streamId, e.type, e.data) === payloadHash(streamId, event.type, event.data);
      out.set(event.id, same ? 'same' : async () => e);
    }
    return out;
  };
}

const FIELD_LABELS: Record<string, string> = {
  contractCode: 'contract',
  usingNumber: 'ご利用電話番号',
  startDate: '通話開始日時',
  startTime: '通話開始時刻',
  destination: '着信電話番号',
  area: '地域名',
  duration: '通話時間',
  count: '通話時間',
  extensionType: '内線区分',
  callType: '呼種別',
  charge: '通話料',
  category: '呼種別',
  free: '内線区分',
  billingMonth: '通話時間',
};

/** Which fields differ from the stored call, in SPEC's words. */
function describeConflict(stored: StoredEvent | undefined, id: string, streamId: string, data: CallRecorded['data']): { field: string; message: string }[] {
  const fix = 'a correction goes through `ledger import corrections`';
  if (!stored || stored.type !== 'CallRecorded') {
    return [{ field: 'call', message: `its id ${id} is already used by another event${stored ? ` (${stored.type} in ${stored.streamId})` : ''}` }];
  }
  const before = stored.data as Record<string, unknown>;
  const out: { field: string; message: string }[] = [];
  for (const [key, value] of Object.entries(data)) {
    if (JSON.stringify(before[key]) === JSON.stringify(value)) continue;
    out.push({ field: FIELD_LABELS[key] ?? key, message: `this call is already recorded with ${key} ${JSON.stringify(before[key])}, this file says ${JSON.stringify(value)}; ${fix}` });
  }
  if (out.length === 0 && stored.streamId !== streamId) {
    out.push({ field: 'call', message: `this call is already recorded in ${stored.streamId}, this file puts it in ${streamId}; ${fix}` });
  }
  return out.length > 0 ? out : [{ field: 'call', message: `this call is already recorded with different content; ${fix}` }];
}

// ---- duplicates inside one file -----------------------------------------------------------------

function contentFingerprint(call: ParsedCall, contractCode: string): number {
  return fnv1a(`${contractCode}\u001f${call.area}\u001f${call.extensionType}\u001f${call.charge.toString()}\u001f${call.billingMonth}`);
}

function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/**
 * An open-addressing table of (64 bits of the call id, 32 bits of content, line), in typed arrays:
 * about 16 bytes a call at most half full. Call ids are UUIDv5 (SHA-1), so their bits are uniform;
 * a 64-bit clash among a million calls has a probability near 3e-8.
 */
export class CallFingerprints {
  private slots: Uint32Array;
  private mask: number;
  private size = 0;

  constructor(capacity = 1 << 16) {
    this.slots = new Uint32Array(capacity * 4);
    this.mask = capacity - 1;
  }

  /** 0 when new; the earlier line when the same call with the same content; minus the earlier line when its content differs. */
  add(callId: string, content: number, line: number): number {
    const k1 = Number.parseInt(callId.slice(0, 8), 16) >>> 0;
    const k2 = (Number.parseInt(callId.slice(28, 36), 16) | 1) >>> 0; // never 0: 0 marks an empty slot
    if ((this.size + 1) * 2 > this.mask + 1) this.grow();
    return this.put(k1, k2, content, line);
  }

  private put(k1: number, k2: number, content: number, line: number): number {
    const s = this.slots;
    let i = k1 & this.mask;
    for (;;) {
      const at = i * 4;
      if (s[at + 1] === 0) {
        s[at] = k1;
        s[at + 1] = k2;
        s[at + 2] = content;
        s[at + 3] = line;
        this.size++;
        return 0;
      }
      if (s[at] === k1 && s[at + 1] === k2) return s[at + 2] === content ? s[at + 3]! : -s[at + 3]!;
      i = (i + 1) & this.mask;
    }
  }

  private grow(): void {
    const old = this.slots;
    const capacity = (this.mask + 1) * 2;
    this.slots = new Uint32Array(capacity * 4);
    this.mask = capacity - 1;
    this.size = 0;
    for (let at = 0; at < old.length; at += 4) {
      if (old[at + 1] !== 0) this.put(old[at]!, old[at + 1]!, old[at + 2]!, old[at + 3]!);
    }
  }
}
