// One customer's burst cannot take the server from the others. Two bounds and one order:
// - a contract has a few requests in work at once (its lane); the rest of its requests wait their
//   turn without holding anything but their socket, and beyond a queue of its own get 429 — so a
//   customer who opens fifty connections gets what one who opens four gets;
// - the server has a few more handlers in work at once than one lane (about its requests' pool):
//   beyond them requests wait here rather than in the pool's queue, which is first come, first
//   served, whoever sends the most;
// - when a place frees, it goes to the waiting contract that has had the least work lately (its
//   places in work over time, fading by half every second): a light customer goes before one that
//   keeps the server busy, whatever each sends (least attained service).
// A download's place stays taken in its contract's lane until its last byte (`keep`): the file is
// work done for that contract all along, paced and read through a pool of its own, so it leaves
// the server's handler places to others.
// Beyond places, a contract starts at most `perSecond` requests a second (after a quiet spell up to
// `burst` at once): work per request is bounded (seeks, bounded pages), so this bounds the work
// one customer can ask of the server, however many connections it opens. A portal page is one
// request and its JSON is a handful; a person clicking never meets the bound, a script looping over
// its listing or its file does, and waits for its turns rather than taking them from others.
// Why 20 a second and 40 at once: every request of a flood takes the one event loop for a while
// (the heaviest bounded route, a listing's last page, about 0.6 ms of CPU here), and a customer at
// work whose request comes in meanwhile waits for it: the share of others' requests that wait
// grows with the flood's rate, and that share is their p99. Measured on 2 cores (bench/noisy.ts,
// switched periods): at 50 a second and 100 at once their p99 under a listing and download flood
// was 0.34–0.64 of quiet over six runs, at 20 and 40 0.49–1.02 over twelve (median 0.77). The burst
// counts too: a flood that pauses a few seconds gets its whole bucket again (at 100: 83 listing
// answers a second while on, in 3 s periods).
// And the requests waiting in all are bounded (`waitingTotal`): a crowd of contracts at once gets
// 503, not an ever longer queue.

/** Requests of one contract in work at once and waiting for a turn; handlers in work and requests waiting in all; turns a second. */
export const CONTRACT_REQUEST_LIMITS: RequestLimits = { inFlight: 4, waiting: 64, total: 8, waitingTotal: 1_024, perSecond: 20, burst: 40 };

export interface RequestLimits {
  /** A key's places in work at once. */
  inFlight: number;
  /** A key's requests waiting for a turn; beyond them, 'queue-full'. */
  waiting: number;
  /** Handler places in work at once, all keys. */
  total: number;
  /** Requests waiting, all keys; beyond them, 'server-full'. */
  waitingTotal: number;
  /** Turns a key may start a second, sustained (Infinity: no bound). */
  perSecond: number;
  /** Turns a key may start at once after a quiet spell (its bucket of turns). */
  burst: number;
}

/**
 * Why a request got no place: its own key's queue is full (429), every queue together is (503), or
 * its client went away while it waited (nobody to answer: it leaves the queue, and no work is done for it).
 */
export type GateRefusal = 'queue-full' | 'server-full' | 'gone';

/** How fast a contract's past work fades from its priority (half of it a second). */
const WORK_HALF_LIFE_MS = 1_000;

interface Lane {
  /** Places in work: handlers and kept (streaming) places. */
  active: number;
  readonly waiting: Waiter[];
  /** Places in work × milliseconds, fading (WORK_HALF_LIFE_MS), as of `at`. */
  work: number;
  at: number;
  /** Turns it may start now (perSecond, up to burst), as of `at`. */
  turns: number;
}

interface Waiter {
  readonly seq: number;
  readonly admit: () => void;
}

/** A request's place: released once; `keep` turns it into a download's place, released by the stream. */
export interface LanePlace {
  release(): void;
  /** Hands the place over to a response still being sent: frees the handler place, keeps the contract's. */
  keep(): () => void;
  /**
   * Hands the place back altogether while the request waits on a gate of its own (a download
   * waiting for one of its contract's to end): it holds neither a handler place nor its contract's,
   * so the contract's other requests go on meanwhile. The function returned takes the contract's
   * place again as a kept one (no handler place, no turn of the rate: it has had its turn) and
   * gives its release.
   */
  setAside(): () => () => void;
}

