// The demo contract of SPEC §8 (`d123456789`), loaded by `ledger serve` on an empty store so that a
// newcomer can log in and see every portal page with data: the contract through the contract
// service, and deterministic calls for the last four months and the current one (relative to the
// clock), built and validated by domain/call.ts like any imported row.
import type { Kysely } from 'kysely';
import { DateTime } from 'luxon';
import { handleContractCommand } from '../domain/contract-service.ts';
import type { ContractCommand } from '../domain/contract.ts';
import { callRecordedData, parseCallRow, type CallRow } from '../domain/call.ts';
import { streams } from '../domain/events.ts';
import { addMonths, japanMonthAt, ZONE, type Month } from '../domain/time.ts';
import type { EventStore, StreamAppend } from '../eventstore/port.ts';
import { generateInitialPassword, setInitialCredentials } from '../projections/credentials.ts';

export const DEMO_CONTRACT_CODE = 'd123456789';
export const DEMO_SELF_ID = 'd123456789';
export const DEMO_DIAL_IN_NUMBER = '0312345678';
export const DEMO_BASIC_NUMBER = '0120222333';

export interface DemoLoaded {
  readonly contractCode: string;
  readonly selfId: string;
  /** The initial password, shown once (only its hash is stored). */
  readonly password: string;
  readonly calls: number;
  readonly months: readonly Month[];
}

export function demoContractCommands(): ContractCommand[] {
  return [
    {
      type: 'OpenContract',
      contractCode: DEMO_CONTRACT_CODE,
      selfId: DEMO_SELF_ID,
      startDate: '2010-11-15',
      channels: 1,
      connectionType: 'ダイヤルイン接続',
      primaryDns: '192.0.2.1',
      secondaryDns: '192.0.2.2',
      basicNumber: DEMO_BASIC_NUMBER,
    },
    { type: 'AddNumber', contractCode: DEMO_CONTRACT_CODE, dialInNumber: DEMO_DIAL_IN_NUMBER, auMobileNumber: '09012345678', startDate: '2010-11-15' },
    { type: 'SubscribeOption', contractCode: DEMO_CONTRACT_CODE, option: 'freecallNotification', effectiveFrom: '2010-11-15', freecallNumbers: [DEMO_BASIC_NUMBER] },
  ];
}

