// What a text field of an input file may hold (issue "hostile data"), for every importer and, on
// the way out, the CSV exporter:
//   - characters, not bytes that only look like them: no NUL or other control character (C0, DEL,
//     C1 — CP932's byte 0x80 decodes to U+0080), no private-use code point (CP932's user-defined
//     characters 0xF040–0xF9FC decode to U+E000–U+E757), no lone surrogate;
//   - nothing a spreadsheet runs: the call-detail CSV goes to customers who open it in Excel, and a
//     cell beginning with = + - @ TAB or CR is a formula there (OWASP, CSV injection). A number's
//     own sign stays: number fields are checked by their own format, not by this rule.

/** The characters that make a spreadsheet evaluate a cell when it begins with one (OWASP). */
export const FORMULA_LEADS: readonly string[] = ['=', '+', '-', '@', '\t', '\r'];

/** The first character of `text` that makes a spreadsheet run it, if any. */
export function formulaLead(text: string): string | undefined {
  const first = text.charAt(0);
  return first !== '' && FORMULA_LEADS.includes(first) ? first : undefined;
}

/** 着信電話番号: digits and hyphens, an optional leading + (an international number's own). */
const TELEPHONE_NUMBER = /^\+?\d[\d-]*$/;

export function isTelephoneNumber(text: string): boolean {
  return TELEPHONE_NUMBER.test(text);
}

export type UnfitKind = 'control character' | 'C1 control character' | 'private-use character' | 'lone surrogate';

export interface UnfitCharacter {
  readonly codePoint: number;
  /** 0-based index in the string (UTF-16 units). */
  readonly index: number;
  readonly kind: UnfitKind;
}

// C0 controls but TAB, LF and CR (a CSV line's own: a field holding one is refused by
// firstUnfitCharacter), DEL, C1, the private-use areas (BMP, and planes 15–16 by their high
// surrogates), and any surrogate (a paired one is checked in firstUnfitCharacter).
const SUSPECT = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f\ud800-\udfff\ue000-\uf8ff]/;

/** True when `text` may hold an unfit character: a quick test before firstUnfitCharacter. */
export function mayHoldUnfitCharacter(text: string): boolean {
  return SUSPECT.test(text);
}

/**
 * The first character of `text` that is not text (see the top of this file), if any. Inside a
 * field a TAB, LF or CR is one too: no field of ours spans lines or columns.
 */
export function firstUnfitCharacter(text: string): UnfitCharacter | undefined {
  if (!SUSPECT.test(text) && !/[\t\n\r]/.test(text)) return undefined;
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i);
    if (unit < 0x20 || unit === 0x7f) return { codePoint: unit, index: i, kind: 'control character' };
    if (unit >= 0x80 && unit <= 0x9f) return { codePoint: unit, index: i, kind: 'C1 control character' };
    if (unit >= 0xe000 && unit <= 0xf8ff) return { codePoint: unit, index: i, kind: 'private-use character' };
    if (unit >= 0xd800 && unit <= 0xdbff) {
      const low = text.charCodeAt(i + 1);
      if (!(low >= 0xdc00 && low <= 0xdfff)) return { codePoint: unit, index: i, kind: 'lone surrogate' };
      const codePoint = text.codePointAt(i)!;
      // Planes 15 and 16 are private use throughout.
      if (codePoint >= 0xf0000) return { codePoint, index: i, kind: 'private-use character' };
      i++;
      continue;
    }
    if (unit >= 0xdc00 && unit <= 0xdfff) return { codePoint: unit, index: i, kind: 'lone surrogate' };
  }
  return undefined;
}

/** `U+0080` */
export function codePointName(codePoint: number): string {
  return `U+${codePoint.toString(16).toUpperCase().padStart(4, '0')}`;
}

/**
 * What is wrong with a free-text field (an area, a call type, a telegram's kind, a reason …), in a
 * sentence for `FILE:LINE: FIELD: …`; undefined when nothing is.
 */
export function freeTextProblem(text: string): string | undefined {
  const unfit = firstUnfitCharacter(text);
  if (unfit) return `character ${codePointName(unfit.codePoint)} at position ${unfit.index + 1} is a ${unfit.kind}, not text`;
  const lead = formulaLead(text);
  if (lead !== undefined) return `must not begin with ${JSON.stringify(lead)}: a spreadsheet would run ${JSON.stringify(text)} as a formula`;
  return undefined;
}
