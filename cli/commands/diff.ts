import { diffMonth } from '../../projections/engineering.ts';
import { parseArgs, type Command } from '../command.ts';
import { UsageError } from '../errors.ts';
import { withReadSide } from './projection-support.ts';
import { instantOption, table } from './totals.ts';

// `ledger diff CONTRACT MONTH --from T1 [--to T2] [--json]`: what changed in the month's figures
// between two instants, and the events recorded in between that changed them.
export const diff: Command = {
  usage: 'diff CONTRACT MONTH --from T1 [--to T2] [--json]',
  async run(args, ctx) {
    const { positional, options } = parseArgs(args, ['from', 'to']);
    const [contractCode, month] = positional;
    if (!contractCode || !month || positional.length > 2) throw new UsageError(`usage: ledger ${this.usage}`);
    const from = instantOption(options, 'from');
    if (!from) throw new UsageError(`--from is required; usage: ledger ${this.usage}`);
    const to = instantOption(options, 'to');
    if (to && to.getTime() < from.getTime()) throw new UsageError('--to must not be before --from');
    return withReadSide(ctx, async ({ ledger, queries }) => {
      const result = await diffMonth({ store: ledger.store, queries }, contractCode, month, from, to);
      if (options.json) {
        process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
        return 0;
      }
      const out: string[] = [`${contractCode} ${month}: from ${result.from.instant} (position ${result.from.position}) to ${result.to.instant} (position ${result.to.position})`];
      if (result.changed.length === 0) out.push('no figure changed');
      else {
        const rows = [
          ['number', 'category', 'normal from', 'normal to', 'billed from', 'billed to', 'calls'],
          ...result.changed.map((c) => [c.number, c.category, c.normal.from, c.normal.to, c.billed.from, c.billed.to, `${c.calls.from} → ${c.calls.to}`]),
        ];
        out.push(table(rows).trimEnd());
      }
      if (result.events.length > 0) {
        out.push('', 'events in between that changed them:');
        for (const e of result.events) {
          const parts = [`${e.position}`, e.type, e.callId ?? ''];
          if (e.charge) parts.push(`${e.charge.from} → ${e.charge.to}`);
          if (e.reason) parts.push(`(${e.reason})`);
          if (e.moved && e.moved.length > 0) parts.push(`moved ${e.moved.length} call(s): ${e.moved.slice(0, 5).map((m) => `${m.callId} ${m.from} → ${m.to}`).join(', ')}${e.moved.length > 5 ? ', …' : ''}`);
          if (e.note) parts.push(`— ${e.note}`);
          if (e.source) parts.push(`[${e.source}]`);
          out.push(`  ${parts.filter((p) => p !== '').join(' ')}`);
        }
      }
      process.stdout.write(`${out.join('\n')}\n`);
      return 0;
    });
  },
};
