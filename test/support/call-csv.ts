// Call-detail CSV fixtures (SPEC §7.2), generated: no big file is committed. Deterministic for a seed.
import { createWriteStream } from 'node:fs';
import { once } from 'node:events';
import iconv from 'iconv-lite';
import type { EventStore } from '../../eventstore/port.ts';
import { handleContractCommand, parseContractCommand } from '../../domain/contract-service.ts';

export const HEADER = ['ご利用電話番号', '通話開始日時', '通話開始時刻', '着信電話番号', '地域名', '通話時間', '内線区分', '呼種別', '通話料'];

export type Fields = [string, string, string, string, string, string, string, string, string];

export interface FixtureContract {
  readonly contractCode: string;
  readonly basicNumber: string;
  readonly dialInNumbers: readonly string[];
  readonly startDate: string;
}

/** `count` contracts, each with a basic number and `perContract` dial-in numbers. */
export function fixtureContracts(count: number, perContract = 2, startDate = '2010-11-15'): FixtureContract[] {
  return Array.from({ length: count }, (_, c) => ({
    contractCode: `d${String(123456789 + c).padStart(9, '0')}`,
    basicNumber: `0120${String(100000 + c).padStart(6, '0')}`,
    dialInNumbers: Array.from({ length: perContract }, (_, n) => `03${String(10000000 + c * 100 + n).padStart(8, '0')}`),
    startDate,
  }));
}

/** Opens the contracts through the contract service (the number reservation streams come with it). */
export async function openFixtureContracts(store: EventStore, contracts: readonly FixtureContract[]): Promise<void> {
  for (const c of contracts) {
    await handleContractCommand(
      store,
      parseContractCommand({
        type: 'OpenContract',
        contractCode: c.contractCode,
        selfId: c.contractCode,
        startDate: c.startDate,
        channels: 1,
        connectionType: 'ダイヤルイン接続',
        primaryDns: '192.0.2.1',
        secondaryDns: '192.0.2.2',
        basicNumber: c.basicNumber,
      }),
    );
    for (const [i, n] of c.dialInNumbers.entries()) {
      await handleContractCommand(
        store,
        parseContractCommand({ type: 'AddNumber', contractCode: c.contractCode, dialInNumber: n, auMobileNumber: `090${String(10000000 + i).padStart(8, '0')}`, startDate: c.startDate }),
      );
    }
  }
}

const KINDS: ReadonlyArray<{ callType: string; area: string; ext: string }> = [
  { callType: '国内呼', area: '東京', ext: '外線' },
  { callType: '携帯呼', area: '携帯', ext: '外線' },
  { callType: '携帯呼(au 定額)', area: '携帯', ext: '外線' },
  { callType: '国際呼', area: 'アメリカ', ext: '外線' },
  { callType: 'IP間呼', area: 'IP電話', ext: '内線' },
  { callType: '番号案内', area: '番号案内', ext: '外線' },
];

const pad = (n: number, w: number) => String(n).padStart(w, '0');

/** Row `i` of a generated month of calls (unique identity per i below 1e8). */
export function generatedRow(i: number, numbers: readonly string[], month = '2017-11', seed = 1): Fields {
  const x = Math.imul(i + 1, 2654435761 + seed * 2) >>> 0;
  const kind = KINDS[x % KINDS.length]!;
  const number = numbers[i % numbers.length]!;
  const day = 1 + (Math.floor(i / numbers.length) % 28);
  const [y, m] = month.split('-');
  const time = `${pad(x % 23, 2)}${pad((x >>> 5) % 60, 2)}${pad((x >>> 11) % 60, 2)}.${(x >>> 17) % 10}`;
  const destination = kind.callType === '国際呼' ? `001${pad(i, 12)}` : `03-${pad(Math.floor(i / 10000) % 10000, 4)}-${pad(i % 10000, 4)}`;
  const duration = kind.callType === '番号案内' ? `${1 + (x % 3)}件` : `00${pad((x >>> 3) % 60, 2)}${pad((x >>> 9) % 60, 2)}.${x % 10}`;
  const charge = `${(x >>> 7) % 1000}.${pad((x >>> 13) % 100, 2)}`;
  return [number, `${y}/${m}/${pad(day, 2)}`, time, destination, kind.area, duration, kind.ext, kind.callType, charge];
}

export type CsvEncoding = 'utf-8' | 'utf-8-bom' | 'cp932';

export function encodeText(text: string, encoding: CsvEncoding): Buffer {
  if (encoding === 'cp932') return iconv.encode(text, 'cp932');
  const body = Buffer.from(text, 'utf8');
  return encoding === 'utf-8-bom' ? Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), body]) : body;
}

/** A whole CSV file from rows; fields are written as given (no quoting: the carrier's fields have no commas). */
export function callCsv(rows: readonly (readonly string[])[], options: { encoding?: CsvEncoding; eol?: string; header?: readonly string[] } = {}): Buffer {
  const eol = options.eol ?? '\r\n';
  const lines = [(options.header ?? HEADER).join(','), ...rows.map((r) => r.join(','))];
  return encodeText(lines.join(eol) + eol, options.encoding ?? 'cp932');
}

/** A large generated file, written in chunks. */
export async function writeGeneratedCallFile(path: string, rows: number, numbers: readonly string[], options: { encoding?: CsvEncoding; month?: string; seed?: number } = {}): Promise<void> {
  const out = createWriteStream(path);
  const encoding = options.encoding ?? 'cp932';
  const write = async (b: Buffer) => {
    if (!out.write(b)) await once(out, 'drain');
  };
  await write(encodeText(`${HEADER.join(',')}\r\n`, encoding === 'utf-8-bom' ? 'utf-8-bom' : encoding));
  const inner = encoding === 'utf-8-bom' ? 'utf-8' : encoding;
  let buf: string[] = [];
  for (let i = 0; i < rows; i++) {
    buf.push(generatedRow(i, numbers, options.month, options.seed).join(','));
    if (buf.length === 10_000) {
      await write(encodeText(`${buf.join('\r\n')}\r\n`, inner));
      buf = [];
    }
  }
  if (buf.length) await write(encodeText(`${buf.join('\r\n')}\r\n`, inner));
  await new Promise<void>((resolve, reject) => out.end((e?: Error | null) => (e ? reject(e) : resolve())));
}
