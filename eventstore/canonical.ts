import { createHash } from 'node:crypto';

/** JSON with object keys sorted, so that the same content always has the same text. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(sortKeys(value));
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(value as Record<string, unknown>).sort()) {
      const v = (value as Record<string, unknown>)[key];
      if (v !== undefined) out[key] = sortKeys(v);
    }
    return out;
  }
  return value;
}

/** What idempotency compares: the event's stream, type and data (not its metadata, which says when and from where). */
export function payloadHash(streamId: string, type: string, data: unknown): string {
  return createHash('sha256').update(streamId).update('\n').update(type).update('\n').update(canonicalJson(data)).digest('base64');
}
