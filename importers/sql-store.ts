import type { EventStore } from '../eventstore/port.ts';
import type { SqlEventStore } from '../eventstore/sql.ts';

/**
 * The SQL adapter, when that is the store: only it can append inside a caller's transaction
 * (`appendInTransaction`), which is what makes a whole file one commit. Duck-typed, so that a
 * wrapper exposing the same two members qualifies too.
 */
export function asSqlEventStore(store: EventStore): SqlEventStore | undefined {
  const candidate = store as Partial<SqlEventStore>;
  return typeof candidate.appendInTransaction === 'function' && candidate.database !== undefined ? (store as SqlEventStore) : undefined;
}
