import type { Logger } from 'pino';
import type { Kysely } from 'kysely';
import type { Database } from '../eventstore/database.ts';
import type { EventStore } from '../eventstore/port.ts';
import type { DatabaseLost } from '../projections/framework.ts';
import type { LedgerQueries } from '../projections/read-model.ts';
import type { EngineerOperations, CsvFileBuilder } from './ports.ts';
import type { LedgerMetrics } from './metrics.ts';
import type { ReadinessCheck } from './readiness.ts';
import type { Session, SessionPolicy } from './sessions.ts';
import type { SupportDesk } from './portal/support.tsx';
import type { DownloadGate, ExportLimits } from './exports.ts';
import type { ContractRequestGate, LanePlace } from './fairness.ts';

export interface AppDeps {
  readonly database: Database;
  readonly store: EventStore;
  readonly queries: LedgerQueries;
  /** Every "now" of the API (sessions, lockout, charges window, export blackout days). */
  readonly clock: () => Date;
  readonly adminToken: string;
  /** The portal's origin, allowed by CORS; no CORS headers when unset. */
  readonly portalOrigin?: string;
  /** Largest request body in bytes for portal routes. Default 64 KiB. */
  readonly bodyLimit?: number;
  /** Largest request body for engineer uploads (imports, reconcile). Default 64 MiB; bigger files go through the CLI. */
  readonly adminBodyLimit?: number;
  readonly engineer: EngineerOperations;
  /** Used by the export worker; the routes only queue jobs. */
  readonly buildCsv?: CsvFileBuilder;
  readonly logger?: Logger;
  readonly sessionPolicy?: SessionPolicy;
  /** Since when and why the projection follower has been waiting for the database (`/health`). */
  readonly databaseLost?: () => DatabaseLost | undefined;
  /** Requests of one contract at once (CONTRACT_REQUEST_LIMITS when unset). */
  readonly requestGate?: ContractRequestGate;
  /** Password checks at once, in turns by claimed self ID (api/password-checks.ts PASSWORD_CHECK_LIMITS when unset). */
  readonly passwordChecks?: ContractRequestGate;
  /** Downloads at once (DOWNLOAD_LIMITS when unset). */
  readonly downloads?: DownloadGate;
  /** Export jobs and files per contract at once (EXPORT_LIMITS when unset). */
  readonly exportLimits?: ExportLimits;
  /** セルフページについてのお問い合わせ先 shown on every portal page; DEFAULT_SUPPORT_DESK when unset. */
  readonly support?: SupportDesk;
  /** Made by createApp when not given (one registry per app). */
  readonly metrics?: LedgerMetrics;
  /** Checks GET /ready runs besides its own (the event store answers, projections current). */
  readonly readinessChecks?: readonly ReadinessCheck[];
  /** Projections further behind than this many events make /ready answer 503 (LEDGER_READY_MAX_LAG). */
  readonly readyMaxLag?: number;
}

/** What every route module gets. */
export interface RouteDeps extends AppDeps {
  readonly db: Kysely<any>;
  readonly metrics: LedgerMetrics;
  readonly logger: Logger;
  readonly sessionPolicy: SessionPolicy;
  readonly downloads: DownloadGate;
  readonly requestGate: ContractRequestGate;
  readonly passwordChecks: ContractRequestGate;
}

export interface AppEnv {
  Variables: {
    requestId: string;
    session: Session;
    sessionToken: string;
    /** The request's place in its contract's lane (customer routes). */
    lane: LanePlace;
  };
}
