// Reading the carrier's CSV files (SPEC §7): Shift_JIS (Windows-31J / CP932) or UTF-8 with or
// without a BOM, detected from the header line, which is never plain ASCII in either layout.
// Decoding never throws: an undecodable byte becomes U+FFFD (both decoders do that), and we note
// its line so that the importer can refuse the file with `FILE:LINE: …` instead of guessing.
// Bytes that decode but are not text are noted the same way (domain/text.ts): NUL and the other
// control characters but TAB, LF and CR (the CSV's own; a field holding one is refused by the
// field rules), C1 controls (CP932's byte 0x80 decodes to U+0080), and private-use code points
// (CP932's user-defined characters 0xF040–0xF9FC decode to U+E000–U+E757), each named by its bytes.
import iconv from 'iconv-lite';
import type { Readable } from 'node:stream';

export type FileEncoding = 'utf-8' | 'cp932';

/** What the decoder saw, filled in while the text streams through. */
export interface DecodeReport {
  encoding: FileEncoding | undefined;
  bom: boolean;
  /** Raw bytes consumed so far (for progress). */
  bytes: number;
  /** Line number → why it cannot be read (undecodable byte, NUL byte). At most MAX_BAD_LINES kept. */
  readonly badLines: Map<number, string>;
  badLineCount: number;
}

const MAX_BAD_LINES = 1000;
const DETECT_LIMIT = 64 * 1024;
const LF = 0x0a;

export function newDecodeReport(): DecodeReport {
  return { encoding: undefined, bom: false, bytes: 0, badLines: new Map(), badLineCount: 0 };
}

/** The encoding a header line (bytes up to the first LF) is written in. */
export function detectEncoding(head: Uint8Array): { encoding: FileEncoding; bom: boolean } {
  if (head.length >= 3 && head[0] === 0xef && head[1] === 0xbb && head[2] === 0xbf) return { encoding: 'utf-8', bom: true };
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(head);
    return { encoding: 'utf-8', bom: false };
  } catch {
    return { encoding: 'cp932', bom: false };
  }
}

interface TextDecoderLike {
  write(chunk: Buffer): string;
  end(): string;
}

function decoderFor(encoding: FileEncoding): TextDecoderLike {
  if (encoding === 'utf-8') {
    // ignoreBOM: false makes the decoder drop a leading BOM itself.
    const d = new TextDecoder('utf-8', { fatal: false, ignoreBOM: false });
    return { write: (c) => d.decode(c, { stream: true }), end: () => d.decode() };
  }
  const d = iconv.getDecoder('cp932');
  return { write: (c) => d.write(c), end: () => d.end() ?? '' };
}

/**
 * The decoded text of a byte stream, in chunks, noting in `report` every line that holds an
 * undecodable byte or a NUL byte (binary data). Line numbers are 1-based and count LFs.
 */
export async function* decodeText(bytes: Readable, report: DecodeReport): AsyncGenerator<string> {
  let decoder: TextDecoderLike | undefined;
  let pending: Buffer[] = [];
  let pendingLength = 0;
  let linesBefore = 0;

  const emit = (text: string): string => {
    if (text.length === 0) return text;
    const bad = firstSuspect(text);
    if (bad >= 0) noteBadLines(text, bad, linesBefore, report);
    linesBefore += countLf(text);
    return text;
  };

  for await (const raw of bytes) {
    const chunk: Buffer = Buffer.isBuffer(raw) ? raw : Buffer.from(raw as Uint8Array);
    report.bytes += chunk.length;
    if (!decoder) {
      pending.push(chunk);
      pendingLength += chunk.length;
      const joined = pending.length === 1 ? chunk : Buffer.concat(pending, pendingLength);
      const lf = joined.indexOf(LF);
      if (lf < 0 && pendingLength < DETECT_LIMIT) {
        pending = [joined];
        continue;
      }
      const detected = detectEncoding(joined.subarray(0, lf < 0 ? joined.length : lf));
      report.encoding = detected.encoding;
      report.bom = detected.bom;
      decoder = decoderFor(detected.encoding);
      pending = [];
      const text = emit(decoder.write(joined));
      if (text) yield text;
      continue;
    }
    const text = emit(decoder.write(chunk));
    if (text) yield text;
  }
  if (!decoder) {
    if (pendingLength === 0) return;
    const joined = Buffer.concat(pending, pendingLength);
    const lf = joined.indexOf(LF);
    const detected = detectEncoding(joined.subarray(0, lf < 0 ? joined.length : lf));
    report.encoding = detected.encoding;
    report.bom = detected.bom;
    decoder = decoderFor(detected.encoding);
    const text = emit(decoder.write(joined));
    if (text) yield text;
  }
  const rest = emit(decoder.end());
  if (rest) yield rest;
}

