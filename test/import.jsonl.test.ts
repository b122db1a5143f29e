// Contract changes, telegrams and corrections (JSON Lines): each file applied whole or not at all.
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { credentialMigrations, verifyPassword } from '../projections/credentials.ts';
import { importCalls } from '../importers/calls.ts';
import { importContracts } from '../importers/contracts.ts';
import { importCorrections } from '../importers/corrections.ts';
import { importTelegrams } from '../importers/telegrams.ts';
import { ImportRejected } from '../importers/problems.ts';
import { testTargets, type TestDatabase } from './support/stores.ts';
import { callCsv, generatedRow } from './support/call-csv.ts';

const jsonl = (...lines: unknown[]) => Buffer.from(lines.map((l) => (typeof l === 'string' ? l : JSON.stringify(l))).join('\n') + '\n');
const open = (code: string, basicNumber: string, extra: Record<string, unknown> = {}) => ({
  type: 'OpenContract', contractCode: code, selfId: code, startDate: '2010-11-15', channels: 1, connectionType: 'ダイヤルイン接続',
  primaryDns: '192.0.2.1', secondaryDns: '192.0.2.2', basicNumber, ...extra,
});
const add = (code: string, n: string) => ({ type: 'AddNumber', contractCode: code, dialInNumber: n, auMobileNumber: '09012345678', startDate: '2010-11-15' });

async function rejected(run: Promise<unknown>): Promise<ImportRejected> {
  const e = await run.then(() => undefined, (x: unknown) => x);
  expect(e).toBeInstanceOf(ImportRejected);
  return e as ImportRejected;
}