export class ContractRequestGate {
  private readonly lanes = new Map<string, Lane>();
  /** Contracts with requests waiting, in no order (few; scanned on each freed place). */
  private readonly queued = new Set<string>();
  private handlers = 0;
  private waitingAll = 0;
  private seq = 0;
  /** The wake-up armed for a lane whose next turn is due (perSecond), and when. */
  private wake: { at: number; cancel: () => void } | undefined;
  /** Lanes made so far: every 256th sweeps the idle ones whose work has faded. */
  private created = 0;
  readonly limits: RequestLimits;
  constructor(
    limits: Partial<RequestLimits> = {},
    private readonly now: () => number = () => performance.now(),
    /** Runs `wake` after `ms` (a timer that does not keep the process alive); the tests drive it themselves. */
    private readonly schedule: (wake: () => void, ms: number) => () => void = (wake, ms) => {
      const timer = setTimeout(wake, ms);
      timer.unref();
      return () => clearTimeout(timer);
    },
  ) {
    this.limits = { ...CONTRACT_REQUEST_LIMITS, ...limits };
  }

  /**
   * Resolves with the request's place once it may go on, or why it gets none. `signal` is the
   * request's: a client that goes away while its request waits takes it out of the queue ('gone'),
   * so that a burst of requests dropped at once costs neither turns nor work (nor a place in the queue).
   */
  async enter(contractCode: string, signal?: AbortSignal): Promise<LanePlace | GateRefusal> {
    if (signal?.aborted) return 'gone';
    const lane = this.laneOf(contractCode);
    if (lane.waiting.length === 0 && this.mayStart(lane)) {
      this.start(lane);
    } else {
      if (lane.waiting.length >= this.limits.waiting) return 'queue-full';
      if (this.waitingAll >= this.limits.waitingTotal) return 'server-full';
      // The place is taken for it by whoever frees one, or by the wake-up when its turn is due (dispatch).
      const admitted = await new Promise<boolean>((resolve) => {
        const waiter: Waiter = {
          seq: this.seq++,
          admit: () => {
            signal?.removeEventListener('abort', leave);
            resolve(true);
          },
        };
        const leave = () => {
          const at = lane.waiting.indexOf(waiter);
          if (at < 0) return;
          lane.waiting.splice(at, 1);
          this.waitingAll--;
          if (lane.waiting.length === 0) this.queued.delete(contractCode);
          this.dropIfIdle(contractCode, lane);
          resolve(false);
        };
        signal?.addEventListener('abort', leave, { once: true });
        lane.waiting.push(waiter);
        this.waitingAll++;
        this.queued.add(contractCode);
        this.dispatch();
      });
      if (!admitted) return 'gone';
    }
    return this.placeIn(contractCode, lane);
  }

  /** Requests waiting for a turn, all contracts. */
  get waiting(): number {
    return this.waitingAll;
  }

  /** Requests (and downloads) of the contract in work now. */
  inFlight(contractCode: string): number {
    return this.lanes.get(contractCode)?.active ?? 0;
  }

  /** Handlers in work now, all contracts. */
  get working(): number {
    return this.handlers;
  }

  /** The contract's recent work (place × ms, fading), as the order of turns sees it. */
  recentWork(contractCode: string): number {
    const lane = this.lanes.get(contractCode);
    return lane ? this.settle(lane) : 0;
  }

  private laneOf(contractCode: string): Lane {
    let lane = this.lanes.get(contractCode);
    if (!lane) {
      if (++this.created % 256 === 0) for (const [code, idle] of this.lanes) this.dropIfIdle(code, idle);
      this.lanes.set(contractCode, (lane = { active: 0, waiting: [], work: 0, at: this.now(), turns: this.limits.burst }));
    }
    return lane;
  }

  private mayStart(lane: Lane): boolean {
    if (lane.active >= this.limits.inFlight || this.handlers >= this.limits.total) return false;
    this.settle(lane);
    return this.hasTurn(lane);
  }

