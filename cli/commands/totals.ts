import type { Category } from '../../domain/events.ts';
import { engineerCharges, type FiguresJson } from '../../projections/engineering.ts';
import { parseArgs, type Command } from '../command.ts';
import { UsageError } from '../errors.ts';
import { withReadSide } from './projection-support.ts';

const COLUMNS: (keyof FiguresJson)[] = ['total', 'domestic', 'international', 'mobile', 'au', 'otherMobile'];

// `ledger totals CONTRACT MONTH [--json]`
export const totals: Command = {
  usage: 'totals CONTRACT MONTH [--json]',
  async run(args, ctx) {
    const { positional, options } = parseArgs(args);
    const [contractCode, month] = positional;
    if (!contractCode || !month || positional.length > 2) throw new UsageError(`usage: ledger ${this.usage}`);
    return withReadSide(ctx, async ({ queries }) => {
      const charges = await engineerCharges(queries, contractCode, month);
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
      process.stdout.write(`${contractCode} ${month}\n${table(rows)}`);
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
