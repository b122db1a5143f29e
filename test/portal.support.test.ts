// セルフページについてのお問い合わせ先 as configured: LEDGER_SUPPORT_NAME / _PHONE / _HOURS, each
// defaulting on its own, and a value the pages cannot show refused by its variable's name before the
// server opens anything.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { configFromEnv } from '../cli/config.ts';
import { main } from '../cli/main.ts';
import { DEFAULT_SUPPORT_DESK, supportDeskFrom, SupportDeskConfigError } from '../api/portal/support.tsx';

describe('the support desk setting', () => {
  it('is read from LEDGER_SUPPORT_NAME, LEDGER_SUPPORT_PHONE and LEDGER_SUPPORT_HOURS', () => {
    const config = configFromEnv({ LEDGER_SUPPORT_NAME: '法人お客さまセンター', LEDGER_SUPPORT_PHONE: '0120-123-456', LEDGER_SUPPORT_HOURS: '24時間受付' });
    expect(supportDeskFrom(config.support ?? {})).toEqual({ name: '法人お客さまセンター', phone: '0120-123-456', hours: '24時間受付' });
  });

  it('defaults each field on its own, and trims what it is given', () => {
    expect(supportDeskFrom(configFromEnv({}).support ?? {})).toEqual(DEFAULT_SUPPORT_DESK);
    expect(supportDeskFrom({ phone: ' 0570 (00) 1234 ' })).toEqual({ ...DEFAULT_SUPPORT_DESK, phone: '0570 (00) 1234' });
    expect(supportDeskFrom({ name: '', hours: '   ' })).toEqual(DEFAULT_SUPPORT_DESK);
  });

  it.each([
    [{ phone: 'call us' }, /LEDGER_SUPPORT_PHONE must be a phone number/],
    [{ phone: '0120-123-456<script>' }, /LEDGER_SUPPORT_PHONE/],
    [{ name: 'A\nB' }, /LEDGER_SUPPORT_NAME must be one line of text/],
    [{ hours: 'あ'.repeat(81) }, /LEDGER_SUPPORT_HOURS must be at most 80 characters, got 81/],
  ])('refuses %j, naming the variable', (input, message) => {
    expect(() => supportDeskFrom(input)).toThrow(SupportDeskConfigError);
    expect(() => supportDeskFrom(input)).toThrow(message);
  });
});

describe('ledger serve with a support desk the pages cannot show', () => {
  afterEach(() => {
    vi.unstubAllEnvs();
    vi.restoreAllMocks();
  });

  it('exits 1 with one sentence naming the variable, before opening any store', async () => {
    vi.stubEnv('LEDGER_SUPPORT_PHONE', 'not a number');
    vi.stubEnv('LEDGER_DATA_DIR', '/nonexistent/never-created');
    const stderr: string[] = [];
    vi.spyOn(process.stderr, 'write').mockImplementation((chunk) => {
      stderr.push(String(chunk));
      return true;
    });
    expect(await main(['serve', '--no-demo'])).toBe(1);
    expect(stderr.join('')).toMatch(/^ledger serve: LEDGER_SUPPORT_PHONE must be a phone number .*"not a number"\n$/);
  });
});
