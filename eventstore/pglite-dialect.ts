// Kysely's PGlite dialect, for the kysely 0.28 line. Kysely ships one from 0.29 on, but 0.29
// declares Node >= 22 and we support Node 20.19+ (20 is still the Node of these machines); 0.28
// is still maintained for Node 20. This is kysely 0.29's PGliteDialect (MIT, kysely-org/kysely
// src/dialect/pglite) cut to what 0.28's Driver interface asks: drop this file and import
// PGliteDialect from 'kysely' once Node 20 support ends.
import {
  CompiledQuery,
  PostgresAdapter,
  PostgresIntrospector,
  PostgresQueryCompiler,
  type DatabaseConnection,
  type DatabaseIntrospector,
  type Dialect,
  type DialectAdapter,
  type Driver,
  type Kysely,
  type QueryCompiler,
  type QueryResult,
} from 'kysely';
import type { PGlite, Transaction } from '@electric-sql/pglite';

export class PGliteDialect implements Dialect {
  constructor(private readonly config: { readonly pglite: PGlite }) {}

  createAdapter(): DialectAdapter {
    return new PGliteAdapter();
  }

  createDriver(): Driver {
    return new PGliteDriver(this.config.pglite);
  }

  createIntrospector(db: Kysely<any>): DatabaseIntrospector {
    return new PostgresIntrospector(db);
  }

  createQueryCompiler(): QueryCompiler {
    return new PostgresQueryCompiler();
  }
}

class PGliteAdapter extends PostgresAdapter {
  // One connection, held by the migrator from acquiring the lock to releasing it: nothing to lock.
  override async acquireMigrationLock(): Promise<void> {}

  override async releaseMigrationLock(): Promise<void> {}
}

/**
 * PGlite is one connection: a query waits until the connection is released (as kysely 0.28's
 * SqliteDriver does, and 0.29 does for any adapter without multiple connections), so a query
 * outside a transaction never runs inside another caller's transaction.
 */
class PGliteDriver implements Driver {
  private readonly connection: PGliteConnection;
  private held: Promise<void> | undefined;
  private release: (() => void) | undefined;

  constructor(private readonly pglite: PGlite) {
    this.connection = new PGliteConnection(pglite);
  }

  async init(): Promise<void> {
    if (this.pglite.closed) throw new Error('PGlite instance is already closed.');
    await this.pglite.waitReady;
  }

  async acquireConnection(): Promise<DatabaseConnection> {
    while (this.held) await this.held;
    this.held = new Promise<void>((resolve) => (this.release = resolve));
    return this.connection;
  }

  async releaseConnection(): Promise<void> {
    const release = this.release;
    this.held = undefined;
    this.release = undefined;
    release?.();
  }

  async beginTransaction(connection: DatabaseConnection): Promise<void> {
    await (connection as PGliteConnection).begin();
  }

  async commitTransaction(connection: DatabaseConnection): Promise<void> {
    await (connection as PGliteConnection).commit();
  }

  async rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    await (connection as PGliteConnection).rollback();
  }

  async savepoint(connection: DatabaseConnection, name: string): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw(`savepoint ${quoted(name)}`));
  }

  async rollbackToSavepoint(connection: DatabaseConnection, name: string): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw(`rollback to savepoint ${quoted(name)}`));
  }

  async releaseSavepoint(connection: DatabaseConnection, name: string): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw(`release savepoint ${quoted(name)}`));
  }

  async destroy(): Promise<void> {
    if (!this.pglite.closed) await this.pglite.close();
  }
}

function quoted(identifier: string): string {
  return `"${identifier.replaceAll('"', '""')}"`;
}

class PGliteConnection implements DatabaseConnection {
  private transaction: Transaction | undefined;
  private finish: { commit: () => void; rollback: (reason?: unknown) => void } | undefined;
  private closed: Promise<unknown> | undefined;

  constructor(private readonly pglite: PGlite) {}

  async executeQuery<R>(compiled: CompiledQuery): Promise<QueryResult<R>> {
    const { affectedRows, rows } = await (this.transaction ?? this.pglite).query<R>(compiled.sql, compiled.parameters as unknown[], { rowMode: 'object' });
    return { numAffectedRows: affectedRows != null ? BigInt(affectedRows) : undefined, rows: rows ?? [] };
  }

  // eslint-disable-next-line require-yield
  async *streamQuery<R>(): AsyncIterableIterator<QueryResult<R>> {
    throw new Error('Streaming is not supported by PGlite.');
  }

  /** PGlite's own transaction (it locks the instance), held open until commit or rollback. */
  async begin(): Promise<void> {
    let begun!: () => void;
    const started = new Promise<void>((resolve) => (begun = resolve));
    const decided = new Promise<void>((commit, rollback) => (this.finish = { commit, rollback }));
    this.closed = this.pglite.transaction(async (tx) => {
      this.transaction = tx;
      begun();
      await decided;
    });
    // A failure to begin would otherwise leave `started` waiting forever.
    await Promise.race([started, this.closed]);
  }

  async commit(): Promise<void> {
    this.finish?.commit();
    try {
      await this.closed;
    } finally {
      this.reset();
    }
  }

  async rollback(): Promise<void> {
    this.finish?.rollback(new Error('rolled back'));
    await this.closed?.catch(() => {});
    this.reset();
  }

  private reset(): void {
    this.transaction = undefined;
    this.finish = undefined;
    this.closed = undefined;
  }
}
