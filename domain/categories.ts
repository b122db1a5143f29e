import type { Category } from './events.ts';

// SPEC §3.1: a call type is placed by the first matching rule; a call type no rule places is an
// import error, never a guess.
export interface CategoryRule {
  readonly match: { readonly contains?: string; readonly startsWith?: string; readonly equals?: string };
  readonly category: Category;
}

export type CategoryTable = readonly CategoryRule[];

export const DEFAULT_CATEGORY_TABLE: CategoryTable = [
  { match: { contains: '国際' }, category: 'international' },
  { match: { startsWith: '携帯呼(au' }, category: 'au' },
  { match: { startsWith: '携帯' }, category: 'otherMobile' },
  { match: { startsWith: 'PHS' }, category: 'otherMobile' },
  { match: { equals: '国内呼' }, category: 'domestic' },
  { match: { equals: 'IP間呼' }, category: 'domestic' },
  { match: { equals: '番号案内' }, category: 'domestic' },
  // "and other domestic types": the carrier's other domestic call types all name themselves 国内 or
  // are fixed-line/IP types; list more here rather than widening to a catch-all.
  { match: { contains: '国内' }, category: 'domestic' },
  { match: { startsWith: 'IP' }, category: 'domestic' },
  { match: { contains: '市内' }, category: 'domestic' },
  { match: { contains: '市外' }, category: 'domestic' },
];

export function categorize(callType: string, table: CategoryTable = DEFAULT_CATEGORY_TABLE): Category | undefined {
  for (const rule of table) {
    const { contains, startsWith, equals } = rule.match;
    if (equals !== undefined && callType !== equals) continue;
    if (startsWith !== undefined && !callType.startsWith(startsWith)) continue;
    if (contains !== undefined && !callType.includes(contains)) continue;
    return rule.category;
  }
  return undefined;
}

// SPEC §3.4: free calls (無料呼) are billed 0 yen; by default extension calls and flat-rate types.
export interface FreeCallRule {
  readonly extensionType?: '内線' | '外線';
  readonly callTypeContains?: string;
}

export const DEFAULT_FREE_CALL_RULES: readonly FreeCallRule[] = [{ extensionType: '内線' }, { callTypeContains: '定額' }];

export function isFreeCall(extensionType: string, callType: string, rules: readonly FreeCallRule[] = DEFAULT_FREE_CALL_RULES): boolean {
  return rules.some(
    (r) =>
      (r.extensionType === undefined || r.extensionType === extensionType) &&
      (r.callTypeContains === undefined || callType.includes(r.callTypeContains)) &&
      (r.extensionType !== undefined || r.callTypeContains !== undefined),
  );
}
