/**
 * What each server runtime (Bun, Deno, Node) gives the shared start-up: how
 * it reads files, binds a listener, handles signals and starts a worker
 * process. Its entry (src/runtimes/<name>/entry.ts) fills it in.
 */
import type { Config } from "../../config/schema.ts";
import type { Platform } from "../../platform.ts";
import type { StateOpeners } from "../../state/open.ts";
import type { BootListener, Bound, Handler } from "./listeners.ts";

export type ServerSignal = "SIGTERM" | "SIGINT" | "SIGHUP" | "SIGUSR2";

export interface ServerRuntime {
  readonly argv: readonly string[];
  readonly readText: (path: string) => Promise<string>;
  readonly platform: Platform;
  readonly stores: StateOpeners;
  readonly exit: (code: number) => never;
  /** This instance's name in the change log (`host:pid`). */
  readonly instance: string;
  /** The parent's pid now (it changes when the parent exits), to follow the launcher that started this one. */
  readonly parentPid?: () => number;
  /** Whether a second port can be bound for the admin API (Deno Deploy serves one). Default true. */
  readonly secondPort?: boolean;
  /**
   * Bind one listener; throws or rejects with the OS's error when it cannot. `shared`: the host's
   * other workers bind the same port (SO_REUSEPORT, or node:cluster's shared handle).
   */
  bind(listener: BootListener, handler: Handler, config: Config, shared: boolean): Bound | Promise<Bound>;
  onSignal(signal: ServerSignal, handler: () => void): void;
  /** The CPUs this process may run on (`os.availableParallelism()`), for `--workers auto`. */
  readonly cpus?: () => number;
  /** How this runtime starts one worker process (`--workers`); absent where it cannot, and `--workers` is refused. */
  readonly spawnWorker?: SpawnWorker;
}

/** One worker process as the runtime started it. */
export interface WorkerProcess {
  readonly pid: number;
  kill(signal: "SIGTERM" | "SIGKILL"): void;
  /** Resolves when it has exited, with how. */
  readonly exited: Promise<{ readonly code: number | null; readonly signal: string | null }>;
}

/**
 * Start one worker with these extra environment variables (how is the runtime's: a child process,
 * node:cluster); `code`: the bundle it runs instead of the one the host started with (after a
 * rolling restart rebuilt it, on Node and Deno).
 */
export type SpawnWorker = (env: Readonly<Record<string, string>>, code?: string) => WorkerProcess;
