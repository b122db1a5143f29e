import type { Command } from '../command.ts';
import { openLedger } from '../context.ts';

// Placeholder until the API lands: serves /health only.
export const serve: Command = {
  usage: 'serve [--no-demo]',
  async run(_args, ctx) {
    const ledger = await openLedger(ctx.config);
    const { serve: serveHttp } = await import('@hono/node-server');
    const { Hono } = await import('hono');
    const app = new Hono();
    app.get('/health', async (c) => c.json({ status: 'ok', eventStore: ledger.store.name, position: String(await ledger.store.headPosition()) }));
    serveHttp({ fetch: app.fetch, port: ctx.config.port });
    process.stdout.write(`ledger listening on http://localhost:${ctx.config.port}\n`);
    await new Promise(() => {});
    return 0;
  },
};
