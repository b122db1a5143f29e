// The demo contract of SPEC §8 (`d123456789`), loaded by `ledger serve` on an empty store so that a
// newcomer can log in and see every screen of the manual with data: three dial-in numbers (NEXT /
// BACK), フリーコール numbers, the representative-number option subscribed part-way through the
// previous month, free calls (au 定額 and 内線: shown at their normal charge, billed 0), a call
// running past midnight at a month's end, 番号案内 counted in 件, 050 IP calls, telegrams in some
// months, and enough calls on the main number for several pages of details. The months before the
// current one are closed (billed, SPEC §4.1), and a correction, a void and a call of the previous
// month arrive after its close: the current month lists them as 前月以前分の調整.
//
// Everything is relative to the clock (the last four months and the current one) and deterministic:
// the same `now` always gives the same contract, calls and telegrams. Contract changes go through
// the contract service, calls are built and validated by domain/call.ts like any imported row, and
// telegrams through the telegram importer.
import type { Kysely } from 'kysely';
import { closeMonth } from '../domain/billing-service.ts';
import { uuidv5 } from '../domain/uuid.ts';
import { DateTime } from 'luxon';
import { handleContractCommand } from '../domain/contract-service.ts';
import type { ContractCommand } from '../domain/contract.ts';
import { callRecordedData, parseCallRow, type CallRow } from '../domain/call.ts';
import { streams } from '../domain/events.ts';
import { addMonths, isoJapanOf, japanMonthAt, ZONE, type JapanDate, type Month } from '../domain/time.ts';
import type { EventStore, StreamAppend } from '../eventstore/port.ts';
import { importTelegrams } from '../importers/telegrams.ts';
import { generateInitialPassword, setInitialCredentials } from '../projections/credentials.ts';

export const DEMO_CONTRACT_CODE = 'd123456789';
export const DEMO_SELF_ID = 'd123456789';
export const DEMO_BASIC_NUMBER = '0120222333';
/** The main office number: the most calls, and the representative number (通知電話番号) once the option is on. */
export const DEMO_DIAL_IN_NUMBER = '0312345678';

/** The contract's dial-in lines (契約電話番号詳細), in start order. */
export const DEMO_LINES = [
  { dialInNumber: DEMO_DIAL_IN_NUMBER, auMobileNumber: '09012345678', startDate: '2010-11-15', callsPerDay: [2, 5] },
  { dialInNumber: '0312345679', auMobileNumber: '09012345679', startDate: '2013-04-01', callsPerDay: [0, 3] },
  { dialInNumber: '0662345678', auMobileNumber: '08012345678', startDate: '2016-10-01', callsPerDay: [0, 2] },
] as const;

/** フリーコール(選択)電話番号詳細. */
export const DEMO_FREECALL_NUMBERS = [DEMO_BASIC_NUMBER, '0120444555', '08001234567'] as const;

/** The day of the previous month from which the representative number (拠点代表番号通知) is subscribed. */
export const REPRESENTATIVE_FROM_DAY = 16;

export interface DemoLoaded {
  readonly contractCode: string;
  readonly selfId: string;
  /** The initial password, shown once (only its hash is stored). */
  readonly password: string;
  readonly calls: number;
  readonly telegrams: number;
  readonly months: readonly Month[];
}

/** The months the demo fills: the current one and the four before it (the portal's window). */
export function demoMonths(now: Date): Month[] {
  const current = japanMonthAt(now);
  return [4, 3, 2, 1, 0].map((n) => addMonths(current, -n));
}

/** The day the representative-number option takes effect: part-way through the month before `now`'s. */
export function representativeFrom(now: Date): JapanDate {
  return `${addMonths(japanMonthAt(now), -1)}-${String(REPRESENTATIVE_FROM_DAY).padStart(2, '0')}`;
}

export function demoContractCommands(now: Date): ContractCommand[] {
  return [
    {
      type: 'OpenContract',
      contractCode: DEMO_CONTRACT_CODE,
      selfId: DEMO_SELF_ID,
      startDate: '2010-11-15',
      channels: 3,
      connectionType: 'ダイヤルイン接続',
      primaryDns: '192.0.2.1',
      secondaryDns: '192.0.2.2',
      basicNumber: DEMO_BASIC_NUMBER,
    },
    ...DEMO_LINES.map(
      (l): ContractCommand => ({ type: 'AddNumber', contractCode: DEMO_CONTRACT_CODE, dialInNumber: l.dialInNumber, auMobileNumber: l.auMobileNumber, startDate: l.startDate }),
    ),
    { type: 'SubscribeOption', contractCode: DEMO_CONTRACT_CODE, option: 'freecallNotification', effectiveFrom: '2010-11-15', freecallNumbers: [...DEMO_FREECALL_NUMBERS] },
    { type: 'SubscribeOption', contractCode: DEMO_CONTRACT_CODE, option: 'auIncomingDiscount', effectiveFrom: '2012-04-01' },
    { type: 'SubscribeOption', contractCode: DEMO_CONTRACT_CODE, option: 'representativeNumber', effectiveFrom: representativeFrom(now), representativeNumber: DEMO_DIAL_IN_NUMBER },
  ];
}

