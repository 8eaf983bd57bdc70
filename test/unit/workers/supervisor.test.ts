/**
 * The primary's supervisor with fake worker processes: it waits for every
 * worker to serve, restarts one that dies (backing off while it keeps dying
 * young), replaces workers one by one and stops when a replacement cannot
 * start, the old ones still serving.
 */
import { describe, expect, test } from "bun:test";
import type { WorkerProcess } from "../../../src/runtimes/server/runtime.ts";
import { Supervisor } from "../../../src/runtimes/server/workers/supervisor.ts";

interface Fake extends WorkerProcess {
  readonly serial: number;
  /** Not exited yet. */
  alive: boolean;
  exit(code: number | null, signal?: string | null): void;
  readonly signals: string[];
}

/** Fake workers: each serves (calls back ready) unless `healthy` says no, and exits when told. */
function host(healthy: (serial: number) => boolean = () => true, startMs = 5, rebuild?: () => Promise<string>) {
  const started: Fake[] = [];
  /** The code each process was started with, by serial. */
  const codes = new Map<number, string | undefined>();
  const ready = new Map<number, () => void>();
  const lines: string[] = [];
  let pid = 100;
  const supervisor = new Supervisor({
    count: 2,
    spawn(env, code) {
      const serial = Number(env.FULCRUM_WORKER_SERIAL);
      codes.set(serial, code);
      let exit!: (how: { code: number | null; signal: string | null }) => void;
      const exited = new Promise<{ code: number | null; signal: string | null }>((r) => (exit = r));
      const signals: string[] = [];
      const fake: Fake = {
        serial,
        pid: pid++,
        alive: true,
        signals,
        exited,
        kill: (s) => {
          signals.push(s);
          fake.alive = false;
          exit({ code: null, signal: s });
        },
        exit: (code, signal = null) => {
          fake.alive = false;
          exit({ code, signal });
        },
      };
      started.push(fake);
      // Serving (or dying) a moment after it starts, as a process would.
      setTimeout(() => (healthy(serial) ? ready.get(serial)?.() : fake.exit(1)), startMs);
      return fake;
    },
    onReady: (serial, cb) => void ready.set(serial, cb),
    log: (line) => lines.push(line),
    startTimeoutMs: 2000,
    ...(rebuild ? { rebuild } : {}),
  });
  return { supervisor, started, lines, codes };
}

describe("worker supervisor", () => {
  test("start resolves once every worker serves", async () => {
    const { supervisor, started } = host();
    await supervisor.start();
    expect(started.length).toBe(2);
    expect(supervisor.workers().map((w) => w.slot)).toEqual([1, 2]);
  });

  test("a worker that dies is started again, logged and counted", async () => {
    const { supervisor, started, lines } = host();
    await supervisor.start();
    started[0]!.exit(null, "SIGKILL");
    await Bun.sleep(400);
    expect(started.length).toBe(3);
    expect(lines.some((l) => /worker 1 \(pid 100\) was killed by SIGKILL; starting another in 0.25 s/.test(l))).toBe(true);
    expect(supervisor.workers().find((w) => w.slot === 1)).toMatchObject({ pid: 102, crashes: 1 });
  });

  test("a worker that keeps dying young is retried later and later", async () => {
    let sick = false;
    const { supervisor, started, lines } = host(() => !sick);
    await supervisor.start();
    sick = true;
    started[1]!.exit(1);
    await Bun.sleep(1000);
    const waits = lines.map((l) => /starting another in ([\d.]+) s/.exec(l)?.[1]).filter(Boolean);
    expect(waits.slice(0, 2)).toEqual(["0.25", "0.5"]);
    await supervisor.stop(100);
  });

  test("a rolling restart replaces each worker after its successor serves", async () => {
    const { supervisor, started } = host();
    await supervisor.start();
    const [first, second] = started as [Fake, Fake];
    expect(await supervisor.restart("test")).toBe("restarted 2 worker(s) one by one");
    expect(first.signals).toEqual(["SIGTERM"]);
    expect(second.signals).toEqual(["SIGTERM"]);
    expect(supervisor.workers().map((w) => w.pid)).toEqual([102, 103]);
    expect(supervisor.restarts).toBe(1);
  });

  test("a replacement that cannot start ends the restart; the old workers keep serving", async () => {
    const { supervisor, started } = host((serial) => serial !== 4);
    await supervisor.start();
    await expect(supervisor.restart("test")).rejects.toThrow(
      "worker 2: its replacement did not start (exited before serving (exited with code 1)); 1 of 2 replaced",
    );
    // Slot 1 was replaced (serial 3), slot 2 still has its first worker.
    expect(supervisor.workers().map((w) => w.pid)).toEqual([102, 101]);
    expect(started[1]!.signals).toEqual([]);
  });

  test("stop sends SIGTERM to every worker and resolves when they have exited", async () => {
    const { supervisor, started } = host();
    await supervisor.start();
    await supervisor.stop(1000);
    expect(started.map((w) => w.signals)).toEqual([["SIGTERM"], ["SIGTERM"]]);
  });

  test("a worker that dies while another is being replaced: every process running is one the supervisor knows", async () => {
    const { supervisor, started } = host(() => true, 300);
    await supervisor.start();
    const restarted = supervisor.restart("test");
    await Bun.sleep(10);
    started[1]!.exit(1);
    await restarted;
    await Bun.sleep(600);
    const alive = started.filter((f) => f.alive).map((f) => f.pid).sort();
    expect(supervisor.workers().map((w) => w.pid).sort()).toEqual(alive);
    expect(alive.length).toBe(2);
    await supervisor.stop(100);
    expect(started.filter((f) => f.alive)).toEqual([]);
  });

  test("stop during a rolling restart leaves no process behind", async () => {
    const { supervisor, started } = host(() => true, 200);
    await supervisor.start();
    const restarted = supervisor.restart("test").catch((e: Error) => e.message);
    await Bun.sleep(50);
    await supervisor.stop(100);
    expect(await restarted).toContain("shutting down");
    await Bun.sleep(300);
    expect(started.filter((f) => f.alive)).toEqual([]);
  });

  test("a start that fails for one worker stops the others, also one still starting", async () => {
    const { supervisor, started } = host((serial) => serial !== 1, 150);
    await expect(supervisor.start()).rejects.toThrow("exited before serving");
    await Bun.sleep(300);
    expect(started.filter((f) => f.alive)).toEqual([]);
  });

  test("a restart's rebuilt code is what replacements run, also later crashes; a failed restart keeps the code before it", async () => {
    let build = 1;
    const { supervisor, started, codes } = host((serial) => serial !== 7, 5, async () => `bundle-${++build}`);
    await supervisor.start();
    await supervisor.restart("test");
    expect([codes.get(3), codes.get(4)]).toEqual(["bundle-2", "bundle-2"]);
    started[2]!.exit(null, "SIGKILL");
    await Bun.sleep(350);
    expect(codes.get(5)).toBe("bundle-2");
    // Serial 7 (slot 2's replacement) cannot start: slot 1 runs bundle-3, and what dies comes back on bundle-2.
    await expect(supervisor.restart("test")).rejects.toThrow("worker 2: its replacement did not start");
    expect(codes.get(6)).toBe("bundle-3");
    started.find((f) => f.serial === 6)!.exit(1);
    // Slot 1's second crash in a short life: started again after 0.5 s.
    await Bun.sleep(700);
    expect(codes.get(8)).toBe("bundle-2");
    await supervisor.stop(100);
  });
});
