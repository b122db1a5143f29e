// One customer's burst cannot take the server from the others: each contract has a few requests in
// work at once, and the rest of its requests wait their turn (without holding anything but their
// socket), so a customer who opens fifty connections gets what one who opens four gets, and the
// event loop and the pools stay shared across contracts. Beyond a queue of its own, 429.

/** Requests of one contract in work at once, and waiting for a turn. */
export const CONTRACT_REQUEST_LIMITS = { inFlight: 4, waiting: 64 } as const;

interface Lane {
  active: number;
  readonly waiting: (() => void)[];
}

export class ContractRequestGate {
  private readonly lanes = new Map<string, Lane>();
  constructor(readonly limits: { readonly inFlight: number; readonly waiting: number } = CONTRACT_REQUEST_LIMITS) {}

  /** Resolves with a release function once the request may go on; undefined when the contract's queue is full. */
  async enter(contractCode: string): Promise<(() => void) | undefined> {
    let lane = this.lanes.get(contractCode);
    if (!lane) this.lanes.set(contractCode, (lane = { active: 0, waiting: [] }));
    if (lane.active >= this.limits.inFlight) {
      if (lane.waiting.length >= this.limits.waiting) return undefined;
      // The turn is handed over by the request that leaves (active stays counted for it).
      await new Promise<void>((resolve) => lane.waiting.push(resolve));
    } else {
      lane.active++;
    }
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = lane.waiting.shift();
      if (next) return next();
      lane.active--;
      if (lane.active === 0) this.lanes.delete(contractCode);
    };
  }

  /** Requests of the contract in work now (tests). */
  inFlight(contractCode: string): number {
    return this.lanes.get(contractCode)?.active ?? 0;
  }
}
