// A password change or reset puts a new hash in force and records the fact as an event (never the
// password nor its hash, SPEC §2). Both commit together or neither does, so the answer can tell the
// truth: a change answered with an error is not in force, and one in force has its event.
import type { Kysely } from 'kysely';
import type { ChangeSelfPassword, ResetSelfPassword } from '../domain/contract.ts';
import { handleContractCommand, isExpectedVersionConflict, planContractAppend } from '../domain/contract-service.ts';
import { sharedTransactionOf, type EventStore } from '../eventstore/port.ts';
import { replacePasswordHash } from '../projections/credentials.ts';
import { ApiError } from './errors.ts';
import { deleteSessionsOfContract, forgetSessionsOfContract } from './sessions.ts';

export interface CredentialChange {
  readonly command: ChangeSelfPassword | ResetSelfPassword;
  /** The new password's hash, made before (scrypt is slow: no transaction waits for it). */
  readonly hash: string;
  /** The credential's epoch when the current password was verified; a reset has none. */
  readonly expectedEpoch?: number;
  /** The session that asked for the change stays; every other session of the contract ends. */
  readonly keepSession?: string;
  /** Written on the event (`api:<request id>`, `portal:<request id>`). */
  readonly source: string;
}

/**
 * On a store with a shared transaction (the SQL store: one database with the credentials) the
 * event, the new hash and the end of the other sessions are one transaction. On another event store
 * (EventStoreDB) the credential transaction stays open while the event is appended and commits right
 * after: an append that fails rolls the new hash back; only a commit failing after a stored event
 * could part them. ApiError 409 PASSWORD_CHANGED_MEANWHILE when the credential was replaced after
 * the check.
 */
export async function commitCredentialChange(deps: { readonly db: Kysely<any>; readonly store: EventStore }, change: CredentialChange): Promise<void> {
  const { contractCode } = change.command;
  const metadata = { source: change.source };
  const replace = async (db: Kysely<any>) => {
    if (!(await replacePasswordHash(db, contractCode, change.hash, change.expectedEpoch))) {
      throw new ApiError(409, 'PASSWORD_CHANGED_MEANWHILE', 'the password was changed by another request meanwhile; nothing was changed, try again');
    }
    await deleteSessionsOfContract(deps.db, contractCode, change.keepSession, db);
  };
  const inTransaction = sharedTransactionOf(deps.store);
  if (inTransaction) {
    // Read and decided before the transaction opens (the embedded database has one connection, which
    // the transaction holds); appended under the versions decided on, else decided again.
    for (let attempt = 1; ; attempt++) {
      const planned = await planContractAppend(deps.store, change.command, metadata);
      try {
        await inTransaction(async (trx) => {
          // The event first: the writers' lock is taken before the credential row's, as every append does.
          if (!planned.alreadyPresent) await trx.append(planned.batches);
          await replace(trx.db);
        });
        break;
      } catch (e) {
        if (!isExpectedVersionConflict(e) || attempt >= MAX_ATTEMPTS) throw e;
      }
    }
  } else {
    await deps.db.transaction().execute(async (trx) => {
      await replace(trx);
      await handleContractCommand(deps.store, change.command, { metadata });
    });
  }
  // Again after the commit: a request between the delete and the commit may have cached a session.
  forgetSessionsOfContract(deps.db, contractCode, change.keepSession);
}

/** As handleContractCommand's default: another writer of the contract stream is rare. */
const MAX_ATTEMPTS = 5;