/** A small deterministic generator (mulberry32), seeded by text: the same month and number always get the same calls. */
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
const digits = (r: () => number, n: number) => pad(Math.floor(r() * 10 ** n), n);
/** `hhmmss.s` of a number of seconds and tenths. */
const hhmmss = (seconds: number, tenth: number) => `${pad(Math.floor(seconds / 3600))}${pad(Math.floor(seconds / 60) % 60)}${pad(seconds % 60)}.${tenth}`;
/** Domestic and IP calls: 8.00 yen per started 3 minutes (the manual's 8.00円 a call). */
const perThreeMinutes = (seconds: number) => `${8 * Math.max(1, Math.ceil(seconds / 180))}.00`;

interface CallKind {
  readonly weight: number;
  readonly callType: string;
  readonly area: string;
  readonly extensionType?: '内線';
  destination(r: () => number): string;
  charge(r: () => number, seconds: number): string;
}

/** The kinds of call the demo makes, roughly in the proportions of the manual's example month. */
const CALL_KINDS: readonly CallKind[] = [
  { weight: 7, callType: '国内呼', area: '東京', destination: (r) => `03-${digits(r, 4)}-${digits(r, 4)}`, charge: (_r, s) => perThreeMinutes(s) },
  { weight: 2, callType: '国内呼', area: '大阪', destination: (r) => `06-${digits(r, 4)}-${digits(r, 4)}`, charge: (_r, s) => perThreeMinutes(s) },
  { weight: 3, callType: '携帯呼', area: '携帯', destination: (r) => `080-${digits(r, 4)}-${digits(r, 4)}`, charge: (r) => `${16 + Math.floor(r() * 60)}.${r() < 0.5 ? '00' : '50'}` },
  // Free on the bill (SPEC §3.4): shown at the normal charge, billed 0.
  { weight: 2, callType: '携帯呼(au 定額)', area: '携帯', destination: (r) => `090-${digits(r, 4)}-${digits(r, 4)}`, charge: (r) => `${15 + Math.floor(r() * 40)}.50` },
  { weight: 1, callType: '国内呼', area: '東京', extensionType: '内線', destination: () => '03-1234-5679', charge: (_r, s) => perThreeMinutes(s) },
  { weight: 2, callType: 'IP間呼', area: 'IP電話', destination: (r) => `050-${digits(r, 4)}-${digits(r, 4)}`, charge: () => '8.00' },
  { weight: 1, callType: '国際呼', area: 'アメリカ', destination: (r) => `00101212555${digits(r, 4)}`, charge: (r) => `${60 + Math.floor(r() * 200)}.00` },
];
const TOTAL_WEIGHT = CALL_KINDS.reduce((s, k) => s + k.weight, 0);

/**
 * The demo's call-detail rows that start in `month`, only for days before `now` (SPEC §7.2 fields):
 * weekday calls on every line, a 番号案内 on the 2nd, and on the month's last day a call from the
 * main number that runs past midnight — billed in the next month (SPEC §3.2), so it is left out
 * while the next month has not begun.
 */
