// `ledger import contracts|calls|telegrams|corrections FILE…` (INTERFACE.md). Each file is applied
// whole or not at all; a refused file prints `FILE:LINE: FIELD: message` lines and exits 1, and the
// files after it are not read. A progress bar on a terminal (stderr), only the summary otherwise.
import { setFlagsFromString } from 'node:v8';
import cliProgress from 'cli-progress';
import type { Command } from '../command.ts';
import { parseArgs } from '../command.ts';
import { openLedger } from '../context.ts';
import { InputError, UsageError } from '../errors.ts';
import type { CallImportProgress } from '../../importers/calls.ts';
import type { ImportResult } from '../../importers/jsonl.ts';
import { isImportRejected } from '../../importers/problems.ts';

const KINDS = ['contracts', 'calls', 'telegrams', 'corrections'] as const;
type Kind = (typeof KINDS)[number];

export const importCommand: Command = {
  usage: 'import contracts|calls|telegrams|corrections FILE…',
  async run(args, ctx) {
    const { positional } = parseArgs(args);
    const [kind, ...files] = positional;
    if (!kind || !(KINDS as readonly string[]).includes(kind)) throw new UsageError(`what to import: ${KINDS.join(', ')}; usage: ledger ${this.usage}`);
    if (files.length === 0) throw new UsageError(`no FILE given; usage: ledger ${this.usage}`);
    const ledger = await openLedger(ctx.config);
    try {
      for (const file of files) {
        const result = await importOne(kind as Kind, file, ledger);
        process.stdout.write(`${file}: ${summary(result)}\n`);
      }
      return 0;
    } catch (e) {
      if (isImportRejected(e)) throw new InputError(e.message, e.lines());
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new InputError(`cannot read ${(e as NodeJS.ErrnoException).path ?? 'the file'}: no such file`);
      throw e;
    } finally {
      await ledger.close();
    }
  },
};

export function summary(r: ImportResult): string {
  return `read ${r.read}, imported ${r.imported}, already present ${r.alreadyPresent}, duplicates ${r.duplicates}`;
}

// Each importer is loaded when its kind is asked for: a call import, the big and frequent one,
// does not load the contract commands' validation (zod) at start-up.
async function importOne(kind: Kind, file: string, ledger: Awaited<ReturnType<typeof openLedger>>): Promise<ImportResult> {
  switch (kind) {
    case 'contracts': {
      const { importContracts } = await import('../../importers/contracts.ts');
      return importContracts(ledger.store, file, { credentialsDb: ledger.database.db });
    }
    case 'telegrams': {
      const { importTelegrams } = await import('../../importers/telegrams.ts');
      return importTelegrams(ledger.store, file);
    }
    case 'corrections': {
      const { importCorrections } = await import('../../importers/corrections.ts');
      return importCorrections(ledger.store, file);
    }
    case 'calls': {
      // A call import makes a few short-lived strings and objects a row: with a young generation of
      // up to 32 MB instead of 16, fewer scavenges (a tenth of its CPU time went to the collector).
      // Only here: the server and the export keep the default, they count their resident memory.
      setFlagsFromString('--max-semi-space-size=32');
      const { importCalls } = await import('../../importers/calls.ts');
      const bar = progressBar(file);
      try {
        return await importCalls(ledger.store, file, { onProgress: bar?.update });
      } finally {
        bar?.stop();
      }
    }
  }
}

/** On a terminal only: two phases (check, then append), each over the file's bytes. */
function progressBar(file: string): { update: (p: CallImportProgress) => void; stop: () => void } | undefined {
  if (!process.stderr.isTTY) return undefined;
  const bar = new cliProgress.SingleBar(
    { stream: process.stderr, format: `${file} {phase} [{bar}] {percentage}% | {rows} rows`, hideCursor: true, clearOnComplete: true },
    cliProgress.Presets.shades_classic,
  );
  let started = false;
  return {
    update(p) {
      const total = p.totalBytes ?? 0;
      const phase = p.phase === 'validate' ? 'checking ' : 'appending';
      if (!started) {
        bar.start(total, 0, { phase, rows: 0 });
        started = true;
      }
      bar.setTotal(total);
      bar.update(Math.min(p.bytes, total), { phase, rows: p.rows });
    },
    stop() {
      if (started) bar.stop();
    },
  };
}
