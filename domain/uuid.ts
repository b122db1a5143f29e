// UUIDv5 (RFC 9562 §5.5) over node:crypto's one-shot hash. The `uuid` package computes the same
// ids, but spends ~2.7 µs a call on byte conversions, and createHash().update().digest() costs
// three times the one-shot call: at a million calls per import both matter. domain/uuid.test.ts
// checks the ids equal the `uuid` package's.
import { hash } from 'node:crypto';

const namespaces = new Map<string, Buffer>();
const HEX = '0123456789abcdef';
let scratch = Buffer.alloc(1024);

function namespaceBytes(namespace: string): Buffer {
  let bytes = namespaces.get(namespace);
  if (!bytes) {
    const hex = namespace.replace(/-/g, '');
    if (!/^[0-9a-f]{32}$/i.test(hex)) throw new TypeError(`not a UUID: ${namespace}`);
    bytes = Buffer.from(hex, 'hex');
    namespaces.set(namespace, bytes);
  }
  return bytes;
}

export function uuidv5(name: string, namespace: string): string {
  // namespace bytes then the name's UTF-8 bytes, in a reused buffer (a name is at most 3 bytes a UTF-16 unit)
  if (16 + name.length * 3 > scratch.length) scratch = Buffer.alloc(16 + name.length * 3);
  namespaceBytes(namespace).copy(scratch, 0);
  const length = 16 + scratch.write(name, 16, 'utf8');
  const hex = hash('sha1', scratch.subarray(0, length), 'hex');
  // version 5 in the 13th hex digit, variant 10xx in the 17th
  const variant = HEX[(Number.parseInt(hex[16]!, 16) & 0x3) | 0x8]!;
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-5${hex.slice(13, 16)}-${variant}${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}
