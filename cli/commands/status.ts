import { parseArgs, type Command } from '../command.ts';
import { UsageError } from '../errors.ts';
import { describeStall, withReadSide } from './projection-support.ts';
import { table } from './totals.ts';

// `ledger status [--json]`: each projection's position and lag, and any stall (the event it cannot
// apply, and why): what /health says, for an engineer at a terminal. Exit 1 while one is stalled.
export const status: Command = {
  usage: 'status [--json]',
  async run(args, ctx) {
    const { positional, options } = parseArgs(args);
    if (positional.length > 0) throw new UsageError(`usage: ledger ${this.usage}`);
    return withReadSide(
      ctx,
      async ({ runner }) => {
        const projections = await runner.status();
        const stalled = Object.values(projections).some((p) => p.stalled);
        if (options.json) {
          process.stdout.write(`${JSON.stringify({ projections }, null, 2)}\n`);
          return stalled ? 1 : 0;
        }
        const rows = [['projection', 'state', 'position', 'lag']];
        for (const [name, p] of Object.entries(projections)) rows.push([name, p.stalled ? 'STALLED' : 'running', p.position, String(p.lag)]);
        process.stdout.write(table(rows));
        for (const p of Object.values(projections)) if (p.stalled) process.stdout.write(`${describeStall(p.stalled)}\n`);
        return stalled ? 1 : 0;
      },
      // Looking must not change what is looked at; the numbers are as the last catch-up left them.
      { catchUp: false },
    );
  },
};
