/**
 * Flags (and BENCH_* environment variables, flags win) for `npm run bench`.
 * `--quick` is for developing the harness: one short round, and the report
 * goes to a temp file instead of BENCHMARKS.md unless `--out` says otherwise.
 */
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface Options {
  readonly quick: boolean;
  readonly rounds: number;
  readonly durationS: number;
  readonly warmupS: number;
  readonly threads: number;
  readonly connections: number;
  /** Uneven backends (harness/uneven.ts): offered load, connections, seconds. */
  readonly uneven: boolean;
  readonly unevenRate: number;
  readonly unevenConnections: number;
  readonly unevenWarmupS: number;
  readonly unevenS: number;
  /** Streaming (harness/streaming.ts): the large body's size. */
  readonly streaming: boolean;
  readonly streamingMiB: number;
  /** Many keep-alive clients (harness/connections.ts). */
  readonly connectionsPhase: boolean;
  readonly connectionCounts: readonly number[];
  readonly connectionsRate: number;
  readonly connectionsWarmupS: number;
  readonly connectionsS: number;
  readonly profileS: number;
  /** Profile even when every bar is met; `--no-profile` never profiles. */
  readonly profile: "auto" | "always" | "never";
  readonly micro: boolean;
  /** Fulcrum with 1 and 2 worker processes beside nginx with 2 (harness/workers.ts). */
  readonly workers: boolean;
  /** Only contestants whose name contains one of these (case-insensitive); empty = all. */
  readonly only: readonly string[];
  readonly out: string;
  readonly deadlineS: number;
  readonly balancerCpu: string;
  readonly loadCpu: string;
  /** The flags as given, for the report. */
  readonly argvShown: string;
}

export const USAGE = `usage: bun test/bench/run.ts [--quick] [--rounds N] [--duration S] [--warmup S] [--connections N]
    [--only name,name] [--no-micro] [--no-uneven] [--no-streaming] [--streaming-mib N] [--no-connections]
    [--no-workers] [--profile | --no-profile] [--out FILE] [--deadline S]
env: BENCH_ROUNDS, BENCH_DURATION, BENCH_WARMUP, BENCH_CONNECTIONS, BENCH_DEADLINE, BENCH_CPU_BALANCER (0), BENCH_CPU_LOAD (1)`;

const KNOWN = [
  "quick",
  "rounds",
  "duration",
  "warmup",
  "connections",
  "only",
  "no-micro",
  "no-uneven",
  "no-streaming",
  "streaming-mib",
  "no-connections",
  "no-workers",
  "profile",
  "no-profile",
  "out",
  "deadline",
  "help",
];

/** Whether `--only` lets the contestant of this name run. */
export function wanted(o: Pick<Options, "only">, name: string): boolean {
  return o.only.length === 0 || o.only.some((s) => name.toLowerCase().includes(s));
}

export function parseOptions(argv: readonly string[], env: Record<string, string | undefined>, root: string): Options {
  const flags = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const m = /^--([a-z-]+)(?:=(.*))?$/.exec(a);
    if (!m) throw new Error(`unknown argument ${JSON.stringify(a)}\n${USAGE}`);
    if (!KNOWN.includes(m[1]!)) throw new Error(`unknown flag --${m[1]}\n${USAGE}`);
    const boolean = ["quick", "no-micro", "no-uneven", "no-streaming", "no-connections", "no-workers", "profile", "no-profile", "help"].includes(m[1]!);
    const value = boolean ? "1" : (m[2] ?? argv[++i]);
    if (value === undefined) throw new Error(`--${m[1]} needs a value\n${USAGE}`);
    flags.set(m[1]!, value);
  }
  if (flags.has("help")) throw new Error(USAGE);
  const quick = flags.has("quick");
  const num = (flag: string, envName: string | undefined, fallback: number): number => {
    const raw = flags.get(flag) ?? (envName ? env[envName] : undefined);
    if (raw === undefined) return fallback;
    const n = Number(raw);
    if (!(Number.isFinite(n) && n > 0)) throw new Error(`--${flag}: expected a positive number, got ${JSON.stringify(raw)}`);
    return n;
  };
  const rounds = Math.round(num("rounds", "BENCH_ROUNDS", quick ? 1 : 3));
  const durationS = Math.round(num("duration", "BENCH_DURATION", quick ? 3 : 10));
  const warmupS = Math.round(num("warmup", "BENCH_WARMUP", quick ? 1 : 3));
  return {
    quick,
    rounds,
    durationS,
    warmupS,
    threads: 1,
    connections: Math.round(num("connections", "BENCH_CONNECTIONS", 64)),
    uneven: !flags.has("no-uneven"),
    unevenRate: 1000,
    unevenConnections: 64,
    unevenWarmupS: quick ? 2 : 5,
    unevenS: quick ? 5 : 20,
    streaming: !flags.has("no-streaming"),
    streamingMiB: num("streaming-mib", undefined, quick ? 256 : 1024),
    connectionsPhase: !flags.has("no-connections"),
    connectionCounts: quick ? [1000] : [1000, 10_000],
    connectionsRate: 2000,
    connectionsWarmupS: quick ? 1 : 3,
    connectionsS: quick ? 3 : 10,
    profileS: quick ? 3 : 8,
    profile: flags.has("no-profile") ? "never" : flags.has("profile") ? "always" : "auto",
    micro: !flags.has("no-micro"),
    workers: !flags.has("no-workers"),
    only: (flags.get("only") ?? "").split(",").map((s) => s.trim().toLowerCase()).filter((s) => s !== ""),
    out: flags.get("out") ?? (quick ? join(tmpdir(), "BENCHMARKS.quick.md") : join(root, "BENCHMARKS.md")),
    deadlineS: num("deadline", "BENCH_DEADLINE", quick ? 900 : 3600),
    balancerCpu: env.BENCH_CPU_BALANCER ?? "0",
    loadCpu: env.BENCH_CPU_LOAD ?? "1",
    argvShown: argv.length ? ` ${argv.join(" ")}` : "",
  };
}
