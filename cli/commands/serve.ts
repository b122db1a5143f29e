// `ledger serve [--no-demo]` (what `npm start` runs): the HTTP API, the projection follower and the
// CSV export worker in one process, on the configured store. On an empty store it loads the demo
// contract first (unless --no-demo) and prints how to log in.
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { parseArgs, type Command } from '../command.ts';
import { openLedger, type Ledger } from '../context.ts';
import { UsageError } from '../errors.ts';
import { createApp } from '../../api/app.ts';
import { createLogger } from '../../api/logger.ts';
import { listenHttp } from '../../api/http-server.ts';
import { ExportWorker } from '../../api/exports.ts';
import { buildCsv, createEngineerOperations } from '../../api/wiring.ts';
import { createProjectionRunner, ProjectionEventFailed } from '../../projections/index.ts';
import type { RunnerOptions } from '../../projections/framework.ts';
import { createSqlEventStore } from '../../eventstore/sql.ts';
import type { EventStore } from '../../eventstore/port.ts';
import type { Database } from '../../eventstore/database.ts';
import { describe } from '../../eventstore/connection.ts';
import { createQueries } from '../../projections/queries.ts';
import { supportDeskFrom, type SupportDesk } from '../../api/portal/support.tsx';
import { isEmptyStore, loadDemo, type DemoLoaded } from '../demo.ts';
import { adminToken as keptAdminToken } from '../admin-token.ts';
import { followerConnected, notStopping, type ReadinessCheck } from '../../api/readiness.ts';
import { ContractRequestGate } from '../../api/fairness.ts';

export interface ServerOptions {
  readonly clock?: () => Date;
  readonly demo?: boolean;
  readonly adminToken?: string;
  readonly portalOrigin?: string;
  readonly logger?: Logger;
  readonly exportPollMs?: number;
  /** The projection follower's catch-up rule (tests make a set-based catch-up happen on small data). */
  readonly catchUpByRebuild?: RunnerOptions['catchUpByRebuild'];
  readonly support?: SupportDesk;
  /** The demo's initial password (tests and screenshots fix it); random when unset. */
  readonly demoPassword?: string;
  /** Added to GET /ready's own checks. */
  readonly readinessChecks?: readonly ReadinessCheck[];
  readonly readyMaxLag?: number;
  /** Requests of one contract at once (CONTRACT_REQUEST_LIMITS when unset; the benchmark widens it to measure a route's own cost). */
  readonly requestGate?: ContractRequestGate;
}

/** How long a stop waits for requests in flight before it cuts their connections (LEDGER_SHUTDOWN_TIMEOUT_MS). */
export const DEFAULT_SHUTDOWN_TIMEOUT_MS = 10_000;

/** Everything `serve` runs, without the listening socket: the tests drive `app.request()` on it. */
export interface PreparedServer {
  readonly app: ReturnType<typeof createApp>;
  readonly adminToken: string;
  /** Whether the token was generated (then it is printed). */
  readonly generatedToken: boolean;
  readonly demo?: DemoLoaded;
  /** Starts the projection follower and the export worker; resolves once the projections have caught up. */
  start(): Promise<void>;
  /** Stops both loops and waits for them. */
  stop(): Promise<void>;
}

export async function prepareServer(ledger: Pick<Ledger, 'database' | 'store'>, options: ServerOptions = {}): Promise<PreparedServer> {
  const clock = options.clock ?? (() => new Date());
  const logger = options.logger ?? createLogger();
  const { database, store } = ledger;

  let demo: DemoLoaded | undefined;
  if (options.demo !== false && (await isEmptyStore(store))) {
    demo = await loadDemo({ store, db: database.db }, { now: clock(), ...(options.demoPassword ? { password: options.demoPassword } : {}) });
  }

  database.connectionEvents.on('lost', (err: unknown, pool: string) => logger.warn({ pool, reason: describe(err) }, 'database connection lost (idle); the pool opens another when needed'));
  const runner = createProjectionRunner(database, store, {
    onError: (err, projection) => {
      if (err instanceof ProjectionEventFailed) {
        const { id, type, streamId, position } = err.event;
        logger.error({ projection, event: { id, type, streamId, position: position.toString() }, reason: String((err.reason as Error)?.message ?? err.reason) }, 'projection stalled: it cannot apply this event and stops before it (GET /health, ledger status)');
      } else logger.error({ err, projection }, 'projection follower error');
    },
    onDatabaseChange: (lost) =>
      lost ? logger.warn({ reason: lost.reason }, 'projection follower waiting for the database (retrying with backoff)') : logger.info('projection follower: database back, catching up'),
    ...(options.catchUpByRebuild !== undefined ? { catchUpByRebuild: options.catchUpByRebuild } : {}),
  });
  // Imports, rebuilds, the follower and the export worker use the work pool; requests have their own.
  const queries = createQueries(database, store);
  const requests = requestSide(database, store);
  const generatedToken = !options.adminToken;
  const adminToken = options.adminToken ?? randomBytes(24).toString('base64url');
  const app = createApp({
    database: requests.database,
    store: requests.store,
    queries: createQueries(requests.database, requests.store),
    databaseLost: () => runner.databaseLost,
    clock,
    adminToken,
    logger,
    engineer: createEngineerOperations({ database, store, queries, runner }),
    buildCsv,
    ...(options.portalOrigin ? { portalOrigin: options.portalOrigin } : {}),
    ...(options.support ? { support: options.support } : {}),
    readinessChecks: [followerConnected(() => runner.databaseLost), ...(options.readinessChecks ?? [])],
    ...(options.readyMaxLag !== undefined ? { readyMaxLag: options.readyMaxLag } : {}),
    ...(options.requestGate ? { requestGate: options.requestGate } : {}),
  });
  const worker = new ExportWorker({ db: database.db, queries, build: buildCsv, clock, logger, pollMs: options.exportPollMs ?? 1000 });

  const controller = new AbortController();
  const loops: Promise<void>[] = [];
  return {
    app,
    adminToken,
    generatedToken,
    ...(demo ? { demo } : {}),
    async start() {
      await runner.catchUp();
      loops.push(runner.follow(controller.signal), worker.run(controller.signal));
    },
    async stop() {
      controller.abort();
      await Promise.allSettled(loops);
    },
  };
}

