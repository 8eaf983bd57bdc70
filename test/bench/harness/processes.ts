/**
 * Every process the benchmark starts goes through here, so that all of them
 * die with the harness: each child leads its own process group (so the
 * `fulcrum serve` launcher's runtime child dies with it), and the groups are
 * killed on normal exit, on errors, on SIGINT/SIGTERM and at the global
 * deadline.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { closeSync, openSync, readFileSync } from "node:fs";
import { join } from "node:path";

export interface Started {
  readonly name: string;
  readonly pid: number;
  readonly child: ChildProcess;
  readonly logFile: string;
  /** Resolves with the exit code (or 128+signal) once the process has exited. */
  readonly exited: Promise<number>;
  hasExited(): boolean;
  log(): string;
  stop(): Promise<void>;
}

const running = new Set<Started>();

export interface SpawnOptions {
  /** CPU list for `taskset -c` (children inherit the affinity). */
  readonly cpu?: string;
  readonly env?: Record<string, string | undefined>;
  readonly cwd?: string;
  /** Directory for the process's stdout+stderr log file. */
  readonly logDir: string;
}

export function start(name: string, cmd: string, args: readonly string[], opts: SpawnOptions): Started {
  const logFile = join(opts.logDir, `${name.replace(/[^A-Za-z0-9_.-]+/g, "_")}.log`);
  const fd = openSync(logFile, "a");
  const argv = opts.cpu === undefined ? [cmd, ...args] : ["taskset", "-c", opts.cpu, cmd, ...args];
  // Output goes to a file, never a pipe: a full pipe would stall a busy server mid-run.
  const child = spawn(argv[0]!, argv.slice(1), {
    cwd: opts.cwd,
    env: { ...process.env, ...opts.env } as NodeJS.ProcessEnv,
    stdio: ["ignore", fd, fd],
    detached: true,
  });
  closeSync(fd);
  let done = false;
  const exited = new Promise<number>((ok) => {
    child.on("exit", (code, signal) => {
      done = true;
      ok(code ?? (signal ? 128 : 1));
    });
    child.on("error", () => {
      done = true;
      ok(127);
    });
  });
  const started: Started = {
    name,
    pid: child.pid ?? -1,
    child,
    logFile,
    exited,
    hasExited: () => done,
    log: () => {
      try {
        return readFileSync(logFile, "utf8");
      } catch {
        return "";
      }
    },
    async stop() {
      running.delete(started);
      if (done) return;
      killGroup(started.pid, "SIGTERM");
      const timer = setTimeout(() => killGroup(started.pid, "SIGKILL"), 3000);
      await exited;
      clearTimeout(timer);
      // The launcher may exit before its runtime child: take the rest of the group down too.
      killGroup(started.pid, "SIGKILL");
    },
  };
  running.add(started);
  return started;
}

function killGroup(pid: number, signal: NodeJS.Signals): void {
  if (pid <= 0) return;
  try {
    process.kill(-pid, signal);
  } catch {
    // already gone
  }
}

export async function stopAll(): Promise<void> {
  await Promise.all([...running].map((p) => p.stop()));
}

/** Synchronous last resort for `exit` handlers, where nothing can be awaited. */
export function killAllNow(): void {
  for (const p of running) killGroup(p.pid, "SIGKILL");
  running.clear();
}

let cleanupInstalled = false;

/** Kill everything on exit, on SIGINT/SIGTERM, on uncaught errors and when `deadlineS` passes. */
export function installCleanup(deadlineS: number): void {
  if (cleanupInstalled) return;
  cleanupInstalled = true;
  process.on("exit", killAllNow);
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    process.on(signal, () => {
      console.error(`\nbench: ${signal}, stopping everything`);
      killAllNow();
      process.exit(130);
    });
  }
  const fail = (e: unknown) => {
    console.error("bench: failed:", e);
    killAllNow();
    process.exit(1);
  };
  process.on("uncaughtException", fail);
  process.on("unhandledRejection", fail);
  const timer = setTimeout(() => {
    console.error(`bench: global deadline of ${deadlineS} s reached, stopping everything`);
    killAllNow();
    process.exit(2);
  }, deadlineS * 1000);
  timer.unref?.();
}

export { freePort } from "../../e2e/launch.ts";
import { freePort } from "../../e2e/launch.ts";

export async function distinctPorts(n: number): Promise<number[]> {
  const ports = new Set<number>();
  while (ports.size < n) ports.add(await freePort());
  return [...ports];
}

/** Until every one of `ports` answers 2xx on `path`; throws with `proc`'s log if it exits or 15 s pass. */
export async function waitAnswering(proc: Started, ports: readonly number[], path = "/"): Promise<void> {
  const deadline = Date.now() + 15_000;
  for (const port of ports) {
    for (;;) {
      if (proc.hasExited()) throw new Error(`${proc.name} exited:\n${proc.log()}`);
      if (Date.now() > deadline) throw new Error(`${proc.name} not answering on ${port}:\n${proc.log()}`);
      const ok = await fetch(`http://127.0.0.1:${port}${path}`, { signal: AbortSignal.timeout(1000) }).then((r) => r.ok, () => false);
      if (ok) break;
      await Bun.sleep(100);
    }
  }
}

/** Run a command to completion, capturing output, bounded in time. */
export async function capture(
  cmd: string,
  args: readonly string[],
  opts: { cpu?: string; timeoutS: number; cwd?: string; env?: Record<string, string | undefined> },
): Promise<{ code: number; stdout: string; stderr: string }> {
  const argv = opts.cpu === undefined ? [cmd, ...args] : ["taskset", "-c", opts.cpu, cmd, ...args];
  return new Promise((ok) => {
    const child = spawn(argv[0]!, argv.slice(1), {
      cwd: opts.cwd,
      env: { ...process.env, ...opts.env } as NodeJS.ProcessEnv,
      stdio: ["ignore", "pipe", "pipe"],
      detached: true,
    });
    const tracked: Started = {
      name: cmd,
      pid: child.pid ?? -1,
      child,
      logFile: "",
      exited: Promise.resolve(0),
      hasExited: () => false,
      log: () => "",
      stop: async () => killGroup(child.pid ?? -1, "SIGKILL"),
    };
    running.add(tracked);
    let stdout = "";
    let stderr = "";
    child.stdout!.on("data", (d) => (stdout += d));
    child.stderr!.on("data", (d) => (stderr += d));
    const timer = setTimeout(() => {
      stderr += `\n(killed after ${opts.timeoutS} s)`;
      killGroup(child.pid ?? -1, "SIGKILL");
    }, opts.timeoutS * 1000);
    const finish = (code: number) => {
      clearTimeout(timer);
      running.delete(tracked);
      ok({ code, stdout, stderr });
    };
    child.on("error", (e) => finish((stderr += e.message, 127)));
    child.on("close", (code, signal) => finish(code ?? (signal ? 128 : 1)));
  });
}
