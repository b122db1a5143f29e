// Structured logs (pino). What may carry a secret is redacted by path, and the request logger
// writes only method, path (never the query or body), status, time and ids — so passwords, session
// tokens and the admin token never reach a log line.
import pino, { type DestinationStream, type Logger } from 'pino';

export const REDACT_PATHS = [
  'password',
  'currentPassword',
  'newPassword',
  'newPasswordConfirmation',
  'initialPassword',
  'token',
  'adminToken',
  'authorization',
  '*.password',
  '*.currentPassword',
  '*.newPassword',
  '*.newPasswordConfirmation',
  '*.initialPassword',
  '*.token',
  '*.authorization',
  'headers.authorization',
  'req.headers.authorization',
];

export function createLogger(options: { level?: string; destination?: DestinationStream } = {}): Logger {
  return pino(
    { level: options.level ?? process.env.LOG_LEVEL ?? 'info', redact: { paths: REDACT_PATHS, censor: '[redacted]' }, base: { service: 'ledger-api' } },
    options.destination,
  );
}