export function demoCallRows(month: Month, now: Date): CallRow[] {
  const first = DateTime.fromISO(`${month}-01`, { zone: ZONE });
  const today = DateTime.fromJSDate(now, { zone: ZONE }).startOf('day');
  const rows: CallRow[] = [];
  for (const line of DEMO_LINES) {
    if (`${month}-${pad(first.daysInMonth!)}` < line.startDate) continue;
    const r = randomFor(`demo-${month}-${line.dialInNumber}`);
    const [least, most] = line.callsPerDay;
    for (let day = 1; day <= first.daysInMonth!; day++) {
      const date = first.set({ day });
      if (date >= today) break;
      if (date.weekday >= 6) continue; // an office: calls on weekdays
      const callsToday = least + Math.floor(r() * (most - least + 1));
      for (let i = 0; i < callsToday; i++) {
        let pick = r() * TOTAL_WEIGHT;
        const kind = CALL_KINDS.find((k) => (pick -= k.weight) < 0) ?? CALL_KINDS[0]!;
        const seconds = 10 + Math.floor(r() * 420);
        rows.push({
          usingNumber: line.dialInNumber,
          startDate: date.toFormat('yyyy/MM/dd'),
          startTime: hhmmss((9 + Math.floor(r() * 9)) * 3600 + Math.floor(r() * 3600), Math.floor(r() * 10)),
          destination: kind.destination(r),
          area: kind.area,
          duration: hhmmss(seconds, Math.floor(r() * 10)),
          extensionType: kind.extensionType ?? '外線',
          callType: kind.callType,
          charge: kind.charge(r, seconds),
        });
      }
    }
  }
  // 番号案内 (directory assistance): a count, not a duration.
  const second = first.set({ day: 2 });
  if (second < today) {
    rows.push({ usingNumber: DEMO_DIAL_IN_NUMBER, startDate: second.toFormat('yyyy/MM/dd'), startTime: '100000.0', destination: '104', area: '', duration: '1件', extensionType: '外線', callType: '番号案内', charge: '60.00' });
  }
  // 23:58:30 on the last day for 5 min 12 s: ends at 00:03:42 on the 1st of the next month.
  const last = first.endOf('month').startOf('day');
  if (last.plus({ days: 1, minutes: 4 }) <= DateTime.fromJSDate(now, { zone: ZONE })) {
    rows.push({ usingNumber: DEMO_DIAL_IN_NUMBER, startDate: last.toFormat('yyyy/MM/dd'), startTime: '235830.0', destination: '03-5555-0101', area: '東京', duration: '000512.0', extensionType: '外線', callType: '国内呼', charge: perThreeMinutes(312) });
  }
  return rows;
}

/** The demo's telegrams (電報): in the previous month and the one three before it, as the importer reads them. */
export function demoTelegramLines(now: Date): { contractCode: string; date: JapanDate; receiptNumber: string; destination: string; kind: string; charge: string }[] {
  const current = japanMonthAt(now);
  const previous = addMonths(current, -1);
  const earlier = addMonths(current, -3);
  // 受付番号: a telegram's identity (two alike in all else are two charges).
  const receipt = (month: string, n: number) => `D${month.replace('-', '')}-${String(n).padStart(4, '0')}`;
  return [
    { contractCode: DEMO_CONTRACT_CODE, date: `${earlier}-09`, receiptNumber: receipt(earlier, 1), destination: '大阪府大阪市北区', kind: '祝電', charge: '1530.00' },
    { contractCode: DEMO_CONTRACT_CODE, date: `${previous}-06`, receiptNumber: receipt(previous, 1), destination: '東京都千代田区', kind: '祝電', charge: '2420.00' },
    { contractCode: DEMO_CONTRACT_CODE, date: `${previous}-20`, receiptNumber: receipt(previous, 2), destination: '神奈川県横浜市中区', kind: '弔電', charge: '1230.00' },
  ];
}

/** UUIDv5 namespace of the demo's late corrections and voids (deterministic: the same `now`, the same ids). */
const DEMO_NAMESPACE = '6a0f3b52-1d7e-4c9a-8b2f-5e4d3c2b1a09';

/**
 * What arrives after the previous month's bill (SPEC §4.1): the months before the current one are
 * closed, each on the 5th of the month after it (or at `now`, if sooner); then the carrier re-rates
 * one of the previous month's domestic calls on the main number, voids one of its IP calls, and
 * delivers a call and a telegram of that month late. The current month carries them (前月以前分の調整).
 */
