// The app behind a real socket (api/http-server.ts, as `ledger serve` listens) on an ephemeral
// loopback port, for tests that need requests truly in flight at once or Node's own parser.
import { request as httpRequest } from 'node:http';
import { listenHttp, type HttpServer } from '../../api/http-server.ts';

export interface LiveServer {
  readonly base: string;
  readonly port: number;
  /** fetch against the server; many may be in flight at once (Node's fetch opens a connection for each). */
  fetch(path: string, init?: RequestInit): Promise<Response>;
  close(): Promise<void>;
}

export async function listenOnLoopback(fetchHandler: (request: Request, env?: unknown) => Response | Promise<Response>): Promise<LiveServer> {
  const server: HttpServer = await listenHttp(fetchHandler, { port: 0, hostname: '127.0.0.1' });
  const base = `http://127.0.0.1:${server.port}`;
  return {
    base,
    port: server.port,
    fetch: (path, init = {}) => fetch(`${base}${path}`, { ...init, redirect: 'manual' }),
    async close() {
      await server.close();
    },
  };
}

export interface RawAnswer {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: string;
}

/**
 * A request exactly as given: the path is sent byte for byte (fetch would normalise it), headers
 * as they are. For what a client generator or an attacker sends, not what a browser would.
 */
export function rawRequest(port: number, method: string, path: string, headers: Record<string, string> = {}, body?: Uint8Array | string): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, method, path, headers, agent: false, insecureHTTPParser: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    if (body !== undefined) req.end(body);
    else req.end();
  });
}
