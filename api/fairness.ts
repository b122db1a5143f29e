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

/** Requests of one contract in work at once and waiting for a turn; handlers in work at once in all. */
export const CONTRACT_REQUEST_LIMITS = { inFlight: 4, waiting: 64, total: 8 } as const;

export interface RequestLimits {
  inFlight: number;
  waiting: number;
  total: number;
}

/** How fast a contract's past work fades from its priority (half of it a second). */
const WORK_HALF_LIFE_MS = 1_000;

interface Lane {
  /** Places in work: handlers and kept (streaming) places. */
  active: number;
  readonly waiting: { readonly seq: number; readonly admit: () => void }[];
  /** Places in work × milliseconds, fading (WORK_HALF_LIFE_MS), as of `at`. */
  work: number;
  at: number;
}

/** A request's place: released once; `keep` turns it into a download's place, released by the stream. */
export interface LanePlace {
  release(): void;
  /** Hands the place over to a response still being sent: frees the handler place, keeps the contract's. */
  keep(): () => void;
}

export class ContractRequestGate {
  private readonly lanes = new Map<string, Lane>();
  /** Contracts with requests waiting, in no order (few; scanned on each freed place). */
  private readonly queued = new Set<string>();
  private handlers = 0;
  private seq = 0;
  /** Lanes made so far: every 256th sweeps the idle ones whose work has faded. */
  private created = 0;
  constructor(
    readonly limits: RequestLimits = { ...CONTRACT_REQUEST_LIMITS },
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** Resolves with the request's place once it may go on; undefined when the contract's queue is full. */
  async enter(contractCode: string): Promise<LanePlace | undefined> {
    const lane = this.laneOf(contractCode);
    if (lane.waiting.length === 0 && this.mayStart(lane)) {
      this.start(lane);
    } else {
      if (lane.waiting.length >= this.limits.waiting) return undefined;
      // The place is taken for it by whoever frees one (dispatch).
      await new Promise<void>((admit) => {
        lane.waiting.push({ seq: this.seq++, admit });
        this.queued.add(contractCode);
      });
    }
    return this.placeIn(contractCode, lane);
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
      this.lanes.set(contractCode, (lane = { active: 0, waiting: [], work: 0, at: this.now() }));
    }
    return lane;
  }

  private mayStart(lane: Lane): boolean {
    return lane.active < this.limits.inFlight && this.handlers < this.limits.total;
  }

  /** Brings the lane's work up to now: past work fades, places in work since `at` add theirs. */
  private settle(lane: Lane): number {
    const now = this.now();
    const elapsed = now - lane.at;
    if (elapsed > 0) {
      lane.work = lane.work * 0.5 ** (elapsed / WORK_HALF_LIFE_MS) + lane.active * elapsed;
      lane.at = now;
    }
    return lane.work;
  }

  private start(lane: Lane): void {
    this.settle(lane);
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
    };
  }

  /** Hands free places to waiting requests: the contract with the least recent work first. */
  private dispatch(): void {
    while (this.handlers < this.limits.total && this.queued.size > 0) {
      let chosen: { code: string; lane: Lane; work: number; seq: number } | undefined;
      for (const code of this.queued) {
        const lane = this.lanes.get(code)!;
        if (lane.active >= this.limits.inFlight) continue;
        const work = this.settle(lane);
        const seq = lane.waiting[0]!.seq;
        if (!chosen || work < chosen.work || (work === chosen.work && seq < chosen.seq)) chosen = { code, lane, work, seq };
      }
      if (!chosen) return;
      const next = chosen.lane.waiting.shift()!;
      if (chosen.lane.waiting.length === 0) this.queued.delete(chosen.code);
      this.start(chosen.lane);
      next.admit();
    }
  }

  /** A lane with nothing in work, nothing waiting and its work faded is forgotten (the map stays small: see laneOf). */
  private dropIfIdle(contractCode: string, lane: Lane): void {
    if (lane.active === 0 && lane.waiting.length === 0 && this.settle(lane) < 1) this.lanes.delete(contractCode);
  }
}
