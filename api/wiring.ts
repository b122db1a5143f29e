// The engineers' operations and the CSV builder, from the real modules: the same code the CLI runs.
import type { Database } from '../eventstore/database.ts';
import type { EventStore } from '../eventstore/port.ts';
import type { LedgerQueries } from '../projections/read-model.ts';
import type { ProjectionRunner } from '../projections/index.ts';
import { auditFigure, verifyMonth } from '../projections/engineering.ts';
import { importCalls } from '../importers/calls.ts';
import { importContracts } from '../importers/contracts.ts';
import type { Writable } from 'node:stream';
import { buildCsvFile, writeExport } from '../importers/csv-export.ts';
import { reconcile } from '../importers/reconcile.ts';
import { ApiError } from './errors.ts';
import type { CsvFileBuilder, CsvFileInput, EngineerOperations } from './ports.ts';

export interface WiringDeps {
  readonly database: Database;
  readonly store: EventStore;
  readonly queries: LedgerQueries;
  /** When given, imports and rebuilds catch the projections up before answering, so the next query sees them. */
  readonly runner?: ProjectionRunner;
}

export function createEngineerOperations(deps: WiringDeps): EngineerOperations {
  const caughtUp = async () => {
    await deps.runner?.catchUp();
  };
  return {
    async importCalls(body, source) {
      const result = await importCalls(deps.store, body, { name: source });
      await caughtUp();
      return { read: result.read, imported: result.imported, alreadyPresent: result.alreadyPresent, duplicates: result.duplicates };
    },
    async importContracts(body, source) {
      const result = await importContracts(deps.store, body, { name: source, credentialsDb: deps.database.db });
      await caughtUp();
      return { read: result.read, imported: result.imported, alreadyPresent: result.alreadyPresent, duplicates: result.duplicates };
    },
    async rebuildProjections(projection) {
      if (!deps.runner) throw new ApiError(503, 'NOT_AVAILABLE', 'no projection runner in this process');
      const reports = await deps.runner.rebuild(projection ? [projection] : undefined);
      return { rebuilt: reports };
    },
    audit: (contractCode, month, filter) => auditFigure(deps, contractCode, month, filter),
    verify: (contractCode, month) => verifyMonth(deps, contractCode, month),
    async reconcile(contractCode, month, carrierCsv) {
      const report = await reconcile(deps.queries, contractCode, month, carrierCsv, { name: 'carrier file' });
      // Money → "8.00" strings, as everywhere in the API.
      return { ok: report.ok, differences: report.differences.map((d) => ({ number: d.number, category: d.category, carrier: d.carrier.toString(), ours: d.ours.toString(), difference: d.difference.toString() })) };
    },
  };
}

/** The one CSV writer of SPEC §7 (importers/csv-export.ts), as `ledger export` uses it: to `out` as it goes, or the whole file. */
export const buildCsv: CsvFileBuilder = ((input: CsvFileInput, out?: Writable) =>
  out ? writeExport(input.kind, input.queries, input.contractCode, input.month, input.encoding, out) : buildCsvFile(input)) as CsvFileBuilder;
