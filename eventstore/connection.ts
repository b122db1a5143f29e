// Lost connections and changing primaries (PostgreSQL over `pg`): which failures mean "the database
// is away" rather than "this request is wrong", and how a connection finds the server that accepts
// writes when DATABASE_URL names several, libpq style.
//
// `pg` parses one host only (node-postgres #1470, #2308: open since 2017) and has no
// target_session_attrs; no maintained package adds them to `pg` (pg-native goes through libpq but
// cannot run pg-copy-streams, postgres.js is another driver). So the host list is parsed by
// `connection-string` and the step libpq takes — try each host in order, `SHOW
// transaction_read_only`, keep the first that answers `off` — is done here, before each new
// pooled connection.
import { ConnectionString } from 'connection-string';
import pg from 'pg';
import { DatabaseUnavailable, LedgerBusy } from './port.ts';

export { DatabaseUnavailable, LedgerBusy };

// SQLSTATEs of a server going away or not taking connections: class 08 (connection exception),
// 57P01 admin_shutdown (pg_terminate_backend, a fast shutdown), 57P02 crash_shutdown, 57P03
// cannot_connect_now (starting up, in recovery), 53300 too_many_connections, and 25006
// read_only_sql_transaction (a write that reached a server which is a standby now).
const UNAVAILABLE_STATES = new Set(['57P01', '57P02', '57P03', '53300', '25006']);
const UNAVAILABLE_ERRNO = new Set(['ECONNREFUSED', 'ECONNRESET', 'ECONNABORTED', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'ERR_SOCKET_CLOSED']);
// `pg` and `pg-pool` say these in plain words, without a code.
const UNAVAILABLE_MESSAGES = [
  'Connection terminated',
  'Client has encountered a connection error and is not queryable',
  'Client was closed and is not queryable',
  'Query read timeout',
  'timeout expired',
];
// 55P03 lock_not_available (lock_timeout), 57014 query_canceled (statement_timeout).
const BUSY_STATES = new Set(['55P03', '57014']);
const BUSY_MESSAGES = ['timeout exceeded when trying to connect'];

export type DatabaseTrouble = 'unavailable' | 'busy';

/** Whether an error (or its cause) is the database being away or busy; undefined for any other error. */
export function databaseTrouble(error: unknown): DatabaseTrouble | undefined {
  for (let e = error, depth = 0; e && typeof e === 'object' && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    if (e instanceof DatabaseUnavailable) return 'unavailable';
    if (e instanceof LedgerBusy) return 'busy';
    const { code, message } = e as { code?: unknown; message?: unknown };
    if (typeof code === 'string') {
      if (code.startsWith('08') && code.length === 5) return 'unavailable';
      if (UNAVAILABLE_STATES.has(code) || UNAVAILABLE_ERRNO.has(code)) return 'unavailable';
      if (BUSY_STATES.has(code)) return 'busy';
    }
    if (typeof message === 'string') {
      if (UNAVAILABLE_MESSAGES.some((m) => message.startsWith(m))) return 'unavailable';
      if (BUSY_MESSAGES.some((m) => message.startsWith(m))) return 'busy';
    }
    // Node's connect to "localhost" tries every address and reports them together.
    const errors = (e as { errors?: unknown }).errors;
    if (Array.isArray(errors) && errors.some((x) => databaseTrouble(x) === 'unavailable')) return 'unavailable';
  }
  return undefined;
}

/** The error as a DatabaseUnavailable or LedgerBusy (keeping it as the cause), or itself. */
export function asDatabaseError(error: unknown): unknown {
  const trouble = databaseTrouble(error);
  if (trouble === undefined || error instanceof DatabaseUnavailable || error instanceof LedgerBusy) return error;
  const reason = describe(error);
  return trouble === 'unavailable'
    ? new DatabaseUnavailable(`the database is not reachable now (${reason})`, { cause: error })
    : new LedgerBusy(`the ledger is busy (${reason})`, { cause: error });
}

