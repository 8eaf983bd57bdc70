/**
 * Starts the real balancer the way a user does, `fulcrum serve --config F
 * --runtime R --port P`, waits until its health endpoint answers, and stops it
 * with SIGTERM. Collects its output for failure messages.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

export type Runtime = "bun" | "deno" | "node" | "workerd";
export const RUNTIMES: readonly Runtime[] = ["bun", "deno", "node", "workerd"];
export const ROOT = join(import.meta.dir, "..", "..");

/** Ports handed out in this run: balancers started side by side must not get the same one (the OS may offer it twice once closed). */
const handedOut = new Set<number>();
/**
 * `npm test` runs two halves of the suite at once (test/run.mjs), each with its own set above: one
 * hands out even ports, the other odd ones, so they never give the same port to two balancers.
 */
const half = Number(process.env.FULCRUM_TEST_HALF ?? -1);

/** Bind `port` (0: any) on loopback and let it go again; resolves with the port, rejects when it is taken. */
function probePort(port: number): Promise<number> {
  return new Promise<number>((ok, fail) => {
    const s = createServer();
    s.once("error", fail);
    s.listen(port, "127.0.0.1", () => {
      const got = (s.address() as { port: number }).port;
      s.close(() => ok(got));
    });
  });
}

export async function freePort(): Promise<number> {
  for (;;) {
    let port = await probePort(0);
    // The kernel hands out ports of one parity for bind(0) (Linux prefers even ones): each half takes
    // the system's port or its neighbour, and checks that one is free.
    if (half >= 0 && port % 2 !== half) {
      port ^= 1;
      if (!(await probePort(port).then(() => true, () => false))) continue;
    }
    if (handedOut.has(port)) continue;
    handedOut.add(port);
    return port;
  }
}

