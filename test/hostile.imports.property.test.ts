// Property test of issue 11 (hostile data): any sequence of valid and invalid imports — call-detail
// CSV files, corrections and telegrams, fresh or delivered again, each line valid or poisoned with
// what the ledger refuses (a charge over 9,999,999.99, a formula cell, a C1 or private-use
// character, an impossible date, a number nobody holds, a missing receipt number, a conflict with
// what is stored) — leaves every figure equal to a fold, written here, of only the lines of the
// files it accepted; a file is accepted exactly when the fold says it is (all or nothing), a refusal
// names the file and each poisoned line, and `verify` holds for every contract and month.
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CATEGORIES, type Category } from '../domain/events.ts';
import { importCalls } from '../importers/calls.ts';
import { importContracts } from '../importers/contracts.ts';
import { importCorrections } from '../importers/corrections.ts';
import { ImportRejected } from '../importers/problems.ts';
import { importTelegrams } from '../importers/telegrams.ts';
import { verifyMonth } from '../projections/engineering.ts';
import { createProjectionRunner, projectionMigrations, type ProjectionRunner } from '../projections/index.ts';
import { createQueries } from '../projections/queries.ts';
import type { LedgerQueries } from '../projections/read-model.ts';
import { HEADER } from './support/call-csv.ts';
import { testTargets, type TestDatabase } from './support/stores.ts';

const RUNS = Number(process.env.LEDGER_PROPERTY_RUNS ?? 15);
const MONTHS = ['2017-10', '2017-11', '2017-12'] as const;
const CALL_TYPES: readonly [string, Category][] = [
  ['国内呼', 'domestic'],
  ['国際呼', 'international'],
  ['携帯呼', 'otherMobile'],
  ['携帯呼(au)', 'au'],
];
/** Calls of a run: this many identities, each in two contents (charges). */
const CALLS = 8;
const RECEIPTS = 3;

const pad = (n: number, w = 2) => String(n).padStart(w, '0');
const yen = (sen: number) => `${Math.floor(sen / 100)}.${pad(sen % 100)}`;

/** A run's two contracts, with numbers of their own (numbers are unique across the ledger). */
function contractsOf(run: number) {
  return [0, 1].map((k) => ({
    code: `d6${pad(run * 2 + k, 8)}`,
    basic: `0120${pad(run * 2 + k, 6)}`,
    dialIns: [`05${pad(run * 4 + k * 2, 8)}`, `05${pad(run * 4 + k * 2 + 1, 8)}`],
  }));
}

// ---- the generated imports -----------------------------------------------------------------------------

interface CallLine {
  readonly call: number; // identity 0…CALLS-1
  readonly variant: 0 | 1; // its content: two charges
  readonly poison?: number;
}
interface CorrectionLine {
  readonly call: number;
  readonly change: number | 'void'; // sen, or a void
  readonly poison?: number;
}
interface TelegramLine {
  readonly contract: 0 | 1;
  readonly receipt: number;
  readonly variant: 0 | 1;
  readonly poison?: number;
}
type Step =
  | { readonly kind: 'calls'; readonly lines: readonly CallLine[] }
  | { readonly kind: 'corrections'; readonly lines: readonly CorrectionLine[] }
  | { readonly kind: 'telegrams'; readonly lines: readonly TelegramLine[] }
  | { readonly kind: 'again'; readonly which: number };

