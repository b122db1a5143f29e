import { auditFigure } from '../../projections/engineering.ts';
import { parseArgs, type Command } from '../command.ts';
import { UsageError } from '../errors.ts';
import { withReadSide } from './projection-support.ts';
import { isCategory, table } from './totals.ts';

// `ledger audit CONTRACT MONTH [--number N] [--category C]`: the events behind a figure, with a running total.
export const audit: Command = {
  usage: 'audit CONTRACT MONTH [--number N] [--category C] [--json]',
  async run(args, ctx) {
    let parsed;
    try {
      parsed = parseArgs(args, ['number', 'category']);
    } catch (e) {
      throw new UsageError((e as Error).message);
    }
    const { positional, options } = parsed;
    const [contractCode, month] = positional;
    if (!contractCode || !month || positional.length > 2) throw new UsageError(`usage: ledger ${this.usage}`);
    const number = typeof options.number === 'string' ? options.number : undefined;
    const category = typeof options.category === 'string' ? options.category : undefined;
    if (category !== undefined && !isCategory(category)) throw new UsageError(`--category must be domestic, international, au or otherMobile, got ${category}`);
    return withReadSide(ctx, async ({ ledger, queries }) => {
      const result = await auditFigure({ store: ledger.store, queries }, contractCode, month, {
        ...(number !== undefined ? { number } : {}),
        ...(category !== undefined ? { category } : {}),
      });
      if (options.json) {
        process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
        return result.matches ? 0 : 1;
      }
      const rows = [
        ['position', 'event', 'call / note', 'using', 'shown under', 'category', 'normal', 'running', 'billed', 'running'],
        ...result.entries.map((e) => [
          e.position,
          e.type,
          [e.callId, e.startedAt, e.note].filter(Boolean).join(' '),
          e.usingNumber ?? '',
          e.attributedNumber ?? '',
          e.category ?? '',
          e.normal,
          e.runningNormal,
          e.billed,
          e.runningBilled,
        ]),
      ];
      const what = [contractCode, month, number ?? 'all numbers', category ?? 'all categories'].join(' ');
      process.stdout.write(`${what}\n${table(rows, 6)}`);
      process.stdout.write(
        `computed normal ${result.computed.normal} billed ${result.computed.billed}; projected normal ${result.projected.normal} billed ${result.projected.billed}: ${result.matches ? 'match' : 'DIFFER'}\n`,
      );
      return result.matches ? 0 : 1;
    });
  },
};
