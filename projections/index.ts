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
};

export function createProjectionRunner(database: Database, store: EventStore, options: RunnerOptions = {}): ProjectionRunner {
  return new ProjectionRunner(database, store, projections, options);
}

export { ProjectionEventFailed, ProjectionRunner, UnknownProjectionError } from './framework.ts';
export type { Projection, ProjectionStall, RebuildReport, RunnerOptions } from './framework.ts';
