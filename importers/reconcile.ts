// Reconciliation (SPEC §6; `ledger reconcile CONTRACT MONTH FILE`, the engineer route): read a
// carrier per-number CSV (SPEC §7.1, Shift_JIS or UTF-8) and compare it, number by number and
// category by category, with the projection's normal charges for that month.
import { Money, MoneyFormatError } from '../domain/money.ts';
import type { Month } from '../domain/time.ts';
import type { LedgerQueries } from '../projections/read-model.ts';
import { csvErrorOf, readCsvRows } from './csv-read.ts';
import { NUMBERS_HEADER } from './csv-export.ts';
import { newDecodeReport, trimTrailingSpaces } from './encoding.ts';
import { ImportRejected, ProblemList } from './problems.ts';
import { reopenable, type ImportInput } from './source.ts';

export const RECONCILE_CATEGORIES = ['total', 'domestic', 'international', 'au', 'otherMobile'] as const;
export type ReconcileCategory = (typeof RECONCILE_CATEGORIES)[number];

export type CarrierFigures = Record<ReconcileCategory, Money>;

export interface Difference {
  readonly number: string;
  readonly category: ReconcileCategory;
  readonly carrier: Money;
  readonly ours: Money;
  /** carrier − ours */
  readonly difference: Money;
}

export interface ReconcileReport {
  readonly ok: boolean;
  readonly differences: readonly Difference[];
}

const NUMBER = /^\d{1,13}$/;

/** The carrier's figures per number; refuses the file (ImportRejected) with `FILE:LINE: FIELD: message`. */
export async function readCarrierNumbersCsv(input: ImportInput, options: { name?: string; maxProblems?: number } = {}): Promise<Map<string, CarrierFigures>> {
  const source = await reopenable(input, options.name);
  const file = source.name;
  const problems = new ProblemList(options.maxProblems ?? 100);
  const report = newDecodeReport();
  const figures = new Map<string, CarrierFigures>();
  let sawHeader = false;
  try {
    for await (const row of readCsvRows(source.open(), report)) {
      const fields = row.fields.map(trimTrailingSpaces);
      if (!sawHeader) {
        sawHeader = true;
        if (fields.length !== NUMBERS_HEADER.length || fields.some((h, i) => h !== NUMBERS_HEADER[i])) {
          problems.add({ file, line: row.line, field: 'header', message: `expected ${NUMBERS_HEADER.join(',')}, got ${JSON.stringify(fields.join(',').slice(0, 200))}` });
          break;
        }
        continue;
      }
      const bad = report.badLines.get(row.line);
      if (bad) {
        problems.add({ file, line: row.line, message: bad });
        continue;
      }
      if (fields.length !== NUMBERS_HEADER.length) {
        problems.add({ file, line: row.line, field: 'record', message: `expected ${NUMBERS_HEADER.length} fields, got ${fields.length}` });
        continue;
      }
      const [number, ...amounts] = fields as [string, ...string[]];
      if (!NUMBER.test(number)) problems.add({ file, line: row.line, field: NUMBERS_HEADER[0], message: `expected digits only, got ${JSON.stringify(number)}` });
      else if (figures.has(number)) problems.add({ file, line: row.line, field: NUMBERS_HEADER[0], message: `${number} appears twice` });
      const parsed: Money[] = [];
      amounts.forEach((text, i) => {
        try {
          parsed.push(Money.parseTotal(text));
        } catch (e) {
          if (!(e instanceof MoneyFormatError)) throw e;
          problems.add({ file, line: row.line, field: NUMBERS_HEADER[i + 1], message: e.message });
        }
      });
      if (parsed.length === RECONCILE_CATEGORIES.length && NUMBER.test(number) && !figures.has(number)) {
        figures.set(number, Object.fromEntries(RECONCILE_CATEGORIES.map((c, i) => [c, parsed[i]!])) as CarrierFigures);
      }
    }
  } catch (e) {
    const csv = csvErrorOf(e);
    if (!csv) throw e;
    problems.add({ file, line: csv.line, field: 'CSV', message: csv.message });
  } finally {
    await source.dispose();
  }
  if (!sawHeader && problems.isEmpty) problems.add({ file, line: 1, field: 'header', message: `the file is empty; expected the header ${NUMBERS_HEADER.join(',')}` });
  if (!problems.isEmpty) throw problems.reject(`${file}: not a per-number charges CSV (SPEC §7.1) this ledger can read`);
  return figures;
}

/** Compare a carrier file with our projection for the month: every number on either side, every category. */
export async function reconcile(queries: LedgerQueries, contractCode: string, month: Month, input: ImportInput, options: { name?: string } = {}): Promise<ReconcileReport> {
  const carrier = await readCarrierNumbersCsv(input, options);
  const charges = await queries.monthCharges(contractCode, month);
  const ours = new Map<string, CarrierFigures>(
    charges.numbers.map((n) => [n.number, { total: n.normal.total, domestic: n.normal.domestic, international: n.normal.international, au: n.normal.au, otherMobile: n.normal.otherMobile }]),
  );
  return compareFigures(carrier, ours);
}

export function compareFigures(carrier: ReadonlyMap<string, CarrierFigures>, ours: ReadonlyMap<string, CarrierFigures>): ReconcileReport {
  const numbers = [...new Set([...carrier.keys(), ...ours.keys()])].sort();
  const differences: Difference[] = [];
  for (const number of numbers) {
    for (const category of RECONCILE_CATEGORIES) {
      const c = carrier.get(number)?.[category] ?? Money.zero;
      const o = ours.get(number)?.[category] ?? Money.zero;
      if (!c.equals(o)) differences.push({ number, category, carrier: c, ours: o, difference: c.minus(o) });
    }
  }
  return { ok: differences.length === 0, differences };
}

export { ImportRejected };