/**
 * What no line of a CSV file may hold: U+FFFD (an undecodable byte), control characters but TAB,
 * LF and CR, C1 controls, private-use code points (planes 15–16 by their high surrogates).
 */
export const NOT_TEXT = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f\ue000-\uf8ff\udb80-\udbff\ufffd]/;

function firstSuspect(text: string): number {
  return text.search(NOT_TEXT);
}

/** The bytes the file held for a character that is not text, as its encoding writes them. */
function bytesOf(ch: string, encoding: FileEncoding | undefined): Buffer {
  const cp = ch.codePointAt(0)!;
  if (encoding !== 'cp932') return Buffer.from(ch, 'utf8');
  // CP932's user-defined area: 0xF040–0xF9FC, 188 codes a lead byte, in the order of U+E000 on.
  if (cp >= 0xe000 && cp <= 0xe757) {
    const n = cp - 0xe000;
    const trail = n % 188;
    return Buffer.from([0xf0 + Math.floor(n / 188), trail < 63 ? 0x40 + trail : 0x80 + (trail - 63)]);
  }
  return cp < 0x100 ? Buffer.from([cp]) : iconv.encode(ch, 'cp932');
}

function notTextMessage(ch: string, encoding: FileEncoding | undefined, column: number): string {
  const cp = ch.codePointAt(0)!;
  const bytes = [...bytesOf(ch, encoding)].map((b) => `0x${b.toString(16).toUpperCase().padStart(2, '0')}`);
  const kind =
    cp <= 0x1f || cp === 0x7f
      ? 'a control character'
      : cp <= 0x9f
        ? 'a C1 control character'
        : encoding === 'cp932' && cp >= 0xe000 && cp <= 0xe757
          ? 'a user-defined (private-use) character'
          : 'a private-use character';
  const name = `U+${cp.toString(16).toUpperCase().padStart(4, '0')}`;
  return `${bytes.length === 1 ? 'byte' : 'bytes'} ${bytes.join(' ')} at column ${column}: ${name} is ${kind}, not text`;
}

function noteBadLines(text: string, from: number, linesBefore: number, report: DecodeReport): void {
  let line = linesBefore + 1 + countLf(text, 0, from);
  let lastLf = text.lastIndexOf('\n', from);
  for (let i = from; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === LF) {
      line++;
      lastLf = i;
      continue;
    }
    const ch = c >= 0xd800 && c <= 0xdbff ? text.slice(i, i + 2) : text[i]!;
    if (!NOT_TEXT.test(ch)) continue;
    if (report.badLines.has(line)) continue;
    report.badLineCount++;
    if (report.badLines.size < MAX_BAD_LINES) {
      report.badLines.set(
        line,
        c === 0
          ? 'binary data (a NUL byte): not a text CSV file'
          : c === 0xfffd
            ? `a byte that is not valid ${report.encoding === 'cp932' ? 'Shift_JIS (CP932)' : 'UTF-8'} at column ${i - lastLf}`
            : notTextMessage(ch, report.encoding, i - lastLf),
      );
    }
  }
}

function countLf(text: string, from = 0, to = text.length): number {
  let n = 0;
  let i = text.indexOf('\n', from);
  while (i >= 0 && i < to) {
    n++;
    i = text.indexOf('\n', i + 1);
  }
  return n;
}

/** Half-width spaces only (※右半角スペースはトリミング); a full-width space is data. */
export function trimTrailingSpaces(field: string): string {
  let end = field.length;
  while (end > 0 && field.charCodeAt(end - 1) === 0x20) end--;
  return end === field.length ? field : field.slice(0, end);
}
