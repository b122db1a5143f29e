// The JSON-Lines importers' retry after another writer (importers/jsonl.ts importWithRetries).
import { describe, expect, it } from 'vitest';
import { ExpectedVersionConflict } from '../eventstore/port.ts';
import { importWithRetries } from '../importers/jsonl.ts';

describe('an import that another writer overtakes', () => {
  const body = Buffer.from('{"a":1}\n');

  it('is validated again on the same bytes, and succeeds on its third attempt', async () => {
    const seen: string[] = [];
    const result = await importWithRetries(body, { name: 'x.jsonl' }, async (bytes, name) => {
      seen.push(`${name}:${bytes.toString()}`);
      if (seen.length < 3) throw new ExpectedVersionConflict('contract-d123456789', 1, 2);
      return 'done';
    });
    expect(result).toBe('done');
    expect(seen).toEqual(Array(3).fill('x.jsonl:{"a":1}\n'));
  });

  it('gives up after maxAttempts with the conflict, and never retries another error', async () => {
    let calls = 0;
    const conflict = importWithRetries(body, { maxAttempts: 2 }, async () => {
      calls++;
      throw new ExpectedVersionConflict('s', 1, 2);
    });
    await expect(conflict).rejects.toBeInstanceOf(ExpectedVersionConflict);
    expect(calls).toBe(2);
    calls = 0;
    await expect(importWithRetries(body, {}, async () => {
      calls++;
      throw new Error('bad line');
    })).rejects.toThrow('bad line');
    expect(calls).toBe(1);
  });
});
