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
 * took the slot first. A request that leaves (its timeout, its client gone)
 * is only marked, and skipped when its turn comes, so that leaving costs
 * nothing however long the queue.
 */
import type { Platform } from "../platform.ts";

interface Waiter {
  live: boolean;
  /** `true`: its turn; `false`: the queue closed. */
  readonly end: (turn: boolean) => void;
}

/** The waiting requests, kept when a reload gives the group a queue of another size. */
class Line {
  readonly items: Waiter[] = [];
  head = 0;
  /** Woken requests that lost their slot to another: served before `items`. */
  readonly front: Waiter[] = [];
  live = 0;
  closed = false;

  next(): Waiter | undefined {
    while (this.front.length > 0) {
      const w = this.front.pop()!;
      if (w.live) return w;
    }
    while (this.head < this.items.length) {
      const w = this.items[this.head++]!;
      if (w.live) {
        if (this.head > 1024 && this.head * 2 > this.items.length) {
          this.items.splice(0, this.head);
          this.head = 0;
        }
        return w;
      }
    }
    return undefined;
  }
}

export class SlotQueue {
  private readonly line: Line;

  constructor(
    /** Most requests waiting at once; 0 refuses at once. */
    readonly size: number,
    readonly timeoutMs: number,
    private readonly timer: Platform["timer"],
    /** The queue of the config before, whose waiting requests this one takes over. */
    before?: SlotQueue,
  ) {
    this.line = before?.line ?? new Line();
  }

  get length(): number {
    return this.line.live;
  }

  /** Whether one more request may wait. */
  get hasRoom(): boolean {
    return this.line.live < this.size && !this.line.closed;
  }

  /**
   * Wait for a slot to free, until `deadline` (platform ms, `now` the time now) or until the
   * client leaves. Resolves true when it is this request's turn, false otherwise. `front`: a
   * request that was woken and lost its slot keeps its place.
   */
  wait(now: number, deadline: number, signal: AbortSignal, front = false): Promise<boolean> {
    const line = this.line;
    if (signal.aborted || deadline <= now || line.closed) return Promise.resolve(false);
    return new Promise((resolve) => {
      const waiter: Waiter = {
        live: true,
        end: (turn) => {
          if (!waiter.live) return;
          waiter.live = false;
          line.live--;
          cancelTimer();
          signal.removeEventListener("abort", left);
          resolve(turn);
        },
      };
      const left = () => waiter.end(false);
      (front ? line.front : line.items).push(waiter);
      line.live++;
      const cancelTimer = this.timer(deadline - now, left);
      signal.addEventListener("abort", left, { once: true });
    });
  }

  /** A slot freed: the first waiting request tries for it. */
  wake(): void {
    this.line.next()?.end(true);
  }

  /**
   * After `wake`'s request took its target (counted in flight by then): the next one tries too,
   * since several slots may have freed at once. On a timer, so that it runs after the request
   * that was woken has begun.
   */
  wakeNextSoon(): void {
    if (this.line.live > 0) this.timer(0, () => this.wake());
  }

  /** The group no longer has a queue (a reload removed it): every waiting request gets 503 now. */
  close(): void {
    const line = this.line;
    line.closed = true;
    for (let w = line.next(); w !== undefined; w = line.next()) w.end(false);
  }
}
