/**
 * The primary's worker processes (`--workers N`), nginx's master process in
 * small: it starts N workers and waits until each is serving; restarts one
 * that dies (logged, counted, backing off while it keeps dying, as systemd's
 * `RestartSec` and HAProxy's master do); replaces them one by one on request
 * (`fulcrum restart`, SIGUSR2: nginx's binary upgrade signal), a new worker
 * serving before the one it replaces stops accepting, so no connection is
 * refused; and on shutdown passes SIGTERM on and waits for every worker's
 * graceful exit.
 */
import type { WorkerInfo } from "../../../metrics/export.ts";
import type { SpawnWorker, WorkerProcess } from "../runtime.ts";

export interface SupervisorOptions {
  readonly count: number;
  readonly spawn: SpawnWorker;
  /** Calls `cb` once the worker started with `serial` is serving (the hub hears it); may return how to stop waiting. */
  readonly onReady: (serial: number, cb: () => void) => (() => void) | void;
  readonly log: (line: string) => void;
  /** Before a rolling restart: rebuild what the workers run (the Node and Deno bundles); resolves with the new bundle, rejects with why it cannot. */
  readonly rebuild?: () => Promise<string>;
  /**
   * Before a replaced worker is told to stop: ask it to send its clients away (each response then
   * closes its connection); it stops `retireMs` later.
   */
  readonly retire?: (serial: number) => Promise<unknown>;
  readonly retireMs?: number;
  /** How long a new worker may take to be serving. Default 30 s. */
  readonly startTimeoutMs?: number;
}

interface Running {
  readonly serial: number;
  readonly process: WorkerProcess;
  readonly startedAt: number;
  /** Replaced or stopping: its exit is expected. */
  leaving: boolean;
}

interface Slot {
  readonly index: number;
  current: Running | undefined;
  crashes: number;
  /** The wait before the next restart after a crash; doubles while the worker keeps dying young. */
  backoffMs: number;
}

/** A worker that lived at least this long had not been crash looping. */
const STABLE_MS = 10_000;
const MIN_BACKOFF_MS = 250;
const MAX_BACKOFF_MS = 30_000;

export class Supervisor {
  private readonly slots: Slot[];
  private serial = 0;
  private stopping = false;
  /** The bundle workers run since the last complete rolling restart (undefined: the one the host started with). */
  private code: string | undefined;
  /** Every process started and not yet exited, in a slot or not (one still starting, one being replaced). */
  private readonly alive = new Set<Running>();
  private rolling: Promise<string> | undefined;
  private rollingRestarts = 0;

  constructor(private readonly o: SupervisorOptions) {
    this.slots = Array.from({ length: o.count }, (_, i) => ({ index: i + 1, current: undefined, crashes: 0, backoffMs: 0 }));
  }

  /** Start every worker; resolves when all serve, rejects (having stopped the others) when one cannot start. */
  async start(): Promise<void> {
    const started = await Promise.allSettled(this.slots.map(async (slot) => (slot.current = await this.launch(slot))));
    const failed = started.find((s): s is PromiseRejectedResult => s.status === "rejected");
    if (!failed) return;
    await this.stop();
    throw failed.reason;
  }

  workers(): WorkerInfo[] {
    return this.slots.flatMap((s) => (s.current ? [{ slot: s.index, pid: s.current.process.pid, startedAt: s.current.startedAt, crashes: s.crashes }] : []));
  }

  /** Rolling restarts completed since start. */
  get restarts(): number {
    return this.rollingRestarts;
  }

  /**
   * Replace every worker, one slot at a time: the new one serves before the old one is told to
   * stop (SIGTERM: it stops accepting and finishes what it has, per `shutdown`). A new worker
   * that cannot start ends the restart there, the old ones still serving. One restart at a time.
   */
  restart(by: string): Promise<string> {
    if (this.rolling) return this.rolling;
    this.rolling = this.roll(by).finally(() => (this.rolling = undefined));
    return this.rolling;
  }

  /** SIGTERM to every worker; resolves when all have exited (SIGKILL to those still there after `deadlineMs`). */
  async stop(deadlineMs = 60_000): Promise<void> {
    this.stopping = true;
    // Every process, also one still starting or being replaced: a launch that resolves after this is killed there.
    const running = [...this.alive];
    for (const r of running) {
      r.leaving = true;
      r.process.kill("SIGTERM");
    }
    const kill = setTimeout(() => running.forEach((r) => r.process.kill("SIGKILL")), deadlineMs);
    await Promise.all(running.map((r) => r.process.exited));
    clearTimeout(kill);
  }

