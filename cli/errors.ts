/** A usage error: exit status 2 (INTERFACE.md). */
export class UsageError extends Error {}

/** Invalid input or a found difference: exit status 1, the message (one or more lines) on stderr. */
export class InputError extends Error {
  constructor(message: string, readonly lines: readonly string[] = []) {
    super(message);
  }
}
