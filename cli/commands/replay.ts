import { UnknownProjectionError } from '../../projections/index.ts';
import { parseArgs, type Command } from '../command.ts';
import { UsageError } from '../errors.ts';
import { withReadSide } from './projection-support.ts';

// `ledger replay [PROJECTION]`: rebuild into fresh tables while queries keep answering, then swap.
export const replay: Command = {
  usage: 'replay [PROJECTION]',
  async run(args, ctx) {
    const { positional } = parseArgs(args);
    if (positional.length > 1) throw new UsageError(`usage: ledger ${this.usage}`);
    return withReadSide(
      ctx,
      async ({ runner }) => {
        let reports;
        try {
          reports = await runner.rebuild(positional);
        } catch (e) {
          if (e instanceof UnknownProjectionError) throw new UsageError(e.message);
          throw e;
        }
        for (const r of reports) {
          const rate = r.ms > 0 ? Math.round((r.events * 1000) / r.ms) : r.events;
          process.stdout.write(`${r.projection}: ${r.events} events in ${(r.ms / 1000).toFixed(2)} s (${rate} events/s), position ${r.position}\n`);
        }
        return 0;
      },
      { catchUp: false },
    );
  },
};
