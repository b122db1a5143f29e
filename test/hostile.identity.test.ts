// No command dropped silently (issue "hostile data", point 2): a command repeated after something
// superseded it is refused unless it carries a commandId; a commandId is the command's identity;
// telegrams are identified by their receipt number (受付番号). And stores written before all this
// keep their meaning: a file imported by the previous version, delivered again, is already present.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canonicalJson } from '../domain/canonical-json.ts';
import { optionOn } from '../domain/contract.ts';
import { streams } from '../domain/events.ts';
import { upcastTelegramRecorded } from '../domain/upcasters.ts';
import { uuidv5 } from '../domain/uuid.ts';
import { importCalls } from '../importers/calls.ts';
import { importContracts } from '../importers/contracts.ts';
import { importCorrections } from '../importers/corrections.ts';
import { ImportRejected } from '../importers/problems.ts';
import { importTelegrams } from '../importers/telegrams.ts';
import { foldContract } from '../projections/attribution.ts';
import { engineerCharges } from '../projections/engineering.ts';
import { createProjectionRunner, projectionMigrations } from '../projections/index.ts';
import { createQueries } from '../projections/queries.ts';
import { credentialMigrations } from '../projections/credentials.ts';
import { callCsv, generatedRow } from './support/call-csv.ts';
import { testTargets, type TestDatabase } from './support/stores.ts';

const jsonl = (...lines: unknown[]) => Buffer.from(lines.map((l) => JSON.stringify(l)).join('\n') + '\n');

async function rejected(run: Promise<unknown>): Promise<ImportRejected> {
  const e = await run.then(() => undefined, (x: unknown) => x);
  expect(e).toBeInstanceOf(ImportRejected);
  return e as ImportRejected;
}

// The ids the previous version gave (written out here, not imported: they must never change).
const CONTRACT_NS = '6f1c2a7e-3b9d-4c5e-8a1f-2d3e4b5c6a7d';
const CORRECTION_NS = '9c4e2a71-5f3b-4d8e-a6c2-7b1f0e3d5a92';
const TELEGRAM_NS = '2b7f4c1e-8d3a-4f6b-9e2c-5a1d7c3e9f40';
const previousCommandId = (command: Record<string, unknown>, index: number) => {
  const { initialPassword: _p, ...rest } = command;
  return uuidv5(`${canonicalJson(rest)}#${index}`, CONTRACT_NS);
};
const previousCorrectionId = (callId: string, charge: string, reason: string) => uuidv5(`${callId}\u001fCallCorrected\u001f${charge}\u001f${reason}`, CORRECTION_NS);
const previousTelegramId = (t: { contractCode: string; date: string; destination: string; kind: string; charge: string }) =>
  uuidv5([t.contractCode, t.date, t.destination, t.kind, t.charge].join('\u001f'), TELEGRAM_NS);

let seq = 300000000;
const nextCode = () => `d${++seq}`;
const openLine = (code: string, basic: string) => ({
  type: 'OpenContract', contractCode: code, selfId: code, startDate: '2010-11-15', channels: 1, connectionType: 'ダイヤルイン接続',
  primaryDns: '192.0.2.1', secondaryDns: '192.0.2.2', basicNumber: basic,
});
const subscribe = (code: string, extra: Record<string, unknown> = {}) => ({ type: 'SubscribeOption', contractCode: code, option: 'callRejection', effectiveFrom: '2017-11-01', ...extra });
const cancel = (code: string, extra: Record<string, unknown> = {}) => ({ type: 'CancelOption', contractCode: code, option: 'callRejection', effectiveFrom: '2017-11-01', ...extra });

