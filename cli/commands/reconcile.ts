// `ledger reconcile CONTRACT MONTH FILE`: a carrier per-number CSV (SPEC §7.1) against our
// projection; exit 1 with the differences (per number and category) when any differs.
import { isMonth } from '../../domain/time.ts';
import { isImportRejected } from '../../importers/problems.ts';
import { reconcile as reconcileMonth } from '../../importers/reconcile.ts';
import { parseArgs, type Command } from '../command.ts';
import { InputError, UsageError } from '../errors.ts';
import { withReadSide } from './projection-support.ts';

export const reconcile: Command = {
  usage: 'reconcile CONTRACT MONTH FILE [--json]',
  async run(args, ctx) {
    const { positional, options } = parseArgs(args);
    const [contractCode, month, file] = positional;
    if (!contractCode || !month || !file || positional.length > 3) throw new UsageError(`usage: ledger ${this.usage}`);
    if (!isMonth(month)) throw new UsageError(`MONTH must be YYYY-MM, got ${month}`);
    return withReadSide(ctx, async ({ queries }) => {
      if (!(await queries.contractExists(contractCode))) throw new InputError(`no contract ${contractCode}`);
      let report;
      try {
        report = await reconcileMonth(queries, contractCode, month, file);
      } catch (e) {
        if (isImportRejected(e)) throw new InputError(e.message, e.lines());
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new InputError(`cannot read ${file}: no such file`);
        throw e;
      }
      if (options.json) {
        process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
      } else if (report.ok) {
        process.stdout.write(`${contractCode} ${month}: the carrier's file and the ledger agree\n`);
      } else {
        const rows = [['number', 'category', 'carrier', 'ours', 'difference'], ...report.differences.map((d) => [d.number, d.category, d.carrier.toString(), d.ours.toString(), d.difference.toString()])];
        const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
        const text = rows.map((r) => r.map((c, i) => (i < 2 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ')).join('\n');
        process.stdout.write(`${contractCode} ${month}: ${report.differences.length} difference${report.differences.length === 1 ? '' : 's'}\n${text}\n`);
      }
      return report.ok ? 0 : 1;
    });
  },
};
