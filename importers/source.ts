// Input files for the importers: a path, a Buffer, or a one-shot Readable (the API posts a body).
// The call importer reads its input twice (validate, then append), so a one-shot stream is spooled
// to a temporary file first: memory stays flat whatever the size.
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';

export type ImportInput = string | Uint8Array | Readable;

/** An input that can be opened as many times as needed. */
export interface ReopenableSource {
  /** What error lines call the file (`FILE` of `FILE:LINE: FIELD: message`). */
  readonly name: string;
  /** Bytes, when known (for a progress bar). */
  readonly size?: number;
  open(): Readable;
  /** Removes a spooled copy, if any. */
  dispose(): Promise<void>;
}

export async function reopenable(input: ImportInput, name?: string): Promise<ReopenableSource> {
  if (typeof input === 'string') {
    const { size } = await stat(input);
    return { name: name ?? input, size, open: () => createReadStream(input, { highWaterMark: 256 * 1024 }), dispose: async () => {} };
  }
  if (input instanceof Uint8Array) {
    const buffer = Buffer.from(input.buffer, input.byteOffset, input.byteLength);
    return { name: name ?? 'input', size: buffer.length, open: () => Readable.from([buffer], { objectMode: false }), dispose: async () => {} };
  }
  const dir = await mkdtemp(join(tmpdir(), 'ledger-import-'));
  const path = join(dir, 'body');
  try {
    await pipeline(input, createWriteStream(path));
  } catch (e) {
    await rm(dir, { recursive: true, force: true });
    throw e;
  }
  const { size } = await stat(path);
  return {
    name: name ?? 'input',
    size,
    open: () => createReadStream(path, { highWaterMark: 256 * 1024 }),
    dispose: () => rm(dir, { recursive: true, force: true }),
  };
}

/** The whole input as text lines (JSON Lines files are small: contract changes, telegrams, corrections). */
export async function readAllBytes(input: ImportInput): Promise<Buffer> {
  if (input instanceof Uint8Array) return Buffer.from(input.buffer, input.byteOffset, input.byteLength);
  const stream = typeof input === 'string' ? createReadStream(input) : input;
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as string));
  return Buffer.concat(chunks);
}

export function displayName(input: ImportInput, name?: string): string {
  if (name) return name;
  return typeof input === 'string' ? input : 'input';
}

export { basename };
