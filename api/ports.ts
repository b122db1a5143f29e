// What the API needs from the other parts, as small functions, so that the routes stay thin and
// tests can stand in for a part. api/wiring.ts builds them from the real modules.
import type { Writable } from 'node:stream';
import type { Category } from '../domain/events.ts';
import type { Month } from '../domain/time.ts';
import type { LedgerQueries } from '../projections/read-model.ts';

export type ExportKind = 'numbers' | 'calls';
export type ExportEncoding = 'sjis' | 'utf-8';

/** Which SPEC §7 CSV file to make. */
export interface CsvFileInput {
  readonly queries: LedgerQueries;
  readonly contractCode: string;
  readonly month: Month;
  readonly kind: ExportKind;
  readonly encoding: ExportEncoding;
}

/**
 * Builds one SPEC §7 CSV file (the one CSV writer of importers/csv-export.ts): the whole file, or,
 * given `out`, written to it as it is made, minding its back-pressure (the export worker stores it
 * chunk by chunk and never holds it whole). A builder that ignores `out` and answers the bytes
 * is stored the same way.
 */
export interface CsvFileBuilder {
  (input: CsvFileInput): Promise<Uint8Array>;
  (input: CsvFileInput, out: Writable): Promise<unknown>;
}

/** One problem of an input file: a line (1-based, the header is line 1), a field, a message. */
export interface InputProblem {
  readonly line: number;
  readonly field?: string;
  readonly message: string;
}

/** An input refused as a whole: nothing of it was stored. Maps to 422 with the problems as details. */
export class InputRejected extends Error {
  override readonly name = 'InputRejected';
  readonly code: string;
  constructor(message: string, readonly details: readonly InputProblem[], code = 'INVALID_INPUT') {
    super(message);
    this.code = code;
  }
}

export interface CallImportSummary {
  readonly read: number;
  readonly imported: number;
  readonly alreadyPresent: number;
  readonly duplicates?: number;
}

export interface DifferenceReport {
  readonly ok: boolean;
  readonly differences: readonly unknown[];
}

/** The engineers' operations (SPEC §6), the same code the CLI runs. */
export interface EngineerOperations {
  /** Throws InputRejected (or an error with a code and problems) when any row is bad; then nothing is stored. */
  importCalls(body: Uint8Array, source: string): Promise<CallImportSummary>;
  importContracts(body: Uint8Array, source: string): Promise<unknown>;
  rebuildProjections(projection?: string): Promise<unknown>;
  audit(contractCode: string, month: Month, filter: { number?: string; category?: Category }): Promise<unknown>;
  verify(contractCode: string, month: Month): Promise<DifferenceReport>;
  reconcile(contractCode: string, month: Month, carrierCsv: Uint8Array): Promise<DifferenceReport>;
}
