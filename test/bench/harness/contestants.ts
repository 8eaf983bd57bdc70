/**
 * The contestants and how each one is started: the peers, Fulcrum on every
 * runtime (through `fulcrum serve` like a user, except on workerd where it is
 * the bundled Worker on bare `workerd serve`), and the naive forwarder on
 * every runtime. Each balancer runs on the balancer core; children inherit
 * the affinity.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { buildWorker } from "../../../src/cli/build.ts";
import { fulcrumConfig, type FulcrumConfigName } from "./configs.ts";
import { descendants, processTree } from "./memory.ts";
import { BACKEND_HEADER, caddyfile, haproxyConf, nginxBalancerConf, type PeerTuning } from "./peers.ts";
import { freePort, start, type Started } from "./processes.ts";
import { workerdBinary } from "./system.ts";
import { bundleNaive, writeWorkerdConfig } from "./workerd.ts";

export type Runtime = "bun" | "deno" | "node" | "workerd";
export const RUNTIMES: readonly Runtime[] = ["bun", "deno", "node", "workerd"];

export type Contestant =
  | { readonly kind: "peer"; readonly name: string; readonly peer: "nginx" | "haproxy" | "caddy"; readonly tuning?: PeerTuning }
  | {
    readonly kind: "fulcrum";
    readonly name: string;
    readonly runtime: Runtime;
    readonly config: FulcrumConfigName;
    /** The target group's strategy instead of the config's own. */
    readonly strategy?: string;
  }
  | { readonly kind: "naive"; readonly name: string; readonly runtime: Runtime }
  /** The JavaScript proxies a TypeScript team would otherwise pick (jspeers/). */
  | { readonly kind: "jspeer"; readonly name: string; readonly runtime: Runtime; readonly script: string };

export interface Env {
  readonly root: string;
  readonly dir: string;
  readonly backends: readonly number[];
  /** `taskset -c` list for the balancer under test. */
  readonly balancerCpu: string;
}

export interface Running {
  readonly contestant: Contestant;
  readonly url: string;
  readonly proc: Started;
  /** The processes whose memory is the balancer's (for `fulcrum serve`: the runtime, not the launcher). */
  runtimePids(): number[];
}

const slug = (s: string) => s.toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-|-$/g, "");

export function fulcrumConfigFile(env: Env, config: FulcrumConfigName, port: number, adminPort?: number, strategy?: string): string {
  const file = join(env.dir, `fulcrum-${config}-${port}.json`);
  const json = fulcrumConfig(config, port, env.backends, adminPort) as { targetGroups: Record<string, Record<string, unknown>> };
  if (strategy) json.targetGroups.app!.strategy = strategy;
  writeFileSync(file, JSON.stringify(json, null, 2));
  return file;
}

export async function startContestant(c: Contestant, env: Env): Promise<Running> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const base = { logDir: env.dir, cpu: env.balancerCpu, cwd: env.root };
  const name = slug(c.name);
  const targets = env.backends.map((p) => `http://127.0.0.1:${p}`).join(",");
  let proc: Started;
  let ownTree = true;
  switch (c.kind) {
    case "peer":
      if (c.peer === "nginx") {
        proc = start(name, "nginx", [
          "-p",
          env.dir,
          "-e",
          join(env.dir, "nginx-lb-startup.log"),
          "-c",
          nginxBalancerConf(env.dir, port, env.backends, 1, c.tuning),
        ], base);
      } else if (c.peer === "haproxy") {
        proc = start(name, "haproxy", ["-db", "-f", haproxyConf(env.dir, port, env.backends, c.tuning)], base);
      } else {
        const home = join(env.dir, "caddy-home");
        proc = start(name, "caddy", ["run", "--config", caddyfile(env.dir, port, env.backends, c.tuning), "--adapter", "caddyfile"], {
          ...base,
          env: { GOMAXPROCS: "1", HOME: home, XDG_DATA_HOME: home, XDG_CONFIG_HOME: home },
        });
      }
      break;
    case "fulcrum": {
      // The admin API on as in production, on a port of its own (Workers have none).
      const config = fulcrumConfigFile(env, c.config, port, c.runtime === "workerd" ? undefined : await freePort(), c.strategy);
      if (c.runtime === "workerd") {
        const bundle = await buildWorker(env.root, config, `bench-${name}`, false);
        const capnp = writeWorkerdConfig(env.dir, name, { bundle, port });
        proc = start(name, workerdBinary(env.root), ["serve", capnp], base);
      } else {
        proc = start(name, "node", [join(env.root, "src/cli/fulcrum.mjs"), "serve", "--config", config, "--runtime", c.runtime, "--port", String(port)], {
          ...base,
          env: { NO_COLOR: "1" },
        });
        ownTree = false;
      }
      break;
    }
    case "naive": {
      const naiveEnv = { NAIVE_TARGETS: targets, NAIVE_PORT: String(port) };
      const dir = join(env.root, "test/bench/harness/naive");
      if (c.runtime === "bun") proc = start(name, join(env.root, "node_modules/.bin/bun"), [join(dir, "bun.ts")], { ...base, env: naiveEnv });
      else if (c.runtime === "deno") {
        proc = start(name, join(env.root, "node_modules/.bin/deno"), ["run", "--quiet", "-A", join(dir, "deno.ts")], { ...base, env: naiveEnv });
      } else if (c.runtime === "node") proc = start(name, "node", [await bundleNaive(env.root, "node", env.dir)], { ...base, env: naiveEnv });
      else {
        const bundle = await bundleNaive(env.root, "workerd", env.dir);
        const capnp = writeWorkerdConfig(env.dir, name, { bundle, port, textBindings: { NAIVE_TARGETS: targets } });
        proc = start(name, workerdBinary(env.root), ["serve", capnp], base);
      }
      break;
    }
    case "jspeer": {
      const peerEnv = { NAIVE_TARGETS: targets, NAIVE_PORT: String(port) };
      const script = join(env.root, "test/bench/harness/jspeers", c.script);
      if (c.runtime === "bun") proc = start(name, join(env.root, "node_modules/.bin/bun"), [script], { ...base, env: peerEnv });
      else if (c.runtime === "deno") proc = start(name, join(env.root, "node_modules/.bin/deno"), ["run", "--quiet", "-A", script], { ...base, env: peerEnv });
      else proc = start(name, "node", [script], { ...base, env: peerEnv });
      break;
    }
  }
  const running: Running = {
    contestant: c,
    url,
    proc,
    runtimePids: () => (ownTree ? processTree(proc.pid) : descendants(proc.pid)),
  };
  await waitReady(running, 90);
  return running;
}

