// Configuration from the environment (INTERFACE.md "Configuration").
export interface LedgerConfig {
  readonly databaseUrl?: string;
  readonly eventStoreConnectionString?: string;
  readonly dataDir: string;
  readonly adminToken?: string;
  readonly port: number;
  readonly portalOrigin?: string;
  /** PostgreSQL schema (LEDGER_DB_SCHEMA; tests and crash trials use a fresh one). Default `public`. */
  readonly schema?: string;
  /** セルフページについてのお問い合わせ先 as configured (LEDGER_SUPPORT_NAME / _PHONE / _HOURS); checked and defaulted by `serve`. */
  readonly support?: { readonly name?: string | undefined; readonly phone?: string | undefined; readonly hours?: string | undefined };
  /** GET /ready answers 503 while a projection is further behind than this many events (LEDGER_READY_MAX_LAG). */
  readonly readyMaxLag?: number;
  /** How long a stopping server waits for requests in flight (LEDGER_SHUTDOWN_TIMEOUT_MS). */
  readonly shutdownTimeoutMs?: number;
  /** Requests a contract may start a second, sustained (LEDGER_CONTRACT_REQUESTS_PER_SECOND; its burst is twice that). */
  readonly contractRequestsPerSecond?: number;
}

function whole(name: string, value: string | undefined): number | undefined {
  if (!value) return undefined;
  if (!/^\d+$/.test(value)) throw new Error(`${name} must be a whole number, got ${JSON.stringify(value)}`);
  return Number.parseInt(value, 10);
}

function positive(name: string, value: string | undefined): number | undefined {
  const n = whole(name, value);
  if (n === 0) throw new Error(`${name} must be at least 1, got 0`);
  return n;
}

export function configFromEnv(env: NodeJS.ProcessEnv = process.env): LedgerConfig {
  return {
    databaseUrl: env.DATABASE_URL || undefined,
    eventStoreConnectionString: env.EVENTSTORE_CONNECTION_STRING || undefined,
    dataDir: env.LEDGER_DATA_DIR || './data',
    adminToken: env.LEDGER_ADMIN_TOKEN || undefined,
    port: env.PORT ? Number.parseInt(env.PORT, 10) : 3000,
    portalOrigin: env.LEDGER_PORTAL_ORIGIN || undefined,
    schema: env.LEDGER_DB_SCHEMA || undefined,
    support: { name: env.LEDGER_SUPPORT_NAME, phone: env.LEDGER_SUPPORT_PHONE, hours: env.LEDGER_SUPPORT_HOURS },
    readyMaxLag: whole('LEDGER_READY_MAX_LAG', env.LEDGER_READY_MAX_LAG),
    shutdownTimeoutMs: whole('LEDGER_SHUTDOWN_TIMEOUT_MS', env.LEDGER_SHUTDOWN_TIMEOUT_MS),
    contractRequestsPerSecond: positive('LEDGER_CONTRACT_REQUESTS_PER_SECOND', env.LEDGER_CONTRACT_REQUESTS_PER_SECOND),
  };
}
