/**
 * A worker process of a host (`--workers`): the same entry as a balancer
 * serving alone, started by the host's primary with the way back to it in
 * its environment. It serves the traffic listeners, sharing each port with
 * the other workers (SO_REUSEPORT on Bun and Deno, node:cluster on Node);
 * its state store is the primary's, reached over the channel, so the host's
 * workers probe each target once per interval between them, share passive
 * failures and overrides, and follow one another's reloads. It answers the
 * primary's requests for its metrics, and shuts down gracefully when told
 * (SIGTERM) or when the primary is gone.
 */
import { connect } from "node:net";
import type { BalancerApp } from "../../../app/balancer.ts";
import { exportMetrics, type HostView } from "../../../metrics/export.ts";
import type { HostWorkers } from "../../../app/host.ts";
import { RemoteStateStore } from "../../../state/remote.ts";
import { parseEntryArgs } from "../args.ts";
import type { ConfigSource, LoadedConfig } from "../../../app/config-source.ts";
import { AdminError } from "../../../admin/ops.ts";
import type { ReloadResult } from "../../../admin/api-schema.ts";
import { ConfigError } from "../../../config/load.ts";
import { boot, loadConfigText } from "../boot.ts";
import type { ServerRuntime } from "../runtime.ts";
import { handleSignals, serveListeners } from "../serving.ts";
import { Channel } from "./channel.ts";
import { ELSEWHERE_PUSH, INFLIGHT_PUSH } from "./hub.ts";
import { applyElsewhere, INFLIGHT_SHARE_MS, type InflightReport, inflightReport } from "../../../pool/elsewhere.ts";
import type { Balancer } from "../../../app/balancer.ts";

/** Report this worker's in-flight counts to the primary, and apply the other workers' (pool/elsewhere.ts). */
function shareInflight(channel: Channel, balancer: Balancer): void {
  let last = "{}";
  const timer = setInterval(() => {
    const report = inflightReport(balancer.current.groups.values());
    const text = JSON.stringify(report);
    if (text === last) return;
    last = text;
    channel.push(INFLIGHT_PUSH, report);
  }, INFLIGHT_SHARE_MS);
  (timer as { unref?: () => void }).unref?.();
  channel.onClose(() => clearInterval(timer));
  channel.onPush(ELSEWHERE_PUSH, (others) => applyElsewhere(balancer.current.groups.values(), others as InflightReport));
}

/** How long a worker that has stopped accepting stays to decline connections already on their way to it. */
const EXIT_LINGER_MS = 300;

/** Where a worker finds its primary, from the environment the primary gave it. */
export interface WorkerEnv {
  readonly port: number;
  readonly token: string;
  readonly serial: number;
  readonly slot: number;
}

export function workerEnvOf(env: Readonly<Record<string, unknown>>): WorkerEnv | undefined {
  const serial = Number(env.FULCRUM_WORKER_SERIAL);
  if (!Number.isInteger(serial) || serial <= 0) return undefined;
  return { serial, slot: Number(env.FULCRUM_WORKER_SLOT), port: Number(env.FULCRUM_WORKER_HUB), token: String(env.FULCRUM_WORKER_TOKEN ?? "") };
}

function connectToPrimary(w: WorkerEnv, pid: number): Promise<Channel> {
  return new Promise((resolve, reject) => {
    const socket = connect(w.port, "127.0.0.1");
    socket.once("error", reject);
    socket.once("connect", () => {
      socket.off("error", reject);
      const channel = new Channel(socket);
      channel.request("hello", { token: w.token, serial: w.serial, slot: w.slot, pid }).then(() => resolve(channel), reject);
    });
  });
}

export async function runWorker(rt: ServerRuntime, w: WorkerEnv): Promise<BalancerApp> {
  const log = (line: string) => console.error(line);
  const pid = Number(rt.instance.split(":").pop());
  let channel: Channel;
  try {
    channel = await connectToPrimary(w, pid);
  } catch (error) {
    log(`fulcrum: worker ${w.slot}: cannot reach the primary process: ${(error as Error).message}`);
    return rt.exit(1);
  }
  const args = parseEntryArgs(rt.argv, rt.platform.env as Record<string, string | undefined>);
  // The host's config is the primary's: a worker started later (a replacement) takes the same, whatever the file says now.
  const source: ConfigSource = {
    location: args.config,
    shared: false,
    read: async () => loadConfigText(((await channel.request("host.config")) as { text: string }).text, args.config, args.port),
  };
  let loaded: LoadedConfig;
  try {
    loaded = await source.read();
  } catch (error) {
    log(error instanceof ConfigError ? error.message : `fulcrum: worker ${w.slot}: ${(error as Error).message}`);
    return rt.exit(1);
  }
  const store = new RemoteStateStore(channel);
  const host: HostWorkers = {
    view: () => channel.request("host.view") as Promise<HostView>,
    // A rolling restart replaces this worker too: it answers before this one stops.
    restart: (by) => channel.request("host.restart", { by }, 600_000) as Promise<string>,
    reload: (by) =>
      (channel.request("host.reload", { by }, 120_000) as Promise<ReloadResult>).catch((error: unknown) => {
        throw new AdminError(422, (error as Error).message);
      }),
  };
  const { app } = await boot({ args, loaded }, rt.readText, rt.platform, rt.exit, {
    workers: host,
    store: () => Promise.resolve(store),
    source,
    secondPort: rt.secondPort ?? true,
    instance: rt.instance,
  });
  const balancer = app.balancer;
  // Exit a moment after the listeners have closed, so that a connection already on its way to this
  // worker (accepted by the kernel, or handed over by node:cluster) is answered or declined rather
  // than dropped with the process.
  const { shutdown } = await serveListeners(rt, balancer, {
    only: "traffic",
    shared: true,
    exit: (code) => void setTimeout(() => rt.exit(code), EXIT_LINGER_MS),
  });
  channel.onRequest(async (op, a) => {
    if (op === "retire") return void (balancer.closingConnections = true);
    if (op === "metrics.export") return exportMetrics(balancer.metrics, balancer.healthProvider(), rt.instance, rt.platform.clientConnections?.());
    if (op === "reload") {
      // The primary's text: the host serves one config.
      const { text, by } = a as { text: string; by: string };
      try {
        const r = await balancer.reload(by, { config: await loadConfigText(text, args.config, args.port), fromOtherInstance: true });
        return r.message;
      } catch (error) {
        const problems = error instanceof AdminError && error.problems?.length ? `: ${error.problems.join("; ")}` : "";
        throw new Error(`${(error as Error).message}${problems}`);
      }
    }
    throw new Error(`unknown request ${op}`);
  });
  channel.onClose(() => {
    log(`fulcrum: worker ${w.slot}: the primary process is gone; shutting down`);
    shutdown("SIGTERM");
  });
  shareInflight(channel, balancer);
  balancer.startTimers();
  handleSignals(rt, balancer, shutdown, {
    reload: (by) => host.reload(by).then((r) => r.message),
    usr2: `SIGUSR2 ignored: it is the primary's (the parent of this worker) to replace the workers`,
  });
  await channel.request("ready");
  log(`fulcrum (${rt.platform.runtime}) worker ${w.slot} (pid ${pid}) serving`);
  return app;
}