for (const target of testTargets) {
  describe(`JSON Lines imports (${target.name})`, () => {
    let t: TestDatabase;
    beforeAll(async () => {
      t = await target.open([credentialMigrations]);
    });
    afterAll(async () => {
      await t.cleanup();
    });

    describe('contract changes', () => {
      it('applies a file, stores the initial password only as a slow hash, and is idempotent', async () => {
        const file = jsonl(open('d123456789', '0120222333', { initialPassword: 'abc123' }), add('d123456789', '0312345678'));
        expect(await importContracts(t.store, file, { name: 'c.jsonl' })).toEqual({ file: 'c.jsonl', read: 2, imported: 2, alreadyPresent: 0, duplicates: 0 });
        const { rows } = await sql<{ password_hash: string }>`select password_hash from credentials where contract_code = 'd123456789'`.execute(t.database.db);
        expect(rows[0]!.password_hash).toMatch(/^scrypt\$/);
        expect(await verifyPassword('abc123', rows[0]!.password_hash)).toBe(true);
        const events = await t.store.readAll({ limit: 100 });
        expect(JSON.stringify(events.map((e) => [e.data, e.metadata]))).not.toContain('abc123');
        expect(await importContracts(t.store, file, { name: 'c.jsonl' })).toMatchObject({ imported: 0, alreadyPresent: 2 });
      });

      it('refuses the whole file when any line breaks a rule, naming line and code', async () => {
        const before = await t.store.headPosition();
        const file = jsonl(open('d223456789', '0120999888'), add('d223456789', '0312345678'), '{not json', { type: 'Nope', contractCode: 'd223456789' }, add('d999999999', '0311112222'));
        const error = await rejected(importContracts(t.store, file, { name: 'bad.jsonl' }));
        expect(error.lines()).toEqual([
          'bad.jsonl:2: NUMBER_ALREADY_HELD: number 0312345678 is held by contract d123456789 from 2010-11-15, overlapping 2010-11-15 onwards',
          expect.stringMatching(/^bad\.jsonl:3: INVALID_JSON: /),
          expect.stringMatching(/^bad\.jsonl:4: INVALID_COMMAND: type: unknown command "Nope"/),
          expect.stringMatching(/^bad\.jsonl:5: CONTRACT_NOT_FOUND: /),
        ]);
        expect(await t.store.headPosition()).toBe(before);
      });

      it('decides each line against the state the earlier lines of the file build', async () => {
        const file = jsonl(open('d323456789', '0120777666'), add('d323456789', '0355556666'), { type: 'RemoveNumber', contractCode: 'd323456789', dialInNumber: '0355556666', endDate: '2018-03-31' });
        expect(await importContracts(t.store, file, { name: 'seq.jsonl' })).toMatchObject({ imported: 3 });
      });
    });

    describe('telegrams', () => {
      it('records TelegramRecorded with a deterministic id; a re-run is already present', async () => {
        const file = jsonl({ contractCode: 'd123456789', date: '2017-11-03', receiptNumber: 'R0001', destination: '東京都千代田区', kind: '慶弔', charge: '1230.00' });
        expect(await importTelegrams(t.store, file, { name: 't.jsonl' })).toMatchObject({ read: 1, imported: 1, alreadyPresent: 0 });
        expect(await importTelegrams(t.store, file, { name: 't.jsonl' })).toMatchObject({ imported: 0, alreadyPresent: 1 });
        const [event] = await t.store.readStream('telegrams-d123456789');
        expect(event!.data).toMatchObject({ month: '2017-11', receiptNumber: 'R0001', charge: '1230.00' });
      });

      it('refuses bad lines with FILE:LINE: FIELD: message and appends nothing', async () => {
        const before = await t.store.headPosition();
        const file = jsonl(
          { contractCode: 'd123456789', date: '2017-11-31', receiptNumber: 'R0002', destination: 'x', kind: 'k', charge: '1.00' },
          { contractCode: 'd000000001', date: '2017-11-03', receiptNumber: 'R0002', destination: 'x', kind: 'k', charge: '1.00' },
          { contractCode: 'd123456789', date: '2017-11-03', receiptNumber: 'R0002', destination: 'x', kind: 'k', charge: '-1' },
        );
        const error = await rejected(importTelegrams(t.store, file, { name: 't.jsonl' }));
        expect(error.lines()).toEqual([
          't.jsonl:1: date: expected a date YYYY-MM-DD, got "2017-11-31"',
          't.jsonl:2: contractCode: no contract d000000001',
          't.jsonl:3: charge: expected a non-negative amount with at most 2 decimals, like 8.00, got "-1"',
        ]);
        expect(await t.store.headPosition()).toBe(before);
      });
    });

    describe('corrections', () => {
      it('appends CallCorrected / CallVoided to the call\'s own stream, by callId or by identity fields', async () => {
        const rows = [generatedRow(0, ['0312345678']), generatedRow(1, ['0312345678'])];
        await importCalls(t.store, callCsv(rows), { name: 'calls.csv' });
        const [first, second] = await t.store.readAll({ streamPrefixes: ['calls-'] });
        const [n, d, time, dest, , dur, , type] = rows[1]!;
        const file = jsonl(
          { callId: first!.id, charge: '8.00', reason: 'carrier credit note 42' },
          { usingNumber: n, startDate: d, startTime: time, destination: dest, duration: dur, callType: type, void: true, reason: 'test call' },
        );
        expect(await importCorrections(t.store, file, { name: 'fix.jsonl' })).toMatchObject({ read: 2, imported: 2 });
        const stream = await t.store.readStream(first!.streamId);
        expect(stream.filter((e) => e.type === 'CallCorrected').map((e) => e.data)).toEqual([{ callId: first!.id, charge: '8.00', reason: 'carrier credit note 42' }]);
        const voided = (await t.store.readStream(second!.streamId)).filter((e) => e.type === 'CallVoided');
        expect(voided.map((e) => (e.data as { callId: string }).callId)).toEqual([second!.id]);
        expect(await importCorrections(t.store, file, { name: 'fix.jsonl' })).toMatchObject({ imported: 0, alreadyPresent: 2 });
      });

      it('refuses an unknown call and a bad charge, appending nothing', async () => {
        const before = await t.store.headPosition();
        const file = jsonl({ callId: '00000000-0000-5000-8000-000000000000', charge: '1.00', reason: 'r' }, { callId: 'nope', void: true, reason: 'r' });
        const error = await rejected(importCorrections(t.store, file, { name: 'fix.jsonl' }));
        expect(error.lines()).toEqual([
          'fix.jsonl:1: callId: no call 00000000-0000-5000-8000-000000000000 is stored',
          'fix.jsonl:2: callId: expected a call id like 3f2b…-…, got "nope"',
        ]);
        expect(await t.store.headPosition()).toBe(before);
      });
    });
  });
}