/** Until a request through the balancer reaches a backend (200 with the backend's header). */
async function waitReady(r: Running, timeoutS: number): Promise<void> {
  const deadline = Date.now() + timeoutS * 1000;
  for (;;) {
    if (r.proc.hasExited()) throw new Error(`${r.contestant.name} exited during start-up:\n${r.proc.log().slice(-3000)}`);
    if (Date.now() > deadline) throw new Error(`${r.contestant.name} not ready after ${timeoutS} s:\n${r.proc.log().slice(-3000)}`);
    try {
      const res = await fetch(`${r.url}/`, { signal: AbortSignal.timeout(2000) });
      await res.arrayBuffer();
      if (res.status === 200 && res.headers.get(BACKEND_HEADER)) return;
    } catch {
      // not answering yet
    }
    await Bun.sleep(150);
  }
}

/**
 * Correctness before timing: 30 sequential requests must all be 200 and,
 * between them, reach every backend (the backends echo their port).
 * Returns a problem description, or undefined when correct.
 */
export async function checkReachesAll(r: Running, backends: readonly number[]): Promise<string | undefined> {
  const seen = new Map<string, number>();
  for (let i = 0; i < 30; i++) {
    const res = await fetch(`${r.url}/check?i=${i}`, { signal: AbortSignal.timeout(5000) });
    const body = await res.text();
    const port = res.headers.get(BACKEND_HEADER) ?? "";
    if (res.status !== 200) return `request ${i}: status ${res.status}: ${body.slice(0, 200)}`;
    if (body !== `ok ${port}\n`) return `request ${i}: body ${JSON.stringify(body.slice(0, 100))} does not match ${BACKEND_HEADER}: ${port}`;
    seen.set(port, (seen.get(port) ?? 0) + 1);
  }
  const missing = backends.filter((p) => !seen.has(String(p)));
  if (missing.length) return `never reached backend(s) ${missing.join(", ")}; saw ${JSON.stringify(Object.fromEntries(seen))}`;
  return undefined;
}

export function contestantList(include: (c: Contestant) => boolean, realisticRunnable: boolean): Contestant[] {
  const all: Contestant[] = [
    { kind: "peer", name: "nginx", peer: "nginx" },
    { kind: "peer", name: "HAProxy", peer: "haproxy" },
    { kind: "peer", name: "Caddy", peer: "caddy" },
  ];
  for (const runtime of RUNTIMES) {
    all.push({ kind: "fulcrum", name: `Fulcrum ${runtime} minimal`, runtime, config: "minimal" });
    if (realisticRunnable) all.push({ kind: "fulcrum", name: `Fulcrum ${runtime} realistic`, runtime, config: "realistic" });
    all.push({ kind: "naive", name: `naive ${runtime}`, runtime });
  }
  all.push(
    { kind: "jspeer", name: "Hono proxy bun", runtime: "bun", script: "hono-proxy.ts" },
    { kind: "jspeer", name: "Hono proxy deno", runtime: "deno", script: "hono-proxy.ts" },
    { kind: "jspeer", name: "Fastify reply-from node", runtime: "node", script: "fastify-reply-from.mjs" },
    { kind: "jspeer", name: "http-proxy node", runtime: "node", script: "http-proxy.mjs" },
  );
  return all.filter(include);
}
