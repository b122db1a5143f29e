// Deterministic benchmark data: contracts (JSON Lines) and a carrier call-detail CSV (SPEC §7.2).
// Same seed, same bytes; nothing is committed, everything is made at run time.
import { createWriteStream } from 'node:fs';
import { once } from 'node:events';
import iconv from 'iconv-lite';

/** mulberry32: small, fast, and the same on every machine. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface BenchContract {
  readonly contractCode: string;
  readonly basicNumber: string;
  readonly dialInNumbers: readonly string[];
}

export function benchContracts(count: number): BenchContract[] {
  return Array.from({ length: count }, (_, i) => ({
    contractCode: `d${String(200000000 + i).padStart(9, '0')}`,
    basicNumber: `0120${String(100000 + i).padStart(6, '0')}`,
    dialInNumbers: [`03${String(10000000 + i * 2).padStart(8, '0')}`, `03${String(10000001 + i * 2).padStart(8, '0')}`],
  }));
}

export function contractLines(contracts: readonly BenchContract[]): string {
  const lines: string[] = [];
  for (const c of contracts) {
    lines.push(JSON.stringify({ type: 'OpenContract', contractCode: c.contractCode, selfId: c.contractCode, initialPassword: 'bench123', startDate: '2010-11-15', channels: 1, connectionType: 'ダイヤルイン接続', primaryDns: '192.0.2.1', secondaryDns: '192.0.2.2', basicNumber: c.basicNumber }));
    for (const n of c.dialInNumbers) {
      lines.push(JSON.stringify({ type: 'AddNumber', contractCode: c.contractCode, dialInNumber: n, auMobileNumber: `090${n.slice(2)}`, startDate: '2010-11-15' }));
    }
  }
  return `${lines.join('\n')}\n`;
}

const CALL_TYPES = [
  { type: '国内呼', per3min: 8, area: '東京' },
  { type: 'IP間呼', per3min: 8, area: 'IP電話' },
  { type: '携帯呼', per3min: 16, area: '携帯' },
  { type: '携帯呼(au 定額)', per3min: 15.5, area: '携帯' },
  { type: '国際呼', per3min: 60, area: 'アメリカ' },
] as const;

const HEADER = 'ご利用電話番号,通話開始日時,通話開始時刻,着信電話番号,地域名,通話時間,内線区分,呼種別,通話料';

function pad(n: number, w = 2): string {
  return String(n).padStart(w, '0');
}

/** One call-detail row per call, spread over the given months (days 1–28, so no call spans a month end). */
export function* callRows(contracts: readonly BenchContract[], calls: number, seed = 42, months: readonly string[] = ['2017-08', '2017-09', '2017-10', '2017-11']): Generator<string> {
  const rnd = prng(seed);
  for (let i = 0; i < calls; i++) {
    const c = contracts[Math.floor(rnd() * contracts.length)]!;
    const numbers = [c.basicNumber, ...c.dialInNumbers];
    const using = numbers[Math.floor(rnd() * numbers.length)]!;
    const month = months[Math.floor(rnd() * months.length)]!;
    const day = 1 + Math.floor(rnd() * 28);
    const secondsOfDay = Math.floor(rnd() * 86400);
    const tenth = Math.floor(rnd() * 10);
    const kind = CALL_TYPES[Math.floor(rnd() * CALL_TYPES.length)]!;
    const durationSec = 1 + Math.floor(rnd() * 900);
    const units = Math.ceil(durationSec / 180);
    // charges in sen, so that the text is exact: 15.5 yen × units
    const sen = Math.round(kind.per3min * 100) * units;
    const destination = kind.type === '国際呼' ? `001${Math.floor(rnd() * 1e10)}` : `0${3 + Math.floor(rnd() * 6)}-${pad(Math.floor(rnd() * 10000), 4)}-${pad(Math.floor(rnd() * 10000), 4)}`;
    const ext = rnd() < 0.05 ? '内線' : '外線';
    const h = Math.floor(secondsOfDay / 3600);
    const m = Math.floor((secondsOfDay % 3600) / 60);
    const s = secondsOfDay % 60;
    const dh = Math.floor(durationSec / 3600);
    const dm = Math.floor((durationSec % 3600) / 60);
    const ds = durationSec % 60;
    yield `${using},${month.replace('-', '/')}/${pad(day)},${pad(h)}${pad(m)}${pad(s)}.${tenth},${destination},${kind.area},${pad(dh)}${pad(dm)}${pad(ds)}.${Math.floor(rnd() * 10)},${ext},${kind.type},${Math.floor(sen / 100)}.${pad(sen % 100)}`;
  }
}

/** Write the CSV as the carrier delivers it: Shift_JIS (CP932) with CRLF. */
export async function writeCallCsv(
  path: string,
  contracts: readonly BenchContract[],
  calls: number,
  options: { encoding?: 'sjis' | 'utf-8'; seed?: number; months?: readonly string[] } = {},
): Promise<void> {
  const { encoding = 'sjis', seed = 42, months } = options;
  const out = createWriteStream(path);
  const encode = (text: string) => (encoding === 'sjis' ? iconv.encode(text, 'cp932') : Buffer.from(text, 'utf8'));
  let buffer: string[] = [HEADER];
  for (const row of callRows(contracts, calls, seed, months)) {
    buffer.push(row);
    if (buffer.length >= 5000) {
      if (!out.write(encode(`${buffer.join('\r\n')}\r\n`))) await once(out, 'drain');
      buffer = [];
    }
  }
  if (buffer.length > 0) out.write(encode(`${buffer.join('\r\n')}\r\n`));
  out.end();
  await once(out, 'finish');
}