/** A small deterministic generator (mulberry32), seeded per month: the same month always gets the same calls. */
function randomFor(seedText: string): () => number {
  let seed = 0;
  for (const ch of seedText) seed = (Math.imul(seed, 31) + ch.charCodeAt(0)) | 0;
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = seed;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const pad = (n: number, width = 2) => String(n).padStart(width, '0');

/** The kinds of call the demo makes, in the proportions of the manual's example month. */
const CALL_KINDS = [
  { weight: 7, callType: '国内呼', area: '東京', destination: (r: () => number) => `03-${pad(Math.floor(r() * 10000), 4)}-${pad(Math.floor(r() * 10000), 4)}`, charge: () => '8.00' },
  { weight: 3, callType: '携帯呼', area: '携帯', destination: (r: () => number) => `080-${pad(Math.floor(r() * 10000), 4)}-${pad(Math.floor(r() * 10000), 4)}`, charge: (r: () => number) => `${16 + Math.floor(r() * 60)}.${r() < 0.5 ? '00' : '50'}` },
  { weight: 2, callType: '携帯呼(au 定額)', area: '携帯', destination: (r: () => number) => `090-${pad(Math.floor(r() * 10000), 4)}-${pad(Math.floor(r() * 10000), 4)}`, charge: (r: () => number) => `${15 + Math.floor(r() * 40)}.50` },
  { weight: 1, callType: 'IP間呼', area: 'IP電話', destination: (r: () => number) => `050-${pad(Math.floor(r() * 10000), 4)}-${pad(Math.floor(r() * 10000), 4)}`, charge: () => '0.00' },
  { weight: 1, callType: '国際呼', area: 'アメリカ', destination: (r: () => number) => `001012125550${pad(Math.floor(r() * 100))}`, charge: (r: () => number) => `${60 + Math.floor(r() * 200)}.00` },
] as const;

/** The demo's call-detail rows of one month, only for days before `now` (SPEC §7.2 fields). */
export function demoCallRows(month: Month, now: Date): CallRow[] {
  const r = randomFor(`demo-${month}`);
  const first = DateTime.fromISO(`${month}-01`, { zone: ZONE });
  const today = DateTime.fromJSDate(now, { zone: ZONE }).startOf('day');
  const rows: CallRow[] = [];
  const totalWeight = CALL_KINDS.reduce((s, k) => s + k.weight, 0);
  for (let day = 1; day <= first.daysInMonth!; day++) {
    const date = first.set({ day });
    if (date >= today) break;
    if (date.weekday >= 6) continue; // an office: calls on weekdays
    const callsToday = 1 + Math.floor(r() * 3);
    for (let i = 0; i < callsToday; i++) {
      let pick = r() * totalWeight;
      const kind = CALL_KINDS.find((k) => (pick -= k.weight) < 0) ?? CALL_KINDS[0];
      const hour = 9 + Math.floor(r() * 9);
      const seconds = 10 + Math.floor(r() * 600);
      rows.push({
        usingNumber: DEMO_DIAL_IN_NUMBER,
        startDate: date.toFormat('yyyy/MM/dd'),
        startTime: `${pad(hour)}${pad(Math.floor(r() * 60))}${pad(Math.floor(r() * 60))}.${Math.floor(r() * 10)}`,
        destination: kind.destination(r),
        area: kind.area,
        duration: `00${pad(Math.floor(seconds / 60))}${pad(seconds % 60)}.${Math.floor(r() * 10)}`,
        extensionType: '外線',
        callType: kind.callType,
        charge: kind.charge(r),
      });
    }
  }
  // One directory-assistance call (a count, not a duration) early in the month.
  const second = first.set({ day: 2 });
  if (second < today) {
    rows.push({ usingNumber: DEMO_DIAL_IN_NUMBER, startDate: second.toFormat('yyyy/MM/dd'), startTime: '100000.0', destination: '104', area: '', duration: '1件', extensionType: '外線', callType: '番号案内', charge: '60.00' });
  }
  return rows;
}

/** True when the store holds no event at all (the demo loads only into an empty store). */
export async function isEmptyStore(store: EventStore): Promise<boolean> {
  return (await store.headPosition()) === 0n;
}

/**
 * Opens the demo contract, stores its initial password (hashed) and appends its calls for the
 * current month and the four before it. Idempotent: a second run appends nothing new (the ids are
 * deterministic), though it sets no new password.
 */
export async function loadDemo(deps: { store: EventStore; db: Kysely<any> }, options: { now: Date; password?: string }): Promise<DemoLoaded> {
  const password = options.password ?? generateInitialPassword();
  for (const command of demoContractCommands()) {
    await handleContractCommand(deps.store, command, { metadata: { source: 'demo' } });
  }
  await setInitialCredentials(deps.db, { contractCode: DEMO_CONTRACT_CODE, selfId: DEMO_SELF_ID, password });

  const current = japanMonthAt(options.now);
  const months = [4, 3, 2, 1, 0].map((n) => addMonths(current, -n));
  const byStream = new Map<string, StreamAppend['events'][number][]>();
  let calls = 0;
  for (const month of months) {
    for (const row of demoCallRows(month, options.now)) {
      const parsed = parseCallRow(row);
      if (!parsed.ok) throw new Error(`demo call row is invalid: ${parsed.problems.map((p) => `${p.field}: ${p.message}`).join('; ')}`);
      const data = callRecordedData(parsed.call, DEMO_CONTRACT_CODE);
      const streamId = streams.calls(DEMO_CONTRACT_CODE, data.billingMonth);
      const list = byStream.get(streamId) ?? [];
      list.push({ id: data.callId, type: 'CallRecorded', data, metadata: { source: 'demo' } });
      byStream.set(streamId, list);
      calls++;
    }
  }
  await deps.store.appendMany([...byStream.entries()].map(([streamId, events]) => ({ streamId, events })));
  return { contractCode: DEMO_CONTRACT_CODE, selfId: DEMO_SELF_ID, password, calls, months };
}
