// The listening socket: @hono/node-server, with Node's own refusals answered like every other error.
// Node's HTTP parser turns away a request before any route sees it (a header block over its 16 KiB
// limit → 431, a malformed request line → 400) and by default answers with an empty body; the
// `clientError` hook gives those answers the API's JSON error body and security headers.
import { randomUUID } from 'node:crypto';
import { STATUS_CODES, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { createAdaptorServer } from '@hono/node-server';
import type { Logger } from 'pino';
import { SECURITY_HEADERS } from './app.ts';
import { errorBody } from './errors.ts';

export interface HttpServer {
  readonly server: Server;
  /** The port listened on (the one given, or the one the system chose for port 0). */
  readonly port: number;
  close(): Promise<void>;
}

export interface ListenOptions {
  readonly port: number;
  /** Default: every interface, as Node's listen(). */
  readonly hostname?: string;
  readonly logger?: Logger;
}

/** Starts listening; resolves once the socket is bound. */
export async function listenHttp(fetch: (request: Request, env?: unknown) => Response | Promise<Response>, options: ListenOptions): Promise<HttpServer> {
  const server = createAdaptorServer({ fetch: fetch as never }) as Server;
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => answerClientError(err, socket, options.logger));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.hostname, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  return {
    server,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        // Idle keep-alive connections would hold close() open.
        server.closeIdleConnections();
      }),
  };
}

/** Node's parser errors and the status its default handler gives each (lib/_http_server.js). */
const CLIENT_ERRORS: Record<string, { status: number; code: string; message: string }> = {
  HPE_HEADER_OVERFLOW: { status: 431, code: 'HEADERS_TOO_LARGE', message: 'the request headers are larger than the server accepts (16 KiB)' },
  HPE_CHUNK_EXTENSIONS_OVERFLOW: { status: 413, code: 'PAYLOAD_TOO_LARGE', message: 'the chunk extensions of the request are too large' },
  ERR_HTTP_REQUEST_TIMEOUT: { status: 408, code: 'REQUEST_TIMEOUT', message: 'the request was not received in time' },
};
const MALFORMED = { status: 400, code: 'BAD_REQUEST', message: 'the request is not valid HTTP/1.1' };

function answerClientError(err: NodeJS.ErrnoException, socket: Socket, logger: Logger | undefined): void {
  // As Node's own handler: nothing to answer on a reset or a socket already answering.
  const answering = (socket as Socket & { _httpMessage?: { headersSent?: boolean } })._httpMessage;
  if (err.code === 'ECONNRESET' || !socket.writable || answering?.headersSent) {
    socket.destroy();
    return;
  }
  const known = (err.code && CLIENT_ERRORS[err.code]) || MALFORMED;
  const requestId = randomUUID();
  logger?.info({ requestId, status: known.status, parserError: err.code }, 'request refused by the HTTP parser');
  const body = JSON.stringify(errorBody(known.code, known.message));
  const head = [
    `HTTP/1.1 ${known.status} ${STATUS_CODES[known.status]}`,
    'Content-Type: application/json; charset=utf-8',
    `Content-Length: ${Buffer.byteLength(body)}`,
    'Connection: close',
    `X-Request-Id: ${requestId}`,
    ...SECURITY_HEADERS.map(([name, value]) => `${name}: ${value}`),
  ];
  socket.end(`${head.join('\r\n')}\r\n\r\n${body}`);
}