/** One line for logs and `/health`: the server's message or the socket's code, never a stack. */
export function describe(error: unknown): string {
  const e = error as { code?: unknown; message?: unknown; errors?: unknown };
  if (Array.isArray(e?.errors) && e.errors.length > 0 && !e.message) return describe(e.errors[0]);
  const message = typeof e?.message === 'string' && e.message ? e.message : String(error);
  return typeof e?.code === 'string' && !message.includes(e.code) ? `${e.code}: ${message}` : message;
}

export interface HostAndPort {
  readonly host: string;
  readonly port: number;
  /** The URL naming this host alone (what a check of this host connects with). */
  readonly url: string;
}

export type TargetSessionAttrs = 'any' | 'read-write' | 'primary';

export interface PostgresTarget {
  /** The URL `pg` is given: the first host only, without target_session_attrs. */
  readonly url: string;
  /** Every host named, in order (one for a plain URL). */
  readonly hosts: readonly HostAndPort[];
  readonly targetSessionAttrs: TargetSessionAttrs;
}

/**
 * A `postgres://` URL with one or several hosts (`h1:5432,h2:5433`) and libpq's
 * `target_session_attrs` (`any`, `read-write`, `primary`). A plain one-host URL is passed on as it is.
 */
export function parsePostgresUrl(url: string): PostgresTarget {
  const authority = /^[a-z]+:\/\/(?:[^@/?#]*@)?([^/?#]*)/i.exec(url)?.[1] ?? '';
  const attrsMatch = /[?&]target_session_attrs=([^&#]*)/.exec(url);
  if (!authority.includes(',') && !attrsMatch) return { url, hosts: [], targetSessionAttrs: 'any' };
  const cs = new ConnectionString(url);
  const attrs = decodeURIComponent(attrsMatch?.[1] ?? 'any');
  if (attrs !== 'any' && attrs !== 'read-write' && attrs !== 'primary') {
    throw new Error(`target_session_attrs=${attrs} is not supported here; use read-write, primary or any`);
  }
  const alone = (h: NonNullable<typeof cs.hosts>[number]) => {
    const single = new ConnectionString(url);
    single.hosts = [h];
    if (single.params) delete single.params.target_session_attrs;
    return single.toString();
  };
  const hosts = (cs.hosts ?? []).map((h) => ({ host: (h.name ?? 'localhost').replace(/^\[(.*)\]$/, '$1'), port: h.port ?? 5432, url: alone(h) }));
  if (hosts.length === 0) throw new Error('DATABASE_URL names no host');
  return { url: hosts[0]!.url, hosts, targetSessionAttrs: attrs };
}

function isReadTimeout(e: unknown): boolean {
  return (e as { message?: unknown } | undefined)?.message === 'Query read timeout';
}

export interface ClientClassOptions {
  /** Bound of one host's connection attempt while looking for the writable one. */
  readonly hostTimeoutMs: number;
  /** Called when a host is passed over (refused, read-only). */
  readonly onHostSkipped?: (host: HostAndPort, reason: string) => void;
}

/**
 * A `pg.Client` for pg-pool's `Client` option. When several hosts or a target_session_attrs are
 * given, each new connection first finds an acceptable host (the one found last is tried first),
 * then connects there and checks it once more. Every client also keeps an 'error' listener for its
 * whole life: pg-pool removes its own while a client is checked out, and a connection that dies
 * between two queries (a session lock held across a rebuild, a LISTEN) would otherwise throw the
 * error out of the process.
 */
export function postgresClientClass(target: PostgresTarget, options: ClientClassOptions): typeof pg.Client {
  const multi = target.hosts.length > 0;
  let lastGood = 0;

  async function acceptable(client: pg.Client): Promise<string | undefined> {
    if (target.targetSessionAttrs === 'any') return undefined;
    const sql = target.targetSessionAttrs === 'primary' ? 'select pg_is_in_recovery()::text as v' : 'show transaction_read_only';
    const { rows } = await client.query<{ v?: string; transaction_read_only?: string }>(sql);
    const value = rows[0]?.v ?? rows[0]?.transaction_read_only;
    return value === 'off' || value === 'false' ? undefined : target.targetSessionAttrs === 'primary' ? 'in recovery (a standby)' : 'read-only (a standby)';
  }

  async function findHost(config: pg.ClientConfig): Promise<HostAndPort> {
    // The rest of the configuration (options, keep-alive) as given; who and where from the host's own URL.
    const reasons: string[] = [];
    const order = target.hosts.map((_, i) => (lastGood + i) % target.hosts.length);
    for (const i of order) {
      const host = target.hosts[i]!;
      const probe = new pg.Client({ ...config, connectionString: host.url, connectionTimeoutMillis: options.hostTimeoutMs });
      probe.on('error', () => {});
      try {
        await probe.connect();
        const refused = await acceptable(probe);
        if (refused === undefined) {
          lastGood = i;
          return host;
        }
        reasons.push(`${host.host}:${host.port} is ${refused}`);
      } catch (e) {
        reasons.push(`${host.host}:${host.port}: ${describe(e)}`);
      } finally {
        await probe.end().catch(() => {});
      }
      options.onHostSkipped?.(host, reasons[reasons.length - 1]!);
    }
    throw new DatabaseUnavailable(`no ${target.targetSessionAttrs === 'any' ? '' : `${target.targetSessionAttrs} `}server among ${target.hosts.length} host(s): ${reasons.join('; ')}`);
  }

  return class LedgerClient extends pg.Client {
    private readonly given: pg.ClientConfig;

    constructor(config?: string | pg.ClientConfig) {
      super(config);
      this.given = typeof config === 'string' ? { connectionString: config } : { ...(config ?? {}) };
      this.on('error', () => {
        // Reported where it matters: the pool's 'error' event for idle clients, the failing query otherwise.
      });
    }

    /**
     * pg's query_timeout answers the caller but leaves the query on the connection: the next query
     * would wait behind one that may never end (a server that stopped answering). Such a
     * connection is closed instead, so the pool drops it and opens a fresh one.
     */
    override query(...args: unknown[]): any {
      const last = args[args.length - 1];
      if (typeof last === 'function') {
        args[args.length - 1] = (err: unknown, res: unknown) => {
          if (isReadTimeout(err)) this.abandon();
          (last as (err: unknown, res: unknown) => void)(err, res);
        };
      }
      const result = (super.query as (...a: unknown[]) => unknown)(...args);
      if (result && typeof (result as Promise<unknown>).then === 'function' && typeof (result as { submit?: unknown }).submit !== 'function') {
        (result as Promise<unknown>).catch((e: unknown) => {
          if (isReadTimeout(e)) this.abandon();
        });
      }
      return result;
    }

    private abandon(): void {
      (this as unknown as { connection?: { stream?: { destroy(): void } } }).connection?.stream?.destroy();
    }

    override connect(): Promise<pg.Client>;
    override connect(callback: ((err: Error) => void) | ((err: null, c: pg.Client) => void)): void;
    override connect(callback?: ((err: Error) => void) | ((err: null, c: pg.Client) => void)): Promise<pg.Client> | void {
      const connected: Promise<pg.Client> = multi ? this.connectToAcceptableHost().then(() => this) : super.connect();
      if (!callback) return connected;
      const cb = callback as (err: Error | null, c?: pg.Client) => void;
      connected.then(
        (c) => cb(null, c),
        (e: Error) => cb(e),
      );
    }

    private async connectToAcceptableHost(): Promise<void> {
      const host = await findHost(this.given);
      // pg.Client reads host and port when it connects, not when it is made.
      (this as { host: string }).host = host.host;
      (this as { port: number }).port = host.port;
      await super.connect();
      // The primary may have changed between the check and this connection.
      const refused = await acceptable(this);
      if (refused !== undefined) {
        await this.end().catch(() => {});
        throw new DatabaseUnavailable(`${host.host}:${host.port} became ${refused}`);
      }
    }
  } as unknown as typeof pg.Client;
}
