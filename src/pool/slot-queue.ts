/**
 * The requests of one group waiting for a connection slot: nginx Plus's
 * `queue number timeout=` behind `max_conns`. When every target that could
 * take a request is at its `maxConnections`, the request waits here, first
 * come first served, until one of them finishes a request; past `timeout`,
 * or with the queue already holding `size`, it gets 503 (nginx Plus answers
 * 502; 503 with Retry-After says "busy, come back", as HAProxy's queue
 * timeout does).
 *
 * The queue only hands out turns: a woken request picks a target through the
 * strategy like any other, and goes back to the front if another request
 * took the slot first.
 */
import type { Platform } from "../platform.ts";

interface Waiter {
  readonly wake: () => void;
}

export class SlotQueue {
  private readonly waiting: Waiter[];

  constructor(
    /** Most requests waiting at once; 0 refuses at once. */
    readonly size: number,
    readonly timeoutMs: number,
    private readonly timer: Platform["timer"],
    /** The queue of the config before, whose waiting requests this one takes over. */
    before?: SlotQueue,
  ) {
    this.waiting = before?.waiting ?? [];
  }

  get length(): number {
    return this.waiting.length;
  }

  /** Whether one more request may wait. */
  get hasRoom(): boolean {
    return this.waiting.length < this.size;
  }

  /**
   * Wait for a slot to free, until `deadline` (platform ms, `now` the time now) or until the
   * client leaves. Resolves true when woken, false otherwise. `front`: a request that was woken
   * and lost its slot keeps its place.
   */
  wait(now: number, deadline: number, signal: AbortSignal, front = false): Promise<boolean> {
    return new Promise((resolve) => {
      let cancelTimer = () => {};
      const done = (woken: boolean) => {
        const i = this.waiting.indexOf(waiter);
        if (i >= 0) this.waiting.splice(i, 1);
        cancelTimer();
        signal.removeEventListener("abort", left);
        resolve(woken);
      };
      const left = () => done(false);
      const waiter: Waiter = { wake: () => done(true) };
      if (signal.aborted || deadline <= now) return resolve(false);
      if (front) this.waiting.unshift(waiter);
      else this.waiting.push(waiter);
      cancelTimer = this.timer(deadline - now, () => done(false));
      signal.addEventListener("abort", left, { once: true });
    });
  }

  /** A slot freed: the first waiting request tries for it. */
  wake(): void {
    this.waiting[0]?.wake();
  }
}
