/**
 * Worker processes on Node through node:cluster: Node 20 has no SO_REUSEPORT
 * (`reusePort` arrived in Node 22.12/23.1), so a worker's `listen` on a
 * traffic port goes through the primary, which holds the one socket and
 * shares it with the workers; each accepts from it (SCHED_NONE: the kernel
 * spreads the connections, BENCHMARKS.md). Each worker runs the same
 * bundle with the same arguments.
 */
import cluster from "node:cluster";
import type { SpawnWorker } from "../server/runtime.ts";

/** The bundle the host started with: what a worker runs until a rolling restart rebuilds it. */
const startedWith = process.argv[1]!;

export const clusterWorkers: SpawnWorker = (env, code) => {
  // Each worker accepts from the shared socket itself: no connection is ever handed to a worker
  // that is closing (round robin's hand-off could lose one then, and its client hung).
  cluster.schedulingPolicy = cluster.SCHED_NONE;
  cluster.setupPrimary({ exec: code ?? startedWith });
  const worker = cluster.fork(env);
  const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) => worker.once("exit", (code, signal) => resolve({ code, signal })));
  return { pid: worker.process.pid ?? 0, kill: (signal) => void worker.process.kill(signal), exited };
};
