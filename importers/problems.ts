// What is wrong with an input file, line by line: the CLI prints `FILE:LINE: FIELD: message`
// (INTERFACE.md), the API answers 422 with `details: [{line, field, message}]`.

export interface ImportProblem {
  readonly file: string;
  /** 1-based; 0 when the problem is the whole file. */
  readonly line: number;
  /** A SPEC header label (`通話料`), a JSON field (`effectiveFrom`), or a domain code for contract commands. */
  readonly field?: string;
  readonly message: string;
}

export function formatProblem(p: ImportProblem): string {
  const where = p.line > 0 ? `${p.file}:${p.line}` : p.file;
  return p.field ? `${where}: ${p.field}: ${p.message}` : `${where}: ${p.message}`;
}

/** Collects problems up to a cap, counting the rest. */
export class ProblemList {
  private readonly kept: ImportProblem[] = [];
  private total = 0;

  constructor(readonly cap = 100) {}

  add(problem: ImportProblem): void {
    this.total++;
    if (this.kept.length < this.cap) this.kept.push(problem);
  }

  get count(): number {
    return this.total;
  }

  get isEmpty(): boolean {
    return this.total === 0;
  }

  /** Kept problems in line order. */
  get items(): readonly ImportProblem[] {
    return [...this.kept].sort((a, b) => a.line - b.line);
  }

  get omitted(): number {
    return this.total - this.kept.length;
  }

  reject(summary: string): ImportRejected {
    return new ImportRejected(summary, this.items, this.omitted);
  }
}

/** The file was refused as a whole: nothing from it was appended. */
export class ImportRejected extends Error {
  readonly code = 'IMPORT_REJECTED';

  constructor(
    message: string,
    readonly problems: readonly ImportProblem[],
    /** Problems found beyond the kept ones ("and N more"). */
    readonly omitted = 0,
  ) {
    super(message);
  }

  /** One line per problem, then "and N more problems" when capped. */
  lines(): string[] {
    const lines = this.problems.map(formatProblem);
    if (this.omitted > 0) lines.push(`and ${this.omitted} more problem${this.omitted === 1 ? '' : 's'}`);
    return lines;
  }
}

export function isImportRejected(e: unknown): e is ImportRejected {
  return e instanceof ImportRejected;
}
