/**
 * Periodic work of the balancer beside its health checks: the exchanges of
 * shared rate-limit counts (ratelimit/limiters.ts) and the canary decisions
 * (canary/). Each job says itself whether it is due and returns its work;
 * servers ask every tick of a timer, Workers from each request (an isolate
 * has no timers outside a request), which keeps the work alive with
 * `waitUntil`.
 */

/** A job: its work when due (started by the call), or undefined. */
export type BackgroundJob = () => Promise<void> | undefined;

/** How often servers look for due work: well under any interval a job can be given. */
const TICK_MS = 100;

export class Background {
  private timer: ReturnType<typeof setInterval> | undefined;

  constructor(
    private readonly jobs: readonly BackgroundJob[],
    private readonly log: (line: string) => void,
  ) {}

  /** The work that is due now, started; undefined when none is. */
  due(): Promise<void> | undefined {
    const work: Promise<void>[] = [];
    for (const job of this.jobs) {
      const p = job();
      if (p !== undefined) work.push(p);
    }
    if (work.length === 0) return undefined;
    return Promise.all(work).then(
      () => {},
      (error: unknown) => this.log(`background work failed: ${error instanceof Error ? error.message : String(error)}`),
    );
  }

  /** Servers: look for due work on a timer that keeps no process alive. */
  start(): void {
    if (this.timer !== undefined) return;
    this.timer = setInterval(() => void this.due(), TICK_MS);
    (this.timer as unknown as { unref?: () => void }).unref?.();
  }

  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }
}
