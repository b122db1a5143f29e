// Every password check (a login, the portal's ログイン, the current password of a change, and the
// dummy check for an unknown self ID) runs scrypt at production cost: ~100 ms of a core and 32 MB.
// Unbounded, a customer looping logins with its right password (no lockout applies to it) or anyone
// sending made-up self IDs (never locked) keeps libuv's threads busy with scrypt and slows every
// other customer's queries (measured: another customer's GET /api/v1/charges fell to 14 % of its
// quiet throughput under 8 such loops). So checks take turns in a gate of their own (fairness.ts),
// keyed by the claimed self ID — taken before the attempt is reserved, so a refused check costs no
// attempt toward the lockout.
import { availableParallelism } from 'node:os';
import { CONTRACT_CODE } from '../domain/contract.ts';
import { ApiError, ClientGone } from './errors.ts';
import { ContractRequestGate, type GateRefusal, type LanePlace, type RequestLimits } from './fairness.ts';

/**
 * - total: scrypt is CPU alone; one core less than the machine has (at least 1) leaves a core to
 *   the event loop and the database, which answer every other customer (2 cores here → 1 check at
 *   once, ~10 logins a second, far above what people logging in ask for);
 * - inFlight 1 a self ID: its checks go one after the other (a person logs in once);
 * - perSecond 1, burst 3 a self ID: a typo or two and the right password go at once, a loop waits;
 * - waiting 4 a self ID (429 beyond), 32 in all (503 beyond: at ~100 ms a check, a wait of seconds,
 *   not a queue that grows while the server is crowded).
 */
export const PASSWORD_CHECK_LIMITS: RequestLimits = {
  inFlight: 1,
  waiting: 4,
  total: Math.max(1, availableParallelism() - 1),
  waitingTotal: 32,
  perSecond: 1,
  burst: 3,
};

export function passwordCheckGate(limits: Partial<RequestLimits> = {}): ContractRequestGate {
  return new ContractRequestGate({ ...PASSWORD_CHECK_LIMITS, ...limits });
}

/**
 * The gate's key for a claimed self ID: itself when it has the self ID's form ("d" and 9 digits),
 * else one key shared by all malformed input — a map is never keyed by an attacker's string of any
 * length, and no malformed input names a self ID anyway. Not of the self ID's form itself.
 */
export const MALFORMED_SELF_ID = 'malformed';
export function passwordCheckKey(claimedSelfId: string): string {
  return CONTRACT_CODE.test(claimedSelfId) ? claimedSelfId : MALFORMED_SELF_ID;
}

/** A check that got no turn, as the API answers it: the self ID's own queue is full (429) or the server's (503). Nothing of the check ran. */
export class PasswordCheckRefused extends ApiError {
  constructor(readonly refusal: GateRefusal) {
    super(
      refusal === 'queue-full' ? 429 : 503,
      refusal === 'queue-full' ? 'TOO_MANY_PASSWORD_CHECKS' : 'SERVER_BUSY',
      refusal === 'queue-full'
        ? 'too many password checks at once for this self ID; try again in a moment (しばらくしてから、もう一度お試しください)'
        : 'the server has as many password checks waiting as it takes; try again in a moment (しばらくしてから、もう一度お試しください)',
      undefined,
      { 'Retry-After': '1' },
    );
  }
}

/**
 * Runs `check` in the claimed self ID's turn; PasswordCheckRefused when it gets none, ClientGone
 * when `signal` (the request's) aborts while it waits: a login sent and dropped costs no scrypt.
 */
export async function inPasswordCheckTurn<T>(gate: ContractRequestGate, claimedSelfId: string, check: () => Promise<T>, signal?: AbortSignal): Promise<T> {
  const place: LanePlace | GateRefusal = await gate.enter(passwordCheckKey(claimedSelfId), signal);
  if (place === 'gone') throw new ClientGone();
  if (place === 'queue-full' || place === 'server-full') throw new PasswordCheckRefused(place);
  try {
    return await check();
  } finally {
    place.release();
  }
}
