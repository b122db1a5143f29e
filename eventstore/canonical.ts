import { createHash } from 'node:crypto';
import { canonicalJson } from '../domain/canonical-json.ts';

export { canonicalJson };

/** What idempotency compares: the event's stream, type and data (not its metadata, which says when and from where). */
export function payloadHash(streamId: string, type: string, data: unknown): string {
  return hashOfCanonical(streamId, type, canonicalJson(data));
}

export function hashOfCanonical(streamId: string, type: string, canonical: string): string {
  return createHash('sha256').update(streamId).update('\n').update(type).update('\n').update(canonical).digest('base64');
}
