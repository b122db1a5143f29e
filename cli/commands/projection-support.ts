// Shared by the read-side commands (replay, totals, verify, audit): open the ledger, bring the
// projections up to the store's head (exactly once, even with the server running), and close.
import { createProjectionRunner, type ProjectionRunner, type ProjectionStall } from '../../projections/index.ts';
import { createQueries } from '../../projections/queries.ts';
import type { LedgerQueries } from '../../projections/read-model.ts';
import type { CommandContext } from '../command.ts';
import { openLedger, type Ledger } from '../context.ts';

export interface ReadSide {
  readonly ledger: Ledger;
  readonly runner: ProjectionRunner;
  readonly queries: LedgerQueries;
}

export async function withReadSide<T>(ctx: CommandContext, work: (r: ReadSide) => Promise<T>, options: { catchUp?: boolean } = {}): Promise<T> {
  const ledger = await openLedger(ctx.config);
  try {
    const runner = createProjectionRunner(ledger.database, ledger.store);
    if (options.catchUp ?? true) {
      await runner.catchUp();
      // Figures read from a stalled projection stop before the event it cannot apply: say so.
      for (const stall of await runner.stalls()) process.stderr.write(`ledger: warning: ${describeStall(stall)}; its figures leave that event and every later one out\n`);
    }
    return await work({ ledger, runner, queries: createQueries(ledger.database, ledger.store) });
  } finally {
    await ledger.close();
  }
}

export function describeStall(s: ProjectionStall): string {
  return `projection ${s.projection} is stalled since ${s.since} before event ${s.eventId} (${s.eventType} at position ${s.position} in ${s.streamId}): ${s.error}`;
}
