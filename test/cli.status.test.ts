// `ledger status` and the read commands' warning: an engineer at a terminal sees a stalled
// projection, the event it cannot apply and why (what /health says).
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { status } from '../cli/commands/status.ts';
import { totals } from '../cli/commands/totals.ts';
import type { LedgerConfig } from '../cli/config.ts';
import { openLedger } from '../cli/context.ts';
import { streams } from '../domain/events.ts';
import { appendContract, contractOpened } from './support/ledger-events.ts';
import { databaseUrl } from './support/stores.ts';

const targets: { name: string; config: () => { config: LedgerConfig; cleanup: () => Promise<void> } }[] = [
  {
    name: 'PGlite',
    config: () => {
      const dataDir = mkdtempSync(join(tmpdir(), 'ledger-status-'));
      return { config: { dataDir, port: 0 }, cleanup: async () => rmSync(dataDir, { recursive: true, force: true }) };
    },
  },
  ...(databaseUrl
    ? [
        {
          name: 'PostgreSQL',
          config: () => {
            const schema = `t_${randomBytes(6).toString('hex')}`;
            const config: LedgerConfig = { databaseUrl, schema, dataDir: './unused', port: 0 };
            return {
              config,
              cleanup: async () => {
                const ledger = await openLedger(config);
                await sql.raw(`drop schema if exists ${schema} cascade`).execute(ledger.database.db);
                await ledger.close();
              },
            };
          },
        },
      ]
    : []),
];

function capture(stream: 'stdout' | 'stderr'): { text: () => string } {
  const chunks: string[] = [];
  vi.spyOn(process[stream], 'write').mockImplementation((chunk: string | Uint8Array) => {
    chunks.push(String(chunk));
    return true;
  });
  return { text: () => chunks.join('') };
}

describe.each(targets)('ledger status on $name', (target) => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it('says which projection is stalled, before which event and why; totals warns; exit 1 while stalled', async () => {
    const { config, cleanup } = target.config();
    try {
      const ledger = await openLedger(config);
      await appendContract(ledger.store, 'd123456789', contractOpened('d123456789', '0120222333'));
      const id = randomUUID();
      const data = { telegramId: id, contractCode: 'd123456789', date: '2017-11-03', month: '2017-11', destination: '東京', kind: '慶弔', charge: 'one thousand' };
      await ledger.store.append(streams.telegrams('d123456789'), [{ id, type: 'TelegramRecorded', data }]);
      await ledger.close();
      const ctx = { config, debug: false };

      let err = capture('stderr');
      capture('stdout');
      expect(await totals.run(['d123456789', '2017-11'], ctx)).toBe(0);
      expect(err.text()).toMatch(new RegExp(`^ledger: warning: projection telegrams is stalled since \\S+ before event ${id} \\(TelegramRecorded at position 2 in telegrams-d123456789\\): .*"one thousand"`));
      vi.restoreAllMocks();

      const out = capture('stdout');
      err = capture('stderr');
      expect(await status.run([], ctx)).toBe(1);
      expect(out.text()).toMatch(/^telegrams\s+STALLED\s+0\s+2$/m);
      expect(out.text()).toMatch(/^charges\s+running\s+2\s+0$/m);
      expect(out.text()).toContain(`before event ${id} (TelegramRecorded at position 2 in telegrams-d123456789)`);
      vi.restoreAllMocks();

      const json = capture('stdout');
      expect(await status.run(['--json'], ctx)).toBe(1);
      expect(JSON.parse(json.text()).projections.telegrams.stalled).toMatchObject({ eventId: id, position: '2', eventType: 'TelegramRecorded' });
    } finally {
      vi.restoreAllMocks();
      await cleanup();
    }
  });
});