/** Field replacements that make a line refused: [field, value, the problem's field name]. */
const CALL_POISONS: readonly [number, string, string][] = [
  [8, '10000000.00', '通話料'], // over the bound
  [8, '-1.00', '通話料'],
  [3, "=cmd|' /C calc'!A1", '着信電話番号'], // a formula
  [4, '@SUM(1+1)', '地域名'],
  [7, '=1+1国内', '呼種別'],
  [4, '東\u0085京', '地域名'], // a C1 control
  [4, '\ue000', '地域名'], // private use
  [1, '2017/02/30', '通話開始日時'],
  [0, '0599999999', 'ご利用電話番号'], // nobody holds it
];
const CORRECTION_POISONS: readonly [string, unknown][] = [
  ['charge', '10000000.00'],
  ['charge', '1.234'],
  ['reason', '=1+1'],
  ['reason', 'ticket \ue000'],
  ['commandId', 'c'.repeat(65)],
];
const TELEGRAM_POISONS: readonly [string, unknown][] = [
  ['charge', '10000000.00'],
  ['destination', '=HYPERLINK("http://x")'],
  ['kind', '慶\u0085弔'],
  ['receiptNumber', undefined],
  ['receiptNumber', 'R 1'],
  ['date', '2017-13-01'],
];

/** Mostly no poison: one line in three carries one. */
const poisonArb = (count: number) => fc.oneof({ weight: 2, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: fc.nat({ max: count - 1 }) });
const stepArb: fc.Arbitrary<Step> = fc.oneof(
  { weight: 4, arbitrary: fc.array(fc.record({ call: fc.nat({ max: CALLS - 1 }), variant: fc.constantFrom<0 | 1>(0, 0, 0, 1), poison: poisonArb(CALL_POISONS.length) }, { requiredKeys: ['call', 'variant'] }), { minLength: 1, maxLength: 4 }).map((lines) => ({ kind: 'calls' as const, lines })) },
  {
    weight: 3,
    arbitrary: fc
      .array(fc.record({ call: fc.nat({ max: CALLS - 1 }), change: fc.oneof({ weight: 4, arbitrary: fc.integer({ min: 0, max: 99_999 }) }, { weight: 1, arbitrary: fc.constant('void' as const) }), poison: poisonArb(CORRECTION_POISONS.length) }, { requiredKeys: ['call', 'change'] }), { minLength: 1, maxLength: 3 })
      .map((lines) => ({ kind: 'corrections' as const, lines })),
  },
  {
    weight: 2,
    arbitrary: fc
      .array(fc.record({ contract: fc.constantFrom<0 | 1>(0, 1), receipt: fc.nat({ max: RECEIPTS - 1 }), variant: fc.constantFrom<0 | 1>(0, 0, 1), poison: poisonArb(TELEGRAM_POISONS.length) }, { requiredKeys: ['contract', 'receipt', 'variant'] }), { minLength: 1, maxLength: 3 })
      .map((lines) => ({ kind: 'telegrams' as const, lines })),
  },
  { weight: 2, arbitrary: fc.nat().map((which) => ({ kind: 'again' as const, which })) },
);

// ---- files from steps ----------------------------------------------------------------------------------

interface CallIdentity {
  readonly usingNumber: string;
  readonly contract: 0 | 1;
  readonly startDate: string;
  readonly startTime: string;
  readonly destination: string;
  readonly duration: string;
  readonly callType: string;
  readonly category: Category;
  readonly month: string;
}

function identityOf(run: number, call: number): CallIdentity {
  const contracts = contractsOf(run);
  const contract = (call % 2) as 0 | 1;
  const month = MONTHS[call % 3]!;
  const [type, category] = CALL_TYPES[call % CALL_TYPES.length]!;
  return {
    usingNumber: contracts[contract]!.dialIns[Math.floor(call / 2) % 2]!,
    contract,
    startDate: `${month.replace('-', '/')}/${pad(3 + call)}`,
    startTime: `10${pad(call)}00.0`,
    destination: `03-1111-${pad(call, 4)}`,
    duration: '000106.0',
    callType: type,
    category,
    month,
  };
}
const chargeOf = (call: number, variant: 0 | 1) => 100 * (call + 1) + variant * 37;

interface File {
  readonly kind: 'calls' | 'corrections' | 'telegrams';
  readonly name: string;
  readonly bytes: Buffer;
  readonly step: Exclude<Step, { kind: 'again' }>;
  /** The lines (as the refusal numbers them) that carry a poison. */
  readonly poisoned: readonly number[];
}