/**
 * What requests use: the requests' pool of the same database (see Database.forRequests), and over
 * it an event store whose appends never queue behind an import (writerWait). Another event store
 * (EventStoreDB) serves requests as it is.
 */
function requestSide(database: Database, store: EventStore): { database: Database; store: EventStore } {
  const requestDatabase = database.forRequests();
  const sameDatabase = (store as { database?: unknown }).database === database;
  if (requestDatabase === database || !sameDatabase) return { database: requestDatabase, store };
  return { database: requestDatabase, store: createSqlEventStore(requestDatabase, { pollMs: 250, writerWait: { maxWaiting: 2 } }) };
}

export const serve: Command = {
  usage: 'serve [--no-demo]',
  async run(args, ctx) {
    const { positional, options } = parseArgs(args);
    if (positional.length > 0) throw new UsageError(`unexpected argument ${positional[0]}; usage: ledger ${serve.usage}`);
    const unknown = Object.keys(options).filter((o) => o !== 'no-demo');
    if (unknown.length > 0) throw new UsageError(`unknown option --${unknown[0]}; usage: ledger ${serve.usage}`);

    // Checked before anything opens: a desk the pages cannot show stops the server with its variable's name.
    const support = supportDeskFrom(ctx.config.support ?? {});
    const token = keptAdminToken(ctx.config.dataDir, ctx.config.adminToken);
    const ledger = await openLedger(ctx.config);
    const logger = createLogger();
    let stopping = false;
    let prepared: PreparedServer;
    try {
      prepared = await prepareServer(ledger, {
        demo: options['no-demo'] !== true,
        logger,
        adminToken: token.token,
        readinessChecks: [notStopping(() => stopping)],
        ...(ctx.config.readyMaxLag !== undefined ? { readyMaxLag: ctx.config.readyMaxLag } : {}),
        ...(ctx.config.portalOrigin ? { portalOrigin: ctx.config.portalOrigin } : {}),
        ...(ctx.config.contractRequestsPerSecond !== undefined
          ? { requestGate: new ContractRequestGate({ perSecond: ctx.config.contractRequestsPerSecond, burst: 2 * ctx.config.contractRequestsPerSecond }) }
          : {}),
        support,
      });
      await prepared.start();
    } catch (e) {
      await ledger.close();
      throw e;
    }

    const server = await listenHttp(prepared.app.fetch, { port: ctx.config.port, logger }).catch(async (e) => {
      await prepared.stop();
      await ledger.close();
      throw e;
    });

    const url = `http://localhost:${ctx.config.port}`;
    const out = (line: string) => process.stdout.write(`${line}\n`);
    out(`ledger listening on ${url} (${ledger.store.name}${ctx.config.databaseUrl ? '' : ` under ${ctx.config.dataDir}`})`);
    out(`  self-page (portal): ${url}/   API document: ${url}/api/v1/openapi.json   health: ${url}/health   ready: ${url}/ready   metrics: ${url}/metrics`);
    if (prepared.demo) {
      out(`  demo contract loaded (${prepared.demo.calls} calls, ${prepared.demo.telegrams} telegrams, ${prepared.demo.months[0]} to ${prepared.demo.months[prepared.demo.months.length - 1]})`);
      out(`  demo login: self ID ${prepared.demo.selfId}  password ${prepared.demo.password}   (shown once; an engineer can reset it)`);
    }
    if (token.source === 'generated') out(`  admin token (generated, kept in ${token.file}; set LEDGER_ADMIN_TOKEN to choose one): ${token.token}`);
    if (token.source === 'kept') out(`  admin token: the one kept in ${token.file} (set LEDGER_ADMIN_TOKEN to choose one)`);

    // A process manager signals the process (npm start execs node, so it is this one); a terminal's
    // Ctrl-C reaches npm and node both, and npm passes it on: the second signal is the same request.
    const signal = await new Promise<NodeJS.Signals>((resolve) => {
      const stop = (s: NodeJS.Signals) => {
        if (stopping) return;
        stopping = true;
        resolve(s);
      };
      process.on('SIGINT', stop);
      process.on('SIGTERM', stop);
    });
    out(`${signal}: shutting down (new connections refused, requests in flight finish, the projector stops after its batch)…`);
    const bound = ctx.config.shutdownTimeoutMs ?? DEFAULT_SHUTDOWN_TIMEOUT_MS;
    let cut = false;
    const timer = setTimeout(() => {
      cut = true;
      logger.warn({ boundMs: bound }, 'requests still in flight at the shutdown bound: closing their connections');
      server.server.closeAllConnections();
    }, bound);
    // Refuses new connections at once; busy keep-alive connections are closed once they answer.
    await server.close();
    clearTimeout(timer);
    await prepared.stop();
    await ledger.close();
    out(cut ? 'stopped (requests in flight were cut at the bound)' : 'stopped');
    // Anything left holding the event loop (a stuck socket, a timer) must not keep a stopped server alive.
    setTimeout(() => process.exit(process.exitCode ?? (cut ? 1 : 0)), 1000).unref();
    return cut ? 1 : 0;
  },
};
