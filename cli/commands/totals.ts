import type { Category } from '../../domain/events.ts';
import { DomainError } from '../../domain/errors.ts';
import { engineerCharges, engineerChargesAsOf, parseInstant, type EngineerCharges, type FiguresJson } from '../../projections/engineering.ts';
import { parseArgs, type Command } from '../command.ts';
import { UsageError } from '../errors.ts';
import { withReadSide } from './projection-support.ts';

const COLUMNS: (keyof FiguresJson)[] = ['total', 'domestic', 'international', 'mobile', 'au', 'otherMobile'];

/** An instant option (`--as-of`, `--from`, `--to`): a bad one is a usage error naming the option. */
export function instantOption(options: Record<string, string | true>, name: string): Date | undefined {
  const value = options[name];
  if (value === undefined) return undefined;
  if (value === true) throw new UsageError(`--${name} needs an instant (ISO-8601 with an offset, e.g. 2017-12-05T10:00:00+09:00)`);
  try {
    return parseInstant(value, `--${name}`);
  } catch (e) {
    if (e instanceof DomainError) throw new UsageError(e.message);
    throw e;
  }
}

// `ledger totals CONTRACT MONTH [--as-of T] [--json]`
export const totals: Command = {
  usage: 'totals CONTRACT MONTH [--as-of T] [--json]',
  async run(args, ctx) {
    const { positional, options } = parseArgs(args, ['as-of']);
    const [contractCode, month] = positional;
    if (!contractCode || !month || positional.length > 2) throw new UsageError(`usage: ledger ${this.usage}`);
    const asOf = instantOption(options, 'as-of');
    return withReadSide(ctx, async ({ ledger, queries }) => {
      const charges: EngineerCharges & { asOf?: string; position?: string } = asOf
        ? await engineerChargesAsOf({ store: ledger.store, queries, database: ledger.database }, contractCode, month, asOf)
        : await engineerCharges(queries, contractCode, month);
      if (options.json) {
        process.stdout.write(`${JSON.stringify(charges, null, 2)}\n`);
        return 0;
      }
      const rows: string[][] = [['number', 'figure', ...COLUMNS, 'calls']];
      for (const n of charges.numbers) {
        rows.push([n.number, 'normal', ...COLUMNS.map((c) => n.normal[c]), String(n.calls)]);
        rows.push(['', 'billed', ...COLUMNS.map((c) => n.billed[c]), '']);
      }
      rows.push(['month', 'normal', ...COLUMNS.map((c) => charges.normal[c]), String(charges.numbers.reduce((s, n) => s + n.calls, 0))]);
      rows.push(['', 'billed', ...COLUMNS.map((c) => charges.billed[c]), '']);
      const when = charges.asOf ? ` as of ${charges.asOf} (events up to position ${charges.position})` : '';
      process.stdout.write(`${contractCode} ${month}${when}\n${table(rows)}`);
      return 0;
    });
  },
};

/** Plain-text columns: the first `textColumns` left-aligned, the rest (figures) right-aligned. */
export function table(rows: string[][], textColumns = 2): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => r.map((cell, i) => (i < textColumns ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  ').trimEnd()).join('\n') + '\n';
}

export function isCategory(text: string): text is Category {
  return ['domestic', 'international', 'au', 'otherMobile'].includes(text);
}
