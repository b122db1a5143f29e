import type { LedgerConfig } from './config.ts';
import { UsageError } from './errors.ts';

export interface CommandContext {
  readonly config: LedgerConfig;
  readonly debug: boolean;
}

export interface Command {
  readonly usage: string;
  /** Returns the exit status; throw UsageError (2) or InputError (1) for the expected failures. */
  run(args: readonly string[], ctx: CommandContext): Promise<number>;
}

/** `--name value` and `--flag` options; the rest positional. */
export function parseArgs(args: readonly string[], valued: readonly string[] = []): { positional: string[]; options: Record<string, string | true> } {
  const positional: string[] = [];
  const options: Record<string, string | true> = {};
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a.startsWith('-') && a !== '-') {
      const key = a.replace(/^--?/, '');
      if (valued.includes(key)) {
        const v = args[i + 1];
        if (v === undefined) throw new UsageError(`${a} needs a value`);
        options[key] = v;
        i++;
      } else options[key] = true;
    } else positional.push(a);
  }
  return { positional, options };
}
