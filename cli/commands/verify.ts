import { verifyMonth } from '../../projections/engineering.ts';
import { parseArgs, type Command } from '../command.ts';
import { UsageError } from '../errors.ts';
import { withReadSide } from './projection-support.ts';
import { table } from './totals.ts';

// `ledger verify CONTRACT MONTH`: exit 1 and the differences when the projection differs from the events.
export const verify: Command = {
  usage: 'verify CONTRACT MONTH [--json]',
  async run(args, ctx) {
    const { positional, options } = parseArgs(args);
    const [contractCode, month] = positional;
    if (!contractCode || !month || positional.length > 2) throw new UsageError(`usage: ledger ${this.usage}`);
    return withReadSide(ctx, async ({ ledger, queries }) => {
      const result = await verifyMonth({ database: ledger.database, store: ledger.store, queries }, contractCode, month);
      if (options.json) process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
      else if (result.ok) process.stdout.write(`${contractCode} ${month}: the projection equals a fresh computation from the events\n`);
      else {
        const rows = [['number', 'category', 'field', 'projected', 'computed'], ...result.differences.map((d) => [d.number, d.category, d.field, d.projected, d.computed])];
        process.stdout.write(`${contractCode} ${month}: ${result.differences.length} difference(s)\n${table(rows, 3)}`);
      }
      return result.ok ? 0 : 1;
    });
  },
};