let commandSeq = 0;

function fileOf(run: number, index: number, step: Exclude<Step, { kind: 'again' }>): File {
  const name = `${step.kind}-${index}.${step.kind === 'calls' ? 'csv' : 'jsonl'}`;
  const contracts = contractsOf(run);
  if (step.kind === 'calls') {
    const rows = step.lines.map((l) => {
      const id = identityOf(run, l.call);
      const fields = [id.usingNumber, id.startDate, id.startTime, id.destination, '東京', id.duration, '外線', id.callType, yen(chargeOf(l.call, l.variant))];
      if (l.poison !== undefined) fields[CALL_POISONS[l.poison]![0]] = CALL_POISONS[l.poison]![1];
      return fields.map((f) => (/[",\r\n]/.test(f) ? `"${f.replaceAll('"', '""')}"` : f)).join(',');
    });
    return { kind: 'calls', name, step, bytes: Buffer.from([HEADER.join(','), ...rows].join('\r\n') + '\r\n'), poisoned: step.lines.flatMap((l, i) => (l.poison !== undefined ? [i + 2] : [])) };
  }
  if (step.kind === 'corrections') {
    // Each correction carries a ticket of its own: its identity, so a repeat after a later change is a new correction.
    const lines = step.lines.map((l) => {
      const id = identityOf(run, l.call);
      const object: Record<string, unknown> = {
        usingNumber: id.usingNumber,
        startDate: id.startDate,
        startTime: id.startTime,
        destination: id.destination,
        duration: id.duration,
        callType: id.callType,
        ...(l.change === 'void' ? { void: true } : { charge: yen(l.change) }),
        reason: 'ticket',
        commandId: `T-${++commandSeq}`,
      };
      if (l.poison !== undefined) object[CORRECTION_POISONS[l.poison]![0]] = CORRECTION_POISONS[l.poison]![1];
      return JSON.stringify(object);
    });
    return { kind: 'corrections', name, step, bytes: Buffer.from(lines.join('\n') + '\n'), poisoned: step.lines.flatMap((l, i) => (l.poison !== undefined ? [i + 1] : [])) };
  }
  const lines = step.lines.map((l) => {
    const object: Record<string, unknown> = {
      contractCode: contracts[l.contract]!.code,
      date: `${MONTHS[l.receipt % 3]}-10`,
      receiptNumber: `R-${l.contract}-${l.receipt}`,
      destination: '東京都千代田区',
      kind: '慶弔',
      charge: yen(1000 + 100 * l.receipt + 11 * l.variant),
    };
    if (l.poison !== undefined) {
      const [field, value] = TELEGRAM_POISONS[l.poison]!;
      if (value === undefined) delete object[field];
      else object[field] = value;
    }
    return JSON.stringify(object);
  });
  return { kind: 'telegrams', name, step, bytes: Buffer.from(lines.join('\n') + '\n'), poisoned: step.lines.flatMap((l, i) => (l.poison !== undefined ? [i + 1] : [])) };
}

// ---- the fold: what the ledger holds after the accepted files only -------------------------------------

interface Model {
  /** Stored calls: identity → the content's variant, its charge now (sen), voided. */
  readonly calls: Map<number, { variant: 0 | 1; sen: number; voided: boolean }>;
  /** Correction tickets recorded (all unique, so a ticket again is a file delivered again). */
  readonly tickets: Set<string>;
  /** Telegrams: "contract/receipt" → variant. */
  readonly telegrams: Map<string, 0 | 1>;
}

/** The file applied to a copy of the model, or undefined when the file must be refused. */
function applied(model: Model, file: File): Model | undefined {
  if (file.poisoned.length > 0) return undefined;
  const next: Model = { calls: new Map([...model.calls].map(([k, v]) => [k, { ...v }])), tickets: new Set(model.tickets), telegrams: new Map(model.telegrams) };
  if (file.step.kind === 'calls') {
    for (const l of file.step.lines) {
      const stored = next.calls.get(l.call);
      if (stored && stored.variant !== l.variant) return undefined; // same call, other content: a conflict
      if (!stored) next.calls.set(l.call, { variant: l.variant, sen: chargeOf(l.call, l.variant), voided: false });
    }
    return next;
  }
  if (file.step.kind === 'corrections') {
    const tickets = [...file.bytes.toString('utf8').trim().split('\n')].map((line) => (JSON.parse(line) as { commandId: string }).commandId);
    for (const [i, l] of file.step.lines.entries()) {
      const call = next.calls.get(l.call);
      if (!call) return undefined; // no such call stored
      if (model.tickets.has(tickets[i]!)) continue; // recorded before: already present
      if (call.voided) return undefined;
      if (l.change === 'void') call.voided = true;
      else call.sen = l.change;
      next.tickets.add(tickets[i]!);
    }
    return next;
  }
  for (const l of file.step.lines) {
    const key = `${l.contract}/${l.receipt}`;
    const stored = next.telegrams.get(key);
    if (stored !== undefined && stored !== l.variant) return undefined; // a receipt number names one telegram
    next.telegrams.set(key, l.variant);
  }
  return next;
}

/** Per contract and month: number → category → normal (sen), and the telegrams' total (sen). */
function expectedFigures(model: Model, run: number, contract: 0 | 1, month: string) {
  const figures = new Map<string, Map<Category, number>>();
  for (const [call, stored] of model.calls) {
    const id = identityOf(run, call);
    if (id.contract !== contract || id.month !== month || stored.voided) continue;
    const byCategory = figures.get(id.usingNumber) ?? new Map<Category, number>();
    figures.set(id.usingNumber, byCategory);
    byCategory.set(id.category, (byCategory.get(id.category) ?? 0) + stored.sen);
  }
  let telegrams = 0;
  for (const [key, variant] of model.telegrams) {
    const [c, receipt] = key.split('/').map(Number) as [number, number];
    if (c === contract && MONTHS[receipt % 3] === month) telegrams += 1000 + 100 * receipt + 11 * variant;
  }
  return { figures, telegrams };
}

// ---- the property ---------------------------------------------------------------------------------------

for (const target of testTargets) {
  describe(`any sequence of valid and invalid imports (${target.name})`, () => {
    let t: TestDatabase;
    let runner: ProjectionRunner;
    let queries: LedgerQueries;
    let run = 0;
    beforeAll(async () => {
      t = await target.open([projectionMigrations]);
      runner = createProjectionRunner(t.database, t.store);
      queries = createQueries(t.database, t.store);
    }, 60_000);
    afterAll(async () => {
      await t?.cleanup();
    });

    it('leaves totals equal to a fold of only the accepted lines; each file accepted exactly when the fold says; verify holds for every contract and month', async () => {
      const counts = { files: 0, accepted: 0, refused: 0, poisonedLines: 0 };
      await fc.assert(
        fc.asyncProperty(fc.subarray([...Array(CALLS).keys()], { minLength: 1 }), fc.array(stepArb, { minLength: 1, maxLength: 8 }), async (first, rest) => {
          // A clean file of calls first, so that corrections find calls to correct; then anything.
          const steps: Step[] = [{ kind: 'calls', lines: first.map((call) => ({ call, variant: 0 })) }, ...rest];
          const r = ++run;
          const contracts = contractsOf(r);
          const lines = contracts.flatMap((c) => [
            { type: 'OpenContract', contractCode: c.code, selfId: c.code, startDate: '2010-11-15', channels: 1, connectionType: 'ダイヤルイン接続', primaryDns: '192.0.2.1', secondaryDns: '192.0.2.2', basicNumber: c.basic },
            ...c.dialIns.map((n, k) => ({ type: 'AddNumber', contractCode: c.code, dialInNumber: n, auMobileNumber: `090${pad(r * 4 + k, 8)}`, startDate: '2010-11-15' })),
          ]);
          await importContracts(t.store, Buffer.from(lines.map((l) => JSON.stringify(l)).join('\n') + '\n'), { name: 'contracts.jsonl' });

          let model: Model = { calls: new Map(), tickets: new Set(), telegrams: new Map() };
          const delivered: File[] = [];
          for (const [index, step] of steps.entries()) {
            const file = step.kind === 'again' ? delivered[step.which % Math.max(1, delivered.length)] : fileOf(r, index, step);
            if (!file) continue;
            if (step.kind !== 'again') delivered.push(file);
            const next = applied(model, file);
            const before = await t.store.headPosition();
            const importer = file.kind === 'calls' ? importCalls : file.kind === 'corrections' ? importCorrections : importTelegrams;
            const outcome = await importer(t.store, file.bytes, { name: file.name }).then(
              () => undefined,
              (e: unknown) => e,
            );
            counts.files++;
            counts.poisonedLines += file.poisoned.length;
            if (next) {
              expect(outcome, `${file.name} should be accepted:\n${file.bytes.toString('utf8')}`).toBeUndefined();
              counts.accepted++;
              model = next;
            } else {
              expect(outcome, `${file.name} should be refused:\n${file.bytes.toString('utf8')}`).toBeInstanceOf(ImportRejected);
              counts.refused++;
              // All or nothing: a refused file stores nothing; its message names the file and every poisoned line.
              expect(await t.store.headPosition()).toBe(before);
              const named = (outcome as ImportRejected).lines().map((l) => /^(.+?):(\d+): /.exec(l)).filter((m) => m !== null).map((m) => `${m![1]}:${m![2]}`);
              for (const line of file.poisoned) expect(named, (outcome as ImportRejected).lines().join('\n')).toContain(`${file.name}:${line}`);
            }
          }

          await runner.catchUp();
          for (const [k, c] of contracts.entries()) {
            for (const month of MONTHS) {
              const expected = expectedFigures(model, r, k as 0 | 1, month);
              const charges = await queries.monthCharges(c.code, month);
              const projected = new Map(charges.numbers.map((n) => [n.number, new Map(CATEGORIES.map((cat) => [cat, n.normal[cat].toString()]))]));
              for (const number of new Set([...expected.figures.keys(), ...projected.keys()])) {
                for (const category of CATEGORIES) {
                  expect(projected.get(number)?.get(category) ?? '0.00', `${c.code} ${month} ${number} ${category}`).toBe(yen(expected.figures.get(number)?.get(category) ?? 0));
                }
              }
              const total = [...expected.figures.values()].flatMap((m) => [...m.values()]).reduce((a, b) => a + b, 0);
              expect(charges.normal.total.toString(), `${c.code} ${month} total`).toBe(yen(total));
              const telegrams = (await queries.telegrams(c.code, month)).reduce((sum, tg) => sum + Math.round(Number(tg.charge.toString()) * 100), 0);
              expect(telegrams, `${c.code} ${month} telegrams`).toBe(expected.telegrams);
              const verified = await verifyMonth({ database: t.database, store: t.store, queries }, c.code, month);
              expect(verified.differences, `verify ${c.code} ${month}`).toEqual([]);
              expect(verified.ok).toBe(true);
            }
          }
        }),
        { numRuns: RUNS, seed: Number(process.env.LEDGER_PROPERTY_SEED ?? 1127) },
      );
      // The runs tried both sides: files accepted and files refused for a poisoned line.
      expect(counts.accepted).toBeGreaterThan(RUNS * 2);
      expect(counts.refused).toBeGreaterThan(RUNS / 2);
      expect(counts.poisonedLines).toBeGreaterThan(RUNS / 2);
    }, 180_000);
  });
}