export interface Balancer {
  readonly url: string;
  readonly port: number;
  /** The admin API's base URL: its own listener (a free port, unless the config says otherwise), or its path on the traffic listener. */
  readonly adminUrl: string | undefined;
  /** The config file it was started with (edit it, then reload). */
  readonly configFile: string;
  readonly process: ChildProcess;
  output(): string;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/**
 * The config with the admin API on a free loopback port when it says nothing of it: its default,
 * 127.0.0.1:9901, is one per host, and the suite starts many balancers (workerd has no second port,
 * so there it stays off unless the config puts it on a path).
 */
export async function withAdminPort(runtime: Runtime, config: unknown): Promise<{ config: unknown; adminUrl: string | undefined }> {
  const c = config as { admin?: { api?: false | { path?: string; listen?: { port?: number; host?: string } } } };
  const api = c.admin?.api;
  if (api === false) return { config, adminUrl: undefined };
  if (api?.path !== undefined) return { config, adminUrl: api.path };
  if (runtime === "workerd") return { config, adminUrl: undefined };
  if (api?.listen?.port !== undefined) return { config, adminUrl: `http://${api.listen.host ?? "127.0.0.1"}:${api.listen.port}` };
  const port = await freePort();
  const listen = { ...api?.listen, port };
  return { config: { ...c, admin: { ...c.admin, api: { ...api, listen } } }, adminUrl: `http://${listen.host ?? "127.0.0.1"}:${port}` };
}

export function writeConfig(config: unknown): string {
  const dir = mkdtempSync(join(tmpdir(), "fulcrum-e2e-"));
  const file = join(dir, "fulcrum.json");
  writeFileSync(file, JSON.stringify(config, null, 2));
  return file;
}

/**
 * Run the `fulcrum` command as a user does (`node src/cli/fulcrum.mjs ...`), against
 * `admin` (the API's base URL) with `token` in FULCRUM_ADMIN_TOKEN when given.
 */
export async function fulcrumCommand(
  args: readonly string[],
  opts: { admin?: string; token?: string } = {},
): Promise<{ code: number | null; out: string; err: string }> {
  const env: Record<string, string | undefined> = { ...process.env, NO_COLOR: "1", FULCRUM_ADMIN: opts.admin, FULCRUM_ADMIN_TOKEN: opts.token };
  if (opts.admin === undefined) delete env.FULCRUM_ADMIN;
  if (opts.token === undefined) delete env.FULCRUM_ADMIN_TOKEN;
  const child = spawn("node", [join(ROOT, "src/cli/fulcrum.mjs"), ...args], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"], env });
  let out = "";
  let err = "";
  child.stdout!.on("data", (d) => (out += d));
  child.stderr!.on("data", (d) => (err += d));
  const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
  const code = await new Promise<number | null>((ok) => child.on("exit", (c) => ok(c)));
  clearTimeout(timer);
  return { code, out, err };
}

/**
 * `trustCfConnectingIp` (workerd; default true): the scenarios give each simulated client its
 * address in CF-Connecting-IP, as Cloudflare's edge would; a local run believes it only when told.
 */
type StartOptions = { port?: number; timeoutMs?: number; trustCfConnectingIp?: boolean; args?: readonly string[] };

/**
 * A port `freePort` found free can be taken before the balancer binds it (another test's
 * upstream binding port 0 meanwhile): then, and only when the test did not ask for its port,
 * the balancer is started again on another.
 */
export async function startBalancer(runtime: Runtime, config: unknown, opts: StartOptions = {}): Promise<Balancer> {
  for (let tries = 1;; tries++) {
    try {
      return await startBalancerOnce(runtime, config, opts);
    } catch (error) {
      if (opts.port !== undefined || tries >= 3 || !/address already in use/i.test(String(error))) throw error;
    }
  }
}

async function startBalancerOnce(runtime: Runtime, config: unknown, opts: StartOptions): Promise<Balancer> {
  const port = opts.port ?? (await freePort());
  const admin = await withAdminPort(runtime, config);
  const file = writeConfig(admin.config);
  const trust = runtime === "workerd" && (opts.trustCfConnectingIp ?? true) ? ["--trust-cf-connecting-ip"] : [];
  trust.push(...(opts.args ?? []));
  const child = spawn("node", [join(ROOT, "src/cli/fulcrum.mjs"), "serve", "--config", file, "--runtime", runtime, "--port", String(port), ...trust], {
    cwd: ROOT,
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, WRANGLER_SEND_METRICS: "false", CLOUDFLARE_CF_FETCH_ENABLED: "false", WRANGLER_HIDE_BANNER: "true", NO_COLOR: "1" },
  });
  let out = "";
  child.stdout!.on("data", (d) => (out += d));
  child.stderr!.on("data", (d) => (out += d));
  let exited: number | null | undefined;
  const exit = new Promise<number | null>((ok) => child.on("exit", (code) => ok(exited = code)));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + (opts.timeoutMs ?? 60_000);
  const health = (config as { admin?: { healthPath?: string } }).admin?.healthPath ?? "/__fulcrum/health";
  for (;;) {
    if (exited !== undefined) throw new Error(`${runtime} balancer exited with ${exited}:\n${out}`);
    if (Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error(`${runtime} balancer did not become ready:\n${out}`);
    }
    let foreign = false;
    try {
      const r = await fetch(url + health, { signal: AbortSignal.timeout(1000) });
      const body = await r.text();
      if (r.status === 200 && body.includes('"status":"ok"')) break;
      // Another test's server took the port first (it answers any path): not this balancer.
      foreign = r.status !== 200 || !body.includes('"status"');
    } catch {
      // not listening yet
    }
    if (foreign) {
      child.kill("SIGKILL");
      throw new Error(`${runtime} balancer: address already in use by another test's server on port ${port}`);
    }
    await Bun.sleep(100);
  }
  return {
    url,
    port,
    adminUrl: admin.adminUrl?.startsWith("/") ? url + admin.adminUrl : admin.adminUrl,
    configFile: file,
    process: child,
    output: () => out,
    async stop(signal: NodeJS.Signals = "SIGTERM") {
      if (exited !== undefined) return exited;
      child.kill(signal);
      const timer = setTimeout(() => child.kill("SIGKILL"), 15_000);
      const code = await exit;
      clearTimeout(timer);
      return code;
    },
  };
}

/** Peak resident memory (VmHWM, kB) of a process and all its descendants: the runtime sits below the CLI. */
export function peakRssKb(pid: number): number {
  let peak = 0;
  const visit = (p: number) => {
    try {
      const status = readFileSync(`/proc/${p}/status`, "utf8");
      const m = /VmHWM:\s+(\d+)/.exec(status);
      if (m) peak = Math.max(peak, Number(m[1]));
      const children = readFileSync(`/proc/${p}/task/${p}/children`, "utf8").trim();
      for (const c of children.split(/\s+/).filter(Boolean)) visit(Number(c));
    } catch {
      // the process ended meanwhile
    }
  };
  visit(pid);
  return peak;
}

/** `fulcrum serve` that is expected to fail at start: its exit code and everything it printed. */
export async function serveExpectingExit(
  runtime: Runtime,
  config: unknown,
  port: number,
  timeoutMs = 60_000,
): Promise<{ code: number | null; output: string }> {
  const file = writeConfig((await withAdminPort(runtime, config)).config);
  const child = spawn("node", [join(ROOT, "src/cli/fulcrum.mjs"), "serve", "--config", file, "--runtime", runtime, "--port", String(port)], {
    cwd: ROOT,
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, WRANGLER_SEND_METRICS: "false", CLOUDFLARE_CF_FETCH_ENABLED: "false", NO_COLOR: "1" },
  });
  let output = "";
  child.stdout!.on("data", (d) => (output += d));
  child.stderr!.on("data", (d) => (output += d));
  const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
  const code = await new Promise<number | null>((ok) => child.on("exit", (c) => ok(c)));
  clearTimeout(timer);
  return { code, output };
}