for (const target of testTargets) {
  describe(`commands repeated after they were superseded (${target.name})`, () => {
    let t: TestDatabase;
    beforeAll(async () => {
      t = await target.open([credentialMigrations, projectionMigrations]);
    });
    afterAll(async () => {
      await t?.cleanup();
    });

    const subscribed = async (code: string) => {
      const state = foldContract((await t.store.readStream(streams.contract(code))).map((e) => ({ type: e.type, data: e.data })));
      return optionOn(state, 'callRejection', '2017-11-01').subscribed;
    };
    let basic = 1000;
    const newContract = async () => {
      const code = nextCode();
      await importContracts(t.store, jsonl(openLine(code, `01200${++basic}00`)), { name: 'open.jsonl' });
      return code;
    };

    describe('contract commands', () => {
      it('subscribe → cancel → subscribe without a commandId: the third is refused with FILE:LINE asking for one, nothing stored', async () => {
        const code = await newContract();
        await importContracts(t.store, jsonl(subscribe(code)), { name: 's1.jsonl' });
        await importContracts(t.store, jsonl(cancel(code)), { name: 's2.jsonl' });
        const before = await t.store.headPosition();
        const error = await rejected(importContracts(t.store, jsonl(subscribe(code)), { name: 's3.jsonl' }));
        expect(error.lines()).toEqual([
          's3.jsonl:1: COMMAND_SUPERSEDED: this SubscribeOption repeats one already recorded (from s1.jsonl:1), which a later OptionCancelled (from s2.jsonl:1) has since superseded; ' +
            'if it is a new command, give it a "commandId" (the order or ticket number it comes from)',
        ]);
        expect(await t.store.headPosition()).toBe(before);
        expect(await subscribed(code)).toBe(false);

        // With its order number it is a new command, and the ledger says what the engineer read.
        expect(await importContracts(t.store, jsonl(subscribe(code, { commandId: 'ORD-3' })), { name: 's3.jsonl' })).toMatchObject({ imported: 1, alreadyPresent: 0 });
        expect(await subscribed(code)).toBe(true);
        expect(await importContracts(t.store, jsonl(subscribe(code, { commandId: 'ORD-3' })), { name: 's3.jsonl' })).toMatchObject({ imported: 0, alreadyPresent: 1 });
      });

      it('the same inside one file: a line repeating an earlier line that a line between superseded is refused', async () => {
        const code = await newContract();
        const error = await rejected(importContracts(t.store, jsonl(subscribe(code), cancel(code), subscribe(code)), { name: 'one.jsonl' }));
        expect(error.lines()).toEqual([
          'one.jsonl:3: COMMAND_SUPERSEDED: this line repeats line 1, which line 2 has since superseded; if it is a new command, give it a "commandId" (the order or ticket number it comes from)',
        ]);
        expect(await importContracts(t.store, jsonl(subscribe(code), cancel(code), subscribe(code, { commandId: 'T-9' })), { name: 'one.jsonl' })).toMatchObject({ imported: 3 });
        expect(await subscribed(code)).toBe(true);
      });

      it('a plain re-delivery of the same file (nothing superseded in between) is already present, as before', async () => {
        const code = await newContract();
        const file = jsonl(
          { type: 'AddNumber', contractCode: code, dialInNumber: '0356781234', auMobileNumber: '09012345678', startDate: '2011-01-01' },
          { type: 'RemoveNumber', contractCode: code, dialInNumber: '0356781234', endDate: '2015-03-31' },
          subscribe(code),
          cancel(code),
        );
        expect(await importContracts(t.store, file, { name: 'r.jsonl' })).toMatchObject({ imported: 4 });
        const head = await t.store.headPosition();
        expect(await importContracts(t.store, file, { name: 'r.jsonl' })).toMatchObject({ imported: 0, alreadyPresent: 4, duplicates: 0 });
        expect(await t.store.headPosition()).toBe(head);
      });

      it('a commandId is the identity: the same again is present, other content under it is a conflict', async () => {
        const code = await newContract();
        await importContracts(t.store, jsonl({ type: 'ChangeChannels', contractCode: code, channels: 2, effectiveFrom: '2017-01-01', commandId: 'T-1' }), { name: 'c.jsonl' });
        const error = await rejected(importContracts(t.store, jsonl({ type: 'ChangeChannels', contractCode: code, channels: 3, effectiveFrom: '2017-01-01', commandId: 'T-1' }), { name: 'c2.jsonl' }));
        expect(error.lines()).toEqual([`c2.jsonl:1: COMMAND_ID_CONFLICT: commandId "T-1" is already recorded for ${code} with other content (from c.jsonl:1); a commandId names one command`]);
        const inFile = await rejected(
          importContracts(
            t.store,
            jsonl({ type: 'ChangeChannels', contractCode: code, channels: 4, effectiveFrom: '2018-01-01', commandId: 'T-2' }, { type: 'ChangeChannels', contractCode: code, channels: 5, effectiveFrom: '2018-01-01', commandId: 'T-2' }),
            { name: 'c3.jsonl' },
          ),
        );
        expect(inFile.lines()).toEqual(['c3.jsonl:2: COMMAND_ID_CONFLICT: commandId "T-2" is on line 1 too, with other content; a commandId names one command']);
        const tooLong = await rejected(importContracts(t.store, jsonl(cancel(code, { commandId: 'x'.repeat(65) })), { name: 'c4.jsonl' }));
        expect(tooLong.lines()).toEqual(['c4.jsonl:1: INVALID_COMMAND: commandId: at most 64 characters']);
      });

      it('a store written by the previous version: its file delivered again is already present, not doubled', async () => {
        const code = nextCode();
        const lines = [openLine(code, '0120777001'), subscribe(code), cancel(code)];
        // As the previous version stored them: ids from the content, no commandId anywhere.
        const data = [
          { contractCode: code, selfId: code, startDate: '2010-11-15', channels: 1, connectionType: 'ダイヤルイン接続', primaryDns: '192.0.2.1', secondaryDns: '192.0.2.2', basicNumber: '0120777001' },
          { contractCode: code, option: 'callRejection', effectiveFrom: '2017-11-01' },
          { contractCode: code, option: 'callRejection', effectiveFrom: '2017-11-01' },
        ];
        const types = ['ContractOpened', 'OptionSubscribed', 'OptionCancelled'];
        await t.store.append(
          streams.contract(code),
          lines.map((l, i) => ({ id: previousCommandId(l, 0), type: types[i]!, data: data[i], metadata: { source: `old.jsonl:${i + 1}`, commandType: l.type } })),
        );
        await t.store.append(streams.number('0120777001'), [
          { id: previousCommandId(lines[0]!, 1), type: 'NumberAssigned', data: { number: '0120777001', contractCode: code, kind: 'basic', from: '2010-11-15' }, metadata: { source: 'old.jsonl:1', commandType: 'OpenContract' } },
        ]);
        const head = await t.store.headPosition();
        expect(await importContracts(t.store, jsonl(...lines), { name: 'old.jsonl' })).toMatchObject({ read: 3, imported: 0, alreadyPresent: 3 });
        expect(await t.store.headPosition()).toBe(head);
      });
    });

    describe('corrections', () => {
      let calls: { id: string; streamId: string }[] = [];
      beforeAll(async () => {
        const code = nextCode();
        await importContracts(t.store, jsonl(openLine(code, '0120888001'), { type: 'AddNumber', contractCode: code, dialInNumber: '0388880001', auMobileNumber: '09012345678', startDate: '2010-11-15' }), { name: 'o.jsonl' });
        await importCalls(t.store, callCsv([0, 1, 2, 3].map((i) => generatedRow(i, ['0388880001']))), { name: 'calls.csv' });
        calls = (await t.store.readAll({ streamPrefixes: [`calls-${code}-`] })).map((e) => ({ id: e.id, streamId: e.streamId }));
      });
      const chargeOf = async (callId: string) => {
        const adjustments = (await t.store.findEvent(callId))!;
        const stream = await t.store.readStream(adjustments.streamId);
        const last = stream.filter((e) => e.type === 'CallCorrected' && (e.data as { callId: string }).callId === callId).at(-1);
        return (last?.data as { charge: string } | undefined)?.charge;
      };

      it('5.00 → 6.00 → 5.00 with the same reason: the third is refused asking for a commandId; with one, the call is 5.00', async () => {
        const callId = calls[0]!.id;
        await importCorrections(t.store, jsonl({ callId, charge: '5.00', reason: 'carrier note' }), { name: 'f1.jsonl' });
        await importCorrections(t.store, jsonl({ callId, charge: '6.00', reason: 'carrier note' }), { name: 'f2.jsonl' });
        const before = await t.store.headPosition();
        const error = await rejected(importCorrections(t.store, jsonl({ callId, charge: '5.00', reason: 'carrier note' }), { name: 'f3.jsonl' }));
        expect(error.lines()).toEqual([
          'f3.jsonl:1: commandId: this line repeats a correction already recorded (from f1.jsonl:1), which a later CallCorrected (from f2.jsonl:1) has since superseded; if it is a new correction, give it a "commandId" (the ticket it comes from)',
        ]);
        expect(await t.store.headPosition()).toBe(before);
        expect(await chargeOf(callId)).toBe('6.00');
        expect(await importCorrections(t.store, jsonl({ callId, charge: '5.00', reason: 'carrier note', commandId: 'TCK-77' }), { name: 'f3.jsonl' })).toMatchObject({ imported: 1 });
        expect(await chargeOf(callId)).toBe('5.00');
        expect(await importCorrections(t.store, jsonl({ callId, charge: '5.00', reason: 'carrier note', commandId: 'TCK-77' }), { name: 'f3.jsonl' })).toMatchObject({ imported: 0, alreadyPresent: 1 });
        const conflict = await rejected(importCorrections(t.store, jsonl({ callId, charge: '4.00', reason: 'carrier note', commandId: 'TCK-77' }), { name: 'f4.jsonl' }));
        expect(conflict.lines()).toEqual(['f4.jsonl:1: commandId: "TCK-77" is already recorded for this call with other content (from f3.jsonl:1); a commandId names one correction']);
      });

      it('inside one file too; a plain re-delivery of a file is already present', async () => {
        const callId = calls[1]!.id;
        const error = await rejected(
          importCorrections(t.store, jsonl({ callId, charge: '5.00', reason: 'r' }, { callId, charge: '6.00', reason: 'r' }, { callId, charge: '5.00', reason: 'r' }), { name: 'g.jsonl' }),
        );
        expect(error.lines()).toEqual(['g.jsonl:3: commandId: this line repeats line 1, which line 2 has since superseded; if it is a new correction, give it a "commandId" (the ticket it comes from)']);
        const file = jsonl({ callId, charge: '5.00', reason: 'r' }, { callId, charge: '6.00', reason: 'r' }, { callId, void: true, reason: 'test call' });
        expect(await importCorrections(t.store, file, { name: 'g.jsonl' })).toMatchObject({ imported: 3 });
        expect(await importCorrections(t.store, file, { name: 'g.jsonl' })).toMatchObject({ imported: 0, alreadyPresent: 3, duplicates: 0 });
      });

      it('a correction stored by the previous version: its file delivered again is already present', async () => {
        const { id: callId, streamId } = calls[2]!;
        await t.store.append(streamId, [{ id: previousCorrectionId(callId, '7.00', 'old'), type: 'CallCorrected', data: { callId, charge: '7.00', reason: 'old' }, metadata: { source: 'old.jsonl:1' } }]);
        const head = await t.store.headPosition();
        expect(await importCorrections(t.store, jsonl({ callId, charge: '7.00', reason: 'old' }), { name: 'old.jsonl' })).toMatchObject({ imported: 0, alreadyPresent: 1 });
        expect(await t.store.headPosition()).toBe(head);
      });
    });

    describe('telegrams (受付番号)', () => {
      const telegram = (code: string, receiptNumber: string | undefined, extra: Record<string, unknown> = {}) => ({
        contractCode: code, date: '2017-11-03', ...(receiptNumber !== undefined ? { receiptNumber } : {}), destination: '東京都千代田区', kind: '祝電', charge: '1230.00', ...extra,
      });

      it('two 祝電 alike in all but the receipt number are two charges; the same receipt again is present; other content a conflict; none is refused', async () => {
        const code = await newContract();
        expect(await importTelegrams(t.store, jsonl(telegram(code, 'R-1'), telegram(code, 'R-2')), { name: 't.jsonl' })).toMatchObject({ imported: 2, duplicates: 0 });
        await createProjectionRunner(t.database, t.store).catchUp();
        const listed = await createQueries(t.database, t.store).telegrams(code, '2017-11');
        expect(listed.map((x) => [x.receiptNumber, x.charge.toString()])).toEqual([['R-1', '1230.00'], ['R-2', '1230.00']]);
        expect(await importTelegrams(t.store, jsonl(telegram(code, 'R-2')), { name: 't.jsonl' })).toMatchObject({ imported: 0, alreadyPresent: 1 });

        const before = await t.store.headPosition();
        const error = await rejected(
          importTelegrams(t.store, jsonl(telegram(code, 'R-2', { charge: '1500.00' }), telegram(code, undefined, { date: '2017-11-04' }), telegram(code, 'R-3'), telegram(code, 'R-3', { kind: '弔電' })), { name: 'u.jsonl' }),
        );
        expect(error.lines()).toEqual([
          `u.jsonl:1: receiptNumber: R-2 is already recorded for ${code} with charge "1230.00" (this line: "1500.00"); a receipt number names one telegram`,
          'u.jsonl:2: receiptNumber: missing: the receipt number (受付番号) is what tells two telegrams alike in date, destination, kind and charge apart',
          'u.jsonl:4: receiptNumber: R-3 is on line 3 too, with kind "祝電" (this line: "弔電")',
        ]);
        expect(await t.store.headPosition()).toBe(before);
      });

      it('a store of the previous version: its telegram reads and counts as before; its file again is present; re-sent with receipt numbers, nothing is billed twice', async () => {
        const code = await newContract();
        // The previous version collapsed two identical 祝電 into this one event, with no receipt number.
        const content = { contractCode: code, date: '2017-11-03', destination: '東京都千代田区', kind: '祝電', charge: '1230.00' };
        const legacyId = previousTelegramId(content);
        await t.store.append(streams.telegrams(code), [{ id: legacyId, type: 'TelegramRecorded', data: { telegramId: legacyId, ...content, month: '2017-11' }, metadata: { source: 'old.jsonl:1' } }]);
        const runner = createProjectionRunner(t.database, t.store);
        const queries = createQueries(t.database, t.store);
        await runner.catchUp();
        expect((await queries.telegrams(code, '2017-11')).map((x) => [x.telegramId, x.receiptNumber, x.charge.toString()])).toEqual([[legacyId, null, '1230.00']]);

        const oldFile = jsonl(telegram(code, undefined), telegram(code, undefined));
        expect(await importTelegrams(t.store, oldFile, { name: 'old.jsonl' })).toMatchObject({ read: 2, imported: 0, alreadyPresent: 1, duplicates: 1 });

        // The same two, now with their receipt numbers: the first is the stored one, the second is new.
        const numbered = jsonl(telegram(code, 'R-10'), telegram(code, 'R-11'));
        expect(await importTelegrams(t.store, numbered, { name: 'new.jsonl' })).toMatchObject({ imported: 1, alreadyPresent: 1 });
        expect(await importTelegrams(t.store, numbered, { name: 'new.jsonl' })).toMatchObject({ imported: 0, alreadyPresent: 2 });
        expect(await importTelegrams(t.store, jsonl(telegram(code, 'R-10')), { name: 'again.jsonl' })).toMatchObject({ imported: 0, alreadyPresent: 1 });
        await runner.catchUp();
        const listed = await queries.telegrams(code, '2017-11');
        expect(listed.map((x) => [x.receiptNumber, x.charge.toString()]).sort()).toEqual([['R-10', '1230.00'], ['R-11', '1230.00']]);
        const [report] = await runner.rebuild(['telegrams']);
        expect(report!.events).toBeGreaterThan(0);
        expect((await queries.telegrams(code, '2017-11')).map((x) => [x.receiptNumber, x.charge.toString()]).sort()).toEqual([['R-10', '1230.00'], ['R-11', '1230.00']]);
        const month = await engineerCharges(queries, code, '2017-11');
        expect(month.normal.total).toBe('0.00'); // telegrams never in the call totals
      });
    });
  });
}

describe('reading a TelegramRecorded of the previous shape', () => {
  it('upcasts it: no receipt number becomes null, the rest as written', () => {
    const old = JSON.parse('{"telegramId":"6d1f0d5e-7a8b-5c9d-8e0f-1a2b3c4d5e6f","contractCode":"d123456789","date":"2017-11-03","month":"2017-11","destination":"東京","kind":"祝電","charge":"1230.00"}');
    expect(upcastTelegramRecorded(old)).toEqual({ ...old, receiptNumber: null });
    expect(upcastTelegramRecorded({ ...old, receiptNumber: 'R-1' }).receiptNumber).toBe('R-1');
  });
});
