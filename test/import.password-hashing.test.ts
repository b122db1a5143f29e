// `ledger import contracts` hashes each new contract's initial password (scrypt, ~100 ms) before
// its transaction, not while holding the writers' lock: another writer never waits on a hash.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { importContracts } from '../importers/contracts.ts';
import { configurePasswordHashing, credentialMigrations, hashPassword, verifyPassword } from '../projections/credentials.ts';
import { testTargets, type TestDatabase } from './support/stores.ts';

const jsonl = (...lines: unknown[]) => Buffer.from(lines.map((l) => JSON.stringify(l)).join('\n') + '\n');
const open = (code: string, basicNumber: string) => ({
  type: 'OpenContract', contractCode: code, selfId: code, initialPassword: 'abc123', startDate: '2010-11-15', channels: 1,
  connectionType: 'ダイヤルイン接続', primaryDns: '192.0.2.1', secondaryDns: '192.0.2.2', basicNumber,
});

/** Resolves with the work's result, or with 'blocked' when it has not finished after `ms` (a deadlock, not a slow machine). */
function unlessBlocked<T>(work: Promise<T>, ms: number): Promise<T | 'blocked'> {
  return Promise.race([work, new Promise<'blocked'>((resolve) => setTimeout(() => resolve('blocked'), ms).unref())]);
}

// The production cost is no part of what is tested here.
configurePasswordHashing({ N: 1 << 10 });

for (const target of testTargets) {
  describe(`initial passwords of a contract file (${target.name})`, () => {
    let t: TestDatabase;
    beforeAll(async () => {
      t = await target.open([credentialMigrations]);
    });
    afterAll(async () => {
      await t?.cleanup();
    });

    it('are hashed while no append waits on them: another writer appends during each hash', async () => {
      const writes: string[] = [];
      // Each hash lets another writer append first. Were it inside the import's transaction, that
      // append would wait for the writers' lock the transaction holds, and the hash for the append.
      const hashWhileAnotherWrites = async (password: string) => {
        const outcome = await unlessBlocked(t.store.append(`probe-${writes.length}`, [{ id: crypto.randomUUID(), type: 'Probe', data: {} }]), 10_000);
        writes.push(outcome === 'blocked' ? 'blocked' : 'appended');
        return hashPassword(password);
      };
      const file = jsonl(...Array.from({ length: 5 }, (_, i) => open(`d40000000${i}`, `012040000${i}`)));
      expect(await importContracts(t.store, file, { name: 'c.jsonl', hashPassword: hashWhileAnotherWrites })).toMatchObject({ imported: 5 });
      expect(writes).toEqual(['appended', 'appended', 'appended', 'appended', 'appended']);
      const rows = await t.database.db.selectFrom('credentials').select(['contract_code', 'password_hash']).execute();
      expect(rows).toHaveLength(5);
      for (const r of rows) expect(await verifyPassword('abc123', r.password_hash as string)).toBe(true);
    }, 60_000);
  });
}
