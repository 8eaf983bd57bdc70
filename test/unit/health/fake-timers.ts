/** A manual clock for the prober: timers fire only when `advance` moves time past them. */
export class FakeTimers {
  now = 0;
  private seq = 0;
  private queue: Array<{ id: number; at: number; fn: () => void }> = [];

  readonly timers = {
    setTimeout: (fn: () => void, ms: number): unknown => {
      const id = ++this.seq;
      this.queue.push({ id, at: this.now + Math.max(0, ms), fn });
      return id;
    },
    clearTimeout: (handle: unknown): void => {
      this.queue = this.queue.filter((t) => t.id !== handle);
    },
  };

  get pending(): number {
    return this.queue.length;
  }

  /** Let promise chains (fetch, body reads, callbacks) run to completion. */
  async flush(): Promise<void> {
    for (let k = 0; k < 5; k++) await new Promise((r) => setImmediate(r));
  }

  async advance(ms: number): Promise<void> {
    const end = this.now + ms;
    await this.flush();
    for (;;) {
      let next: (typeof this.queue)[number] | undefined;
      for (const t of this.queue) if (t.at <= end && (!next || t.at < next.at || (t.at === next.at && t.id < next.id))) next = t;
      if (!next) break;
      this.queue = this.queue.filter((t) => t !== next);
      this.now = next.at;
      next.fn();
      await this.flush();
    }
    this.now = end;
    await this.flush();
  }
}
