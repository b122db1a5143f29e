// `ledger export numbers|calls CONTRACT MONTH [--encoding sjis|utf-8] [-o FILE]` (SPEC §5, §7):
// the same CSV writer as the API's background exports. Default Shift_JIS (CP932), CRLF.
// With -o the file is written under a temporary name and renamed when complete, so a refused
// character (no CP932 form) or a crash never leaves half a file behind.
import { createWriteStream } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { finished } from 'node:stream/promises';
import { isMonth } from '../../domain/time.ts';
import { UnencodableCharacterError, UnsafeCellError, writeExport, type ExportEncoding, type ExportKind } from '../../importers/csv-export.ts';
import { parseArgs, type Command } from '../command.ts';
import { InputError, UsageError } from '../errors.ts';
import { withReadSide } from './projection-support.ts';

export const exportCommand: Command = {
  usage: 'export numbers|calls CONTRACT MONTH [--encoding sjis|utf-8] [-o FILE]',
  async run(args, ctx) {
    const { positional, options } = parseArgs(args, ['encoding', 'o', 'output']);
    const [kind, contractCode, month] = positional;
    if ((kind !== 'numbers' && kind !== 'calls') || !contractCode || !month || positional.length > 3) throw new UsageError(`usage: ledger ${this.usage}`);
    if (!isMonth(month)) throw new UsageError(`MONTH must be YYYY-MM, got ${month}`);
    const encodingOption = options.encoding === undefined ? 'sjis' : String(options.encoding).toLowerCase();
    const encoding: ExportEncoding | undefined =
      encodingOption === 'sjis' || encodingOption === 'shift_jis' || encodingOption === 'cp932' ? 'sjis' : encodingOption === 'utf-8' || encodingOption === 'utf8' ? 'utf-8' : undefined;
    if (!encoding) throw new UsageError(`--encoding is sjis or utf-8, got ${String(options.encoding)}`);
    const output = options.o ?? options.output;
    if (output === true) throw new UsageError('-o needs a FILE');

    return withReadSide(ctx, async ({ queries }) => {
      if (!(await queries.contractExists(contractCode))) throw new InputError(`no contract ${contractCode}`);
      try {
        if (output === undefined) {
          await writeExport(kind as ExportKind, queries, contractCode, month, encoding, process.stdout);
          return 0;
        }
        const temporary = `${output}.part-${process.pid}`;
        const file = createWriteStream(temporary);
        try {
          const result = await writeExport(kind as ExportKind, queries, contractCode, month, encoding, file);
          file.end();
          await finished(file);
          await rename(temporary, output);
          process.stderr.write(`${output}: ${result.records} records, ${result.bytes} bytes (${encoding === 'sjis' ? 'Shift_JIS' : 'UTF-8 with BOM'})\n`);
          return 0;
        } catch (e) {
          file.destroy();
          await rm(temporary, { force: true });
          throw e;
        }
      } catch (e) {
        if (e instanceof UnencodableCharacterError || e instanceof UnsafeCellError) throw new InputError(`${kind} ${contractCode} ${month}: ${e.message}`);
        throw e;
      }
    });
  },
};
