import { closeMonths } from '../../importers/month-close.ts';
import { parseArgs, type Command } from '../command.ts';
import { UsageError } from '../errors.ts';
import { withReadSide } from './projection-support.ts';

// `ledger close MONTH (--contract CODE | --all)`: the month's bill is issued; from then on its
// figures, screens and files never change (SPEC §4.1). Refused (exit 1) for a month that has not
// ended in Japan time; closing a closed month changes nothing (exit 0).
export const close: Command = {
  usage: 'close MONTH (--contract CODE | --all) [--json]',
  async run(args, ctx) {
    const { positional, options } = parseArgs(args, ['contract']);
    const [month] = positional;
    if (!month || positional.length > 1) throw new UsageError(`usage: ledger ${this.usage}`);
    const contract = typeof options.contract === 'string' ? options.contract : undefined;
    if ((contract === undefined) === (options.all === undefined)) throw new UsageError(`give either --contract CODE or --all; usage: ledger ${this.usage}`);
    return withReadSide(
      ctx,
      async ({ ledger, queries }) => {
        const report = await closeMonths(
          { store: ledger.store, contractCodes: () => queries.contractCodes() },
          month,
          contract ? { contracts: [contract] } : { all: true },
          new Date(),
          { source: 'cli:close' },
        );
        if (options.json) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
        else {
          for (const r of report.results) process.stdout.write(`${r.contractCode} ${r.month}: ${r.closed ? `closed at ${r.closedAt}` : `already closed (at ${r.closedAt})`}\n`);
          for (const s of report.skipped) process.stdout.write(`${s.contractCode} ${month}: nothing to close (${s.reason})\n`);
          if (report.results.length === 0 && report.skipped.length === 0) process.stdout.write(`no contract to close for ${month}\n`);
        }
        return 0;
      },
      // --all lists the contracts from the contracts projection: bring it up to date first.
      { catchUp: options.all !== undefined },
    );
  },
};