  /** Whether the lane may start a request as far as its rate goes (limits may change while running: the benchmark widens them). */
  private hasTurn(lane: Lane): boolean {
    return lane.turns >= 1 || !Number.isFinite(this.limits.perSecond);
  }

  /** Brings the lane up to now: past work fades, places in work since `at` add theirs, turns come back. */
  private settle(lane: Lane): number {
    const now = this.now();
    const elapsed = now - lane.at;
    if (elapsed > 0) {
      lane.work = lane.work * 0.5 ** (elapsed / WORK_HALF_LIFE_MS) + lane.active * elapsed;
      lane.turns = Math.min(this.limits.burst, lane.turns + (elapsed * this.limits.perSecond) / 1_000);
      lane.at = now;
    }
    return lane.work;
  }

  private start(lane: Lane): void {
    this.settle(lane);
    lane.turns--;
    lane.active++;
    this.handlers++;
  }

  private placeIn(contractCode: string, lane: Lane): LanePlace {
    let kept = false;
    let released = false;
    const leave = () => {
      if (released) return;
      released = true;
      this.settle(lane);
      lane.active--;
      if (!kept) this.handlers--;
      this.dropIfIdle(contractCode, lane);
      this.dispatch();
    };
    return {
      // Once kept, the place is the response's to release, not the handler's.
      release: () => {
        if (!kept) leave();
      },
      keep: () => {
        if (!kept && !released) {
          kept = true;
          this.handlers--;
          this.dispatch();
        }
        return leave;
      },
      setAside: () => {
        leave();
        return () => this.keptPlaceIn(contractCode);
      },
    };
  }

  /** A kept place in the contract's lane, taken without a turn (a request set aside coming back); its release. */
  private keptPlaceIn(contractCode: string): () => void {
    // Looked up again: the lane may have been forgotten while the request was set aside.
    const lane = this.laneOf(contractCode);
    this.settle(lane);
    lane.active++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.settle(lane);
      lane.active--;
      this.dropIfIdle(contractCode, lane);
      this.dispatch();
    };
  }

  /**
   * Hands free places to waiting requests: the contract with the least recent work first, among
   * those with a turn due; when only turns are missing, a wake-up is armed for the first one due.
   */
  private dispatch(): void {
    let due = Number.POSITIVE_INFINITY;
    while (this.handlers < this.limits.total && this.queued.size > 0) {
      let chosen: { code: string; lane: Lane; work: number; seq: number } | undefined;
      due = Number.POSITIVE_INFINITY;
      for (const code of this.queued) {
        const lane = this.lanes.get(code)!;
        if (lane.active >= this.limits.inFlight) continue;
        const work = this.settle(lane);
        if (!this.hasTurn(lane)) {
          due = Math.min(due, ((1 - lane.turns) * 1_000) / this.limits.perSecond);
          continue;
        }
        const seq = lane.waiting[0]!.seq;
        if (!chosen || work < chosen.work || (work === chosen.work && seq < chosen.seq)) chosen = { code, lane, work, seq };
      }
      if (!chosen) break;
      const next = chosen.lane.waiting.shift()!;
      this.waitingAll--;
      if (chosen.lane.waiting.length === 0) this.queued.delete(chosen.code);
      this.start(chosen.lane);
      next.admit();
    }
    if (due !== Number.POSITIVE_INFINITY) this.wakeIn(due);
  }

  /** Arms one wake-up (the earliest asked for): a lane waiting only for its next turn gets it without another request freeing a place. */
  private wakeIn(ms: number): void {
    const at = this.now() + ms;
    if (this.wake && this.wake.at <= at) return;
    this.wake?.cancel();
    const cancel = this.schedule(() => {
      if (this.wake?.cancel === cancel) this.wake = undefined;
      this.dispatch();
    }, Math.max(1, Math.ceil(ms)));
    this.wake = { at, cancel };
  }

  /** A lane with nothing in work or waiting, its work faded and its turns all back is forgotten (the map stays small: see laneOf). */
  private dropIfIdle(contractCode: string, lane: Lane): void {
    if (lane.active === 0 && lane.waiting.length === 0 && this.settle(lane) < 1 && (lane.turns >= this.limits.burst || !Number.isFinite(this.limits.perSecond))) this.lanes.delete(contractCode);
  }
}
