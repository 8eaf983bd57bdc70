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

export async function freePort(): Promise<number> {
  return new Promise((ok, fail) => {
    const s = createServer();
    s.once("error", fail);
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => ok(port));
    });
  });
}

export interface Balancer {
  readonly url: string;
  readonly port: number;
  readonly process: ChildProcess;
  output(): string;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

export function writeConfig(config: unknown): string {
  const dir = mkdtempSync(join(tmpdir(), "fulcrum-e2e-"));
  const file = join(dir, "fulcrum.json");
  writeFileSync(file, JSON.stringify(config, null, 2));
  return file;
}

/**
 * `trustCfConnectingIp` (workerd; default true): the scenarios give each simulated client its
 * address in CF-Connecting-IP, as Cloudflare's edge would; a local run believes it only when told.
 */
export async function startBalancer(
  runtime: Runtime,
  config: unknown,
  opts: { port?: number; timeoutMs?: number; trustCfConnectingIp?: boolean; args?: readonly string[] } = {},
): Promise<Balancer> {
  const port = opts.port ?? (await freePort());
  const file = writeConfig(config);
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
    try {
      const r = await fetch(url + health, { signal: AbortSignal.timeout(1000) });
      if (r.status === 200) break;
    } catch {
      // not listening yet
    }
    await Bun.sleep(100);
  }
  return {
    url,
    port,
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
  const file = writeConfig(config);
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
