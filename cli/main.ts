// `ledger …` — the engineers' CLI (INTERFACE.md). Each command lives in cli/commands/<name>.ts and
// is listed below. Exit 0 success, 1 invalid input or a found difference, 2 usage error; errors
// as one sentence (or FILE:LINE: FIELD: message lines), a stack trace only with --debug.
import { configFromEnv } from './config.ts';
import { InputError, UsageError } from './errors.ts';
import type { Command } from './command.ts';
import { databaseTrouble, describe } from '../eventstore/connection.ts';

const commands: Record<string, () => Promise<Command>> = {
  serve: async () => (await import('./commands/serve.ts')).serve,
  import: async () => (await import('./commands/import.ts')).importCommand,
  export: async () => (await import('./commands/export.ts')).exportCommand,
  reconcile: async () => (await import('./commands/reconcile.ts')).reconcile,
  replay: async () => (await import('./commands/replay.ts')).replay,
  totals: async () => (await import('./commands/totals.ts')).totals,
  verify: async () => (await import('./commands/verify.ts')).verify,
  audit: async () => (await import('./commands/audit.ts')).audit,
  diff: async () => (await import('./commands/diff.ts')).diff,
  close: async () => (await import('./commands/close.ts')).close,
  status: async () => (await import('./commands/status.ts')).status,
};

const USAGE = `usage: ledger <command> [options]
  serve [--no-demo]
  import contracts|calls|telegrams|corrections FILE…
  replay [PROJECTION]
  totals CONTRACT MONTH [--as-of T] [--json]
  verify CONTRACT MONTH
  audit CONTRACT MONTH [--number N] [--category C]
  diff CONTRACT MONTH --from T1 [--to T2] [--json]
  close MONTH (--contract CODE | --all)
  export numbers|calls CONTRACT MONTH [--encoding sjis|utf-8] [-o FILE]
  reconcile CONTRACT MONTH FILE
  status [--json]
  (--debug on any command shows stack traces)`;

export async function main(argv: string[]): Promise<number> {
  const debug = argv.includes('--debug');
  const args = argv.filter((a) => a !== '--debug');
  const name = args[0];
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return name ? 0 : 2;
  }
  const load = commands[name];
  if (!load) {
    process.stderr.write(`ledger: unknown command "${name}"\n${USAGE}\n`);
    return 2;
  }
  try {
    const command = await load();
    return await command.run(args.slice(1), { config: configFromEnv(), debug });
  } catch (e) {
    if (e instanceof UsageError) {
      process.stderr.write(`ledger ${name}: ${e.message}\n`);
      return 2;
    }
    if (e instanceof InputError) {
      for (const line of e.lines) process.stderr.write(`${line}\n`);
      if (e.message) process.stderr.write(`${e.message}\n`);
      return 1;
    }
    const trouble = databaseTrouble(e);
    if (trouble && !debug) {
      // One sentence: what happened, that nothing half-done is left, what to do.
      process.stderr.write(
        trouble === 'unavailable'
          ? `ledger ${name}: the database could not be reached or the connection was lost (${describe(e)}); what was being written is not stored — run the same command again once the database answers.\n`
          : `ledger ${name}: the database is busy (${describe(e)}); nothing was changed — run the same command again.\n`,
      );
      return 1;
    }
    const err = e as Error & { code?: string };
    process.stderr.write(debug ? `${err.stack ?? String(err)}\n` : `ledger ${name}: ${err.code ? `${err.code}: ` : ''}${err.message ?? String(err)}\n`);
    return 1;
  }
}

const isEntry = process.argv[1] && /cli[\\/]main\.ts$/.test(process.argv[1]);
if (isEntry) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (e) => {
      process.stderr.write(`${String(e)}\n`);
      process.exitCode = 1;
    },
  );
}