  private async roll(by: string): Promise<string> {
    this.o.log(`workers: rolling restart asked by ${by}`);
    let code = this.code;
    if (this.o.rebuild) {
      try {
        code = await this.o.rebuild();
      } catch (error) {
        throw new Error(`the workers' code could not be rebuilt, nothing restarted: ${(error as Error).message}`);
      }
    }
    for (const slot of this.slots) {
      if (this.stopping) throw new Error("the balancer is shutting down; the restart stopped");
      const old = slot.current;
      let fresh: Running;
      try {
        fresh = await this.launch(slot, code);
      } catch (error) {
        if (this.stopping) throw new Error("the balancer is shutting down; the restart stopped");
        // Workers that die from now on come back on the code the host ran before (this.code).
        throw new Error(
          `worker ${slot.index}: its replacement did not start (${(error as Error).message}); ${slot.index - 1} of ${this.slots.length} replaced`,
        );
      }
      // A crash meanwhile may have put another worker in the slot: this one replaces that one too.
      for (const leaving of new Set([old, slot.current])) {
        if (!leaving || leaving === fresh) continue;
        leaving.leaving = true;
        void this.stopGently(leaving);
      }
      slot.current = fresh;
    }
    this.code = code;
    this.rollingRestarts++;
    const line = `restarted ${this.slots.length} worker(s) one by one`;
    this.o.log(`workers: ${line}`);
    return line;
  }

  /** A replaced worker: its clients are sent away first (Connection: close), then it stops accepting and drains. */
  private async stopGently(r: Running): Promise<void> {
    if (this.o.retire) {
      await this.o.retire(r.serial).catch(() => {});
      await new Promise((done) => setTimeout(done, this.o.retireMs ?? 1000));
    }
    r.process.kill("SIGTERM");
  }

  /** Start a worker for `slot`; resolves once it serves, rejects if it exits or times out first. */
  private launch(slot: Slot, code = this.code): Promise<Running> {
    const serial = ++this.serial;
    const process = this.o.spawn({ FULCRUM_WORKER_SLOT: String(slot.index), FULCRUM_WORKER_SERIAL: String(serial) }, code);
    const running: Running = { serial, process, startedAt: Date.now(), leaving: false };
    this.alive.add(running);
    void process.exited.then((how) => {
      this.alive.delete(running);
      this.exited(slot, running, how);
    });
    return new Promise<Running>((resolve, reject) => {
      const timeoutMs = this.o.startTimeoutMs ?? 30_000;
      const timer = setTimeout(() => {
        forget?.();
        running.leaving = true;
        process.kill("SIGKILL");
        reject(new Error(`not serving after ${timeoutMs / 1000} s`));
      }, timeoutMs);
      const forget = this.o.onReady(serial, () => {
        clearTimeout(timer);
        if (!this.stopping) return resolve(running);
        running.leaving = true;
        process.kill("SIGTERM");
        reject(new Error("shutting down"));
      });
      void process.exited.then((how) => {
        clearTimeout(timer);
        forget?.();
        reject(new Error(`exited before serving (${describeExit(how)})`));
      });
    });
  }

  private exited(slot: Slot, running: Running, how: { code: number | null; signal: string | null }): void {
    if (running.leaving || this.stopping || slot.current !== running) return;
    slot.current = undefined;
    this.crashed(slot, Date.now() - running.startedAt, `worker ${slot.index} (pid ${running.process.pid}) ${describeExit(how)}`);
  }

  /** Count the crash and start the slot's worker again, at once after a long life, later while it keeps dying young. */
  private crashed(slot: Slot, livedMs: number, what: string): void {
    slot.crashes++;
    slot.backoffMs = livedMs >= STABLE_MS ? 0 : Math.min(MAX_BACKOFF_MS, Math.max(MIN_BACKOFF_MS, slot.backoffMs * 2));
    this.o.log(`workers: ${what}; starting another${slot.backoffMs ? ` in ${slot.backoffMs / 1000} s` : ""}`);
    setTimeout(() => {
      if (this.stopping || slot.current) return;
      this.launch(slot).then(
        (fresh) => {
          // A rolling restart filled the slot meanwhile: this one is not needed.
          if (!slot.current) return void (slot.current = fresh);
          fresh.leaving = true;
          fresh.process.kill("SIGTERM");
        },
        (error: unknown) => void (this.stopping || this.crashed(slot, 0, `worker ${slot.index} did not start again (${(error as Error).message})`)),
      );
    }, slot.backoffMs);
  }
}

function describeExit(how: { code: number | null; signal: string | null }): string {
  return how.signal ? `was killed by ${how.signal}` : `exited with code ${how.code}`;
}
