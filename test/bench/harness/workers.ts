/**
 * Every core (`--workers`): Fulcrum with 1 and 2 worker processes on each
 * server runtime, beside nginx with `worker_processes 2`, realistic config,
 * rounds interleaved. Nothing is pinned here: the balancer may use both cores,
 * and wrk (one thread) and the backends share them, so req/s shows what two
 * workers gain on a machine whose load generator competes with them, not what
 * they would do on cores of their own. CPU time per request (every process of
 * the balancer: primary and workers) does not depend on that, and is what the
 * estimate for larger machines is made from.
 */
import { join } from "node:path";
import { type Env, fulcrumConfigFile } from "./contestants.ts";
import { cpuSeconds } from "./cpu.ts";
import { descendants, processTree } from "./memory.ts";
import type { Options } from "./options.ts";
import { BACKEND_HEADER, nginxBalancerConf } from "./peers.ts";
import { freePort, start, type Started } from "./processes.ts";
import { runWrk } from "./wrk.ts";

export interface WorkersRow {
  readonly name: string;
  /** Processes serving traffic (nginx workers, Fulcrum workers; Fulcrum's primary also runs). */
  readonly workers: number;
  readonly rps: number;
  readonly p99: number;
  readonly cpuUsPerRequest: number;
  readonly errors: number;
}

interface Entry {
  readonly name: string;
  readonly workers: number;
  readonly url: string;
  readonly proc: Started;
  readonly pids: () => number[];
}

const median = (xs: readonly number[]) => {
  const s = [...xs].filter(Number.isFinite).sort((a, b) => a - b);
  return s.length === 0 ? NaN : s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

async function ready(url: string, proc: Started): Promise<void> {
  const deadline = Date.now() + 90_000;
  for (;;) {
    if (proc.hasExited()) throw new Error(`exited during start-up:\n${proc.log().slice(-2000)}`);
    if (Date.now() > deadline) throw new Error(`not ready after 90 s:\n${proc.log().slice(-2000)}`);
    const ok = await fetch(`${url}/`, { signal: AbortSignal.timeout(2000) }).then(
      async (r) => (await r.arrayBuffer(), r.headers.has(BACKEND_HEADER)),
      () => false,
    );
    if (ok) return;
    await Bun.sleep(150);
  }
}

async function startEntries(env: Env, say: (line: string) => void): Promise<Entry[]> {
  const entries: Entry[] = [];
  const port = await freePort();
  const nginx = start("nginx-2-workers", "nginx", [
    "-p",
    env.dir,
    "-e",
    join(env.dir, "nginx-2w-startup.log"),
    "-c",
    nginxBalancerConf(env.dir, port, env.backends, 2),
  ], {
    logDir: env.dir,
  });
  entries.push({ name: "nginx, worker_processes 2", workers: 2, url: `http://127.0.0.1:${port}`, proc: nginx, pids: () => processTree(nginx.pid) });
  for (const runtime of ["bun", "deno", "node"] as const) {
    for (const workers of [1, 2]) {
      const p = await freePort();
      const config = fulcrumConfigFile(env, "realistic", p, await freePort());
      const name = `Fulcrum ${runtime}, --workers ${workers}`;
      const proc = start(
        `fulcrum-${runtime}-${workers}w`,
        "node",
        [join(env.root, "src/cli/fulcrum.mjs"), "serve", "--config", config, "--runtime", runtime, "--port", String(p), "--workers", String(workers)],
        { logDir: env.dir, cwd: env.root, env: { NO_COLOR: "1" } },
      );
      entries.push({ name, workers, url: `http://127.0.0.1:${p}`, proc, pids: () => descendants(proc.pid) });
    }
  }
  for (const e of entries) {
    try {
      await ready(e.url, e.proc);
    } catch (error) {
      say(`workers: ${e.name} ${(error as Error).message.slice(0, 500)}`);
    }
  }
  return entries.filter((e) => !e.proc.hasExited());
}

export async function measureWorkers(env: Env, o: Options, ticks: number, say: (line: string) => void): Promise<WorkersRow[]> {
  const entries = await startEntries(env, say);
  const samples = new Map<Entry, { rps: number; p99: number; cpu: number; errors: number }[]>(entries.map((e) => [e, []]));
  for (let round = 0; round < o.rounds; round++) {
    const order = entries.map((_, i) => entries[(i + round) % entries.length]!);
    for (const e of order) {
      try {
        await runWrk({ url: `${e.url}/`, threads: o.threads, connections: o.connections, durationS: o.warmupS, cpu: undefined });
        const pids = e.pids();
        const before = cpuSeconds(pids, ticks);
        const w = await runWrk({ url: `${e.url}/`, threads: o.threads, connections: o.connections, durationS: o.durationS, cpu: undefined });
        const cpu = w.requests > 0 ? ((cpuSeconds(pids, ticks) - before) * 1e6) / w.requests : NaN;
        samples.get(e)!.push({ rps: w.requestsPerSec, p99: w.p99, cpu, errors: w.errors });
        say(`workers round ${round + 1}/${o.rounds} ${e.name}: ${Math.round(w.requestsPerSec)} req/s, p99 ${w.p99} ms, ${cpu.toFixed(1)} µs CPU/request`);
      } catch (error) {
        say(`workers round ${round + 1} ${e.name}: ${(error as Error).message.slice(0, 300)}`);
      }
    }
  }
  await Promise.all(entries.map((e) => e.proc.stop()));
  return entries.filter((e) => samples.get(e)!.length > 0).map((e) => {
    const s = samples.get(e)!;
    return {
      name: e.name,
      workers: e.workers,
      rps: median(s.map((x) => x.rps)),
      p99: median(s.map((x) => x.p99)),
      cpuUsPerRequest: median(s.map((x) => x.cpu)),
      errors: s.reduce((n, x) => n + x.errors, 0),
    };
  });
}
