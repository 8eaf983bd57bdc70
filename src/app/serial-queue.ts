/**
 * Generation builds (reloads, target list changes) run one at a time, in the
 * order asked. Idle, a job runs at once, so that no request waits on a promise
 * of another one: on Workers a request's promises end with it, and one chained
 * on them would never settle.
 */
export class SerialQueue {
  private tail: Promise<unknown> = Promise.resolve();
  /** Jobs queued or running. */
  private jobs = 0;

  run<T>(work: () => Promise<T>): Promise<T> {
    const run = this.jobs === 0 ? work() : this.tail.then(work, work);
    this.jobs++;
    this.tail = run.catch(() => {}).finally(() => void this.jobs--);
    return run;
  }

  get busy(): boolean {
    return this.jobs > 0;
  }

  /** Resolves when the jobs asked for so far are done. */
  settled(): Promise<void> {
    return this.tail.then(() => {}, () => {});
  }
}
