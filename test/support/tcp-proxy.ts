// A TCP proxy in front of the test PostgreSQL server, on 127.0.0.1 only: the tests take the
// database away (every connection reset, new ones refused), make it silent (connections accepted,
// nothing forwarded: a network that drops packets) and bring it back.
import net from 'node:net';

export type ProxyMode = 'forward' | 'refuse' | 'silent';

export interface TcpProxy {
  readonly port: number;
  /**
   * forward: normal (connections left silent are reset); refuse: every open connection reset, new
   * ones closed at once; silent: nothing answers, open or new.
   */
  setMode(mode: ProxyMode): void;
  close(): Promise<void>;
}

export async function startTcpProxy(target: { host: string; port: number }): Promise<TcpProxy> {
  let mode: ProxyMode = 'forward';
  const pairs = new Set<{ client: net.Socket; server?: net.Socket }>();
  const proxy = net.createServer((client) => {
    client.on('error', () => {});
    if (mode === 'refuse') {
      client.resetAndDestroy();
      return;
    }
    const pair: { client: net.Socket; server?: net.Socket } = { client };
    pairs.add(pair);
    client.on('close', () => {
      pair.server?.destroy();
      pairs.delete(pair);
    });
    if (mode === 'silent') return; // accepted, never answered
    const server = net.connect(target.port, target.host);
    pair.server = server;
    server.on('error', () => client.destroy());
    server.on('close', () => client.destroy());
    client.pipe(server);
    server.pipe(client);
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  const port = (proxy.address() as net.AddressInfo).port;
  return {
    port,
    setMode(next) {
      const was = mode;
      mode = next;
      for (const pair of pairs) {
        if (next === 'forward') {
          // The network is back: connections left hanging meet a reset, as a real peer that
          // dropped them meanwhile would answer.
          if (was === 'silent') {
            pair.client.resetAndDestroy();
            pair.server?.destroy();
          }
          continue;
        }
        if (next === 'refuse') {
          pair.client.resetAndDestroy();
          pair.server?.destroy();
        } else {
          // silent: keep the sockets, stop carrying bytes either way
          pair.client.unpipe();
          pair.server?.unpipe();
          pair.client.pause();
          pair.server?.pause();
        }
      }
    },
    async close() {
      for (const pair of pairs) {
        pair.client.destroy();
        pair.server?.destroy();
      }
      await new Promise<void>((resolve) => proxy.close(() => resolve()));
    },
  };
}
