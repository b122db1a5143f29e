// The projections of the ledger, their migrations, and a runner over them.
import { sql } from 'kysely';
import type { Database, MigrationSet } from '../eventstore/database.ts';
import type { EventStore } from '../eventstore/port.ts';
import { categoryListingIndex, chargesProjection, createPagesTable, drawAllPages } from './charges.ts';
import { contractsProjection } from './contracts.ts';
import { createCheckpointTable, createStallTable, ProjectionRunner, type Projection, type RunnerOptions } from './framework.ts';
import { telegramsProjection } from './telegrams.ts';

export const projections: readonly Projection[] = [contractsProjection, chargesProjection, telegramsProjection];

/** Migrations: the checkpoint table and each projection's live tables (a version bump rebuilds them). */
export const projectionMigrations: MigrationSet = {
  '0100-projections-checkpoints': {
    async up(db) {
      await createCheckpointTable(db);
    },
  },
  '0101-projections-tables-v1': {
    async up(db) {
      for (const p of projections) await p.createTables(db, '');
    },
  },
  // A set-based rebuild reads the few events that are not calls (contract changes, corrections,
  // telegrams) by type: through this index rather than a scan of a million calls for each
  // projection. Appending a call only tests the condition; no entry is made.
  '0102-projections-events-other-than-calls': {
    async up(db) {
      await sql`create index if not exists events_other_than_calls on events (type, position) where type <> 'CallRecorded'`.execute(db);
    },
  },
  // Where a projection that cannot apply an event stopped (framework.ts), for /health and `ledger status`.
  '0103-projections-stalls': {
    async up(db) {
      await createStallTable(db);
    },
  },
  // The call-details listings' page starts (proj_call_pages) and the index a category's page seeks
  // through, drawn from the calls already projected: what a rebuild would make, without one. A
  // store made after them got both from 0101.
  '0104-projections-call-pages': {
    async up(db) {
      const { rows } = await sql<{ t: string | null }>`select to_regclass('proj_call_pages')::text as t`.execute(db);
      if (rows[0]?.t) return;
      await createPagesTable(db, '');
      await categoryListingIndex('')(db);
      await drawAllPages(db, '');
    },
  },
  // Amount columns were numeric(14,2): one stored amount of 10^12 yen or more (or a big enough
  // sum) stopped the charges and telegrams projections for everyone. `numeric` holds any sum of
  // bounded charges; the values keep their two decimals. (Widening a numeric rewrites nothing.)
  '0105-projections-amounts-unbounded': {
    async up(db) {
      const columns: Record<string, string[]> = {
        proj_call_details: ['recorded_charge', 'charge', 'billed'],
        proj_call_adjustments: ['charge'],
        proj_monthly_charges: ['normal', 'billed'],
        proj_telegrams: ['charge'],
      };
      for (const [table, names] of Object.entries(columns)) {
        const changes = names.map((c) => sql`alter column ${sql.ref(c)} type numeric`);
        await sql`alter table if exists ${sql.table(table)} ${sql.join(changes)}`.execute(db);
      }
    },
  },
  // 受付番号 of each telegram; telegrams stored before have none (null), as their events.
  '0106-projections-telegram-receipt-numbers': {
    async up(db) {
      await sql`alter table if exists proj_telegrams add column if not exists receipt_number text`.execute(db);
    },
  },
};

export function createProjectionRunner(database: Database, store: EventStore, options: RunnerOptions = {}): ProjectionRunner {
  return new ProjectionRunner(database, store, projections, options);
}

export { ProjectionEventFailed, ProjectionRunner, UnknownProjectionError } from './framework.ts';
export type { Projection, ProjectionStall, RebuildReport, RunnerOptions } from './framework.ts';