export function demoLateData(now: Date): {
  closes: { month: Month; closedAt: string }[];
  corrections: { row: CallRow; charge: string; reason: string }[];
  voids: { row: CallRow; reason: string }[];
  lateCalls: CallRow[];
  lateTelegrams: ReturnType<typeof demoTelegramLines>;
} {
  const current = japanMonthAt(now);
  const previous = addMonths(current, -1);
  const closes = demoMonths(now)
    .filter((m) => m < current)
    .map((month) => {
      const fifth = DateTime.fromISO(`${addMonths(month, 1)}-05T10:00:00`, { zone: ZONE }).toJSDate();
      return { month, closedAt: isoJapanOf(fifth < now ? fifth : now) };
    });
  const main = demoCallRows(previous, now).filter((r) => r.usingNumber === DEMO_DIAL_IN_NUMBER);
  const domestic = main.find((r) => r.callType === '国内呼' && r.extensionType === '外線');
  const ip = main.find((r) => r.callType === 'IP間呼');
  return {
    closes,
    corrections: domestic ? [{ row: domestic, charge: `${Number.parseInt(domestic.charge, 10) + 16}.00`, reason: 'carrier re-rated (demo)' }] : [],
    voids: ip ? [{ row: ip, reason: 'duplicate from the carrier (demo)' }] : [],
    lateCalls: [
      { usingNumber: DEMO_DIAL_IN_NUMBER, startDate: `${previous.replace('-', '/')}/27`, startTime: '143015.0', destination: '06-6345-0202', area: '大阪', duration: '000412.5', extensionType: '外線', callType: '国内呼', charge: '16.00' },
    ],
    lateTelegrams: [
      { contractCode: DEMO_CONTRACT_CODE, date: `${previous}-28`, receiptNumber: `D${previous.replace('-', '')}-0003`, destination: '東京都港区', kind: '慶弔', charge: '1530.00' },
    ],
  };
}

/** True when the store holds no event at all (the demo loads only into an empty store). */
export async function isEmptyStore(store: EventStore): Promise<boolean> {
  return (await store.headPosition()) === 0n;
}

/**
 * Opens the demo contract, stores its initial password (hashed) and appends its calls and telegrams
 * for the current month and the four before it. Meant for an empty store (`ledger serve` checks).
 */
export async function loadDemo(deps: { store: EventStore; db: Kysely<any> }, options: { now: Date; password?: string }): Promise<DemoLoaded> {
  const password = options.password ?? generateInitialPassword();
  for (const command of demoContractCommands(options.now)) {
    await handleContractCommand(deps.store, command, { metadata: { source: 'demo' } });
  }
  await setInitialCredentials(deps.db, { contractCode: DEMO_CONTRACT_CODE, selfId: DEMO_SELF_ID, password });

  const months = demoMonths(options.now);
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
  const telegramLines = demoTelegramLines(options.now);
  await importTelegrams(deps.store, new TextEncoder().encode(telegramLines.map((t) => JSON.stringify(t)).join('\n') + '\n'), { name: 'demo-telegrams.jsonl' });

  // The bills issued, then what came after them (SPEC §4.1).
  const late = demoLateData(options.now);
  for (const c of late.closes) {
    await closeMonth(deps.store, { type: 'CloseMonth', contractCode: DEMO_CONTRACT_CODE, month: c.month, now: c.closedAt }, { source: 'demo' });
  }
  const dataOf = (row: CallRow) => {
    const parsed = parseCallRow(row);
    if (!parsed.ok) throw new Error(`demo call row is invalid: ${parsed.problems.map((p) => `${p.field}: ${p.message}`).join('; ')}`);
    return callRecordedData(parsed.call, DEMO_CONTRACT_CODE);
  };
  const lateEvents: StreamAppend[] = [];
  for (const c of late.corrections) {
    const d = dataOf(c.row);
    lateEvents.push({ streamId: streams.calls(DEMO_CONTRACT_CODE, d.billingMonth), events: [{ id: uuidv5(`corrected ${d.callId}`, DEMO_NAMESPACE), type: 'CallCorrected', data: { callId: d.callId, charge: c.charge, reason: c.reason }, metadata: { source: 'demo' } }] });
  }
  for (const v of late.voids) {
    const d = dataOf(v.row);
    lateEvents.push({ streamId: streams.calls(DEMO_CONTRACT_CODE, d.billingMonth), events: [{ id: uuidv5(`voided ${d.callId}`, DEMO_NAMESPACE), type: 'CallVoided', data: { callId: d.callId, reason: v.reason }, metadata: { source: 'demo' } }] });
  }
  for (const row of late.lateCalls) {
    const d = dataOf(row);
    lateEvents.push({ streamId: streams.calls(DEMO_CONTRACT_CODE, d.billingMonth), events: [{ id: d.callId, type: 'CallRecorded', data: d, metadata: { source: 'demo' } }] });
    calls++;
  }
  for (const a of lateEvents) await deps.store.append(a.streamId, a.events);
  await importTelegrams(deps.store, new TextEncoder().encode(late.lateTelegrams.map((t) => JSON.stringify(t)).join('\n') + '\n'), { name: 'demo-late-telegrams.jsonl' });
  return { contractCode: DEMO_CONTRACT_CODE, selfId: DEMO_SELF_ID, password, calls, telegrams: telegramLines.length + late.lateTelegrams.length, months };
}
