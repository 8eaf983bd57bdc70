/**
 * `fulcrum serve --runtime workerd`: the bundled Worker on workerd through
 * Miniflare's API. Not `wrangler dev`: its local proxy chain buffers
 * responses (a 100 MB download took 19 s and 700 MB of RSS here, against
 * 0.3 s and flat memory on Miniflare) and is not what production runs.
 *
 * The Worker's `FulcrumState` Durable Object is always bound (under
 * `state.durableObject`, FULCRUM_STATE by default) with SQLite storage, as
 * wrangler.toml declares it; Miniflare keeps its storage in memory, so every
 * start begins at snapshot version 0.
 */
import { readFileSync } from "node:fs";
import { createServer } from "node:net";
import type { Readable } from "node:stream";
import { parseConfig } from "../config/load.ts";
import { buildWorker } from "./build.ts";
import { CONFIG_FILE_BINDING, CONFIG_PATH_BINDING, LOCAL_CLIENT_IP } from "../runtimes/workerd/bindings.ts";
import { watchParent } from "../runtimes/server/parent.ts";

/** The newest date the workerd bundled with the pinned wrangler/miniflare supports. */
export const COMPATIBILITY_DATE = "2026-04-20";
/**
 * `enable_request_signal`: the client's Request.signal aborts when it disconnects before the
 * answer, as on the other runtimes, so a client that leaves cancels the upstream attempt. Once a
 * streamed body is under way it does not always fire (src/proxy/body-end.ts, README Runtime
 * notes). Keep in step with wrangler.toml.
 */
export const COMPATIBILITY_FLAGS = ["enable_request_signal"];

/** Several balancer instances on workerd, each its own Worker (its own isolate), sharing one Durable Object. */
export interface WorkerdInstances {
  /** `http://host:port` of each instance, in the order of the ports asked for. */
  readonly urls: readonly string[];
  dispose(): Promise<void>;
}

export interface WorkerdOptions {
  /** Worker names, one per port (unique on a dev registry). Default `fulcrum-<i>`. */
  readonly names?: readonly string[];
  /**
   * Miniflare's dev registry directory: Workers started by other Miniflare
   * processes on the same directory can be bound across processes (each
   * process registers its Workers there and watches it for the others).
   */
  readonly devRegistry?: string;
  /**
   * The Worker that hosts `FulcrumState`, when it runs in another process on
   * `devRegistry` (see `startWorkerdStateHost`). Default: the first Worker started here.
   */
  readonly stateHost?: string;
  /** workerd's own stdout and stderr (what the Workers log). Default: Miniflare prints them. */
  readonly stdio?: (stdout: Readable, stderr: Readable) => void;
  /**
   * Believe the `CF-Connecting-IP` a client sends (to try `sourceIp` rules or
   * `ip_hash` locally). Off by default: here, unlike on Cloudflare, nothing
   * overwrites it, so anyone could choose their address (LOCAL_CLIENT_IP).
   */
  readonly trustCfConnectingIp?: boolean;
}

/** The config file's text for the Worker (kv-config.ts); a file that cannot be read is a 500 with the reason. */
function configFileResponse(path: string): Response {
  try {
    return new Response(readFileSync(path, "utf8"));
  } catch (error) {
    return new Response(`cannot read ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`, { status: 500 });
  }
}

/**
 * The environment variables the config names for its secrets (`tokenEnv`,
 * `passwordEnv`, `secretEnv`), as Worker bindings: what `wrangler secret put`
 * gives a deployed Worker. Only those, and only when set.
 */
function secretsFor(configPath: string): Record<string, string> {
  const names = new Set<string>();
  const visit = (x: unknown): void => {
    if (Array.isArray(x)) return x.forEach(visit);
    if (typeof x !== "object" || x === null) return;
    for (const [k, value] of Object.entries(x)) {
      if (/Env$/.test(k) && typeof value === "string") names.add(value);
      else visit(value);
    }
  };
  try {
    visit(JSON.parse(readFileSync(configPath, "utf8")));
  } catch {
    // a bad config fails later, with its own message
  }
  return Object.fromEntries([...names].flatMap((n) => (process.env[n] === undefined ? [] : [[n, process.env[n]!]])));
}

/** The state binding's name from the config (a bad config fails later with its own message). */
function stateBinding(configPath: string): string {
  try {
    const state = parseConfig(readFileSync(configPath, "utf8"), configPath).state;
    if (state.store === "cloudflare") return state.durableObject;
  } catch {
    // a bad config fails later, with its own message
  }
  return "FULCRUM_STATE";
}

/**
 * Start `ports.length` instances of the Worker for `configPath`. The first
 * listens on Miniflare's entry socket, exactly as `fulcrum serve` does (it
 * sets CF-Connecting-IP); the others on direct sockets into their own Worker,
 * where no CF-Connecting-IP is added (so their client address is unknown).
 * Every instance binds the Durable Object class of the first (`scriptName`),
 * so all of them share one object per `state.prefix`: one writer, one alarm.
 * With `options.stateHost` they bind the class of a Worker in another
 * Miniflare process instead, found on `options.devRegistry`: then the object
 * lives and dies with that process, apart from the balancers.
 */
export async function startWorkerd(
  root: string,
  configPath: string,
  host: string,
  ports: readonly number[],
  options: WorkerdOptions = {},
): Promise<WorkerdInstances> {
  if (ports.length === 0) throw new Error("startWorkerd: expected at least one port");
  const names = options.names ?? ports.map((_, i) => `fulcrum-${i}`);
  if (names.length !== ports.length) throw new Error(`startWorkerd: expected one name per port, got ${names.length} names for ${ports.length} ports`);
  const script = await buildWorker(root, configPath, ports.join("-"));
  const contents = readFileSync(script, "utf8");
  const binding = stateBinding(configPath);
  // A host outside this process is reached through the dev registry's proxy (Miniflare rewrites the binding).
  const stateHost = options.stateHost ?? names[0]!;
  // Loaded on demand: `fulcrum check` and the other runtimes need not pay for it.
  const { Miniflare } = await import("miniflare");
  const mf = new Miniflare({
    host,
    port: ports[0]!,
    ...(options.devRegistry ? { unsafeDevRegistryPath: options.devRegistry } : {}),
    ...(options.stdio ? { handleRuntimeStdio: options.stdio } : {}),
    workers: ports.map((port, i) => ({
      name: names[i]!,
      modules: [{ type: "ESModule" as const, path: script, contents }],
      modulesRoot: "/",
      compatibilityDate: COMPATIBILITY_DATE,
      compatibilityFlags: COMPATIBILITY_FLAGS,
      bindings: {
        ...secretsFor(configPath),
        [LOCAL_CLIENT_IP]: options.trustCfConnectingIp ? "cf-connecting-ip" : "unknown",
        [CONFIG_PATH_BINDING]: configPath,
      },
      // `fulcrum reload` re-reads the file through this, as a deployed Worker re-reads Workers KV.
      serviceBindings: { [CONFIG_FILE_BINDING]: () => configFileResponse(configPath) },
      durableObjects: { [binding]: { className: "FulcrumState", useSQLite: true, ...(names[i] !== stateHost ? { scriptName: stateHost } : {}) } },
      ...(i > 0 ? { unsafeDirectSockets: [{ host, port }] } : {}),
    })),
  });
  try {
    await mf.ready;
  } catch (e) {
    await mf.dispose().catch(() => {});
    throw e;
  }
  const urls = ports.map((port) => `http://${host}:${port}`);
  return { urls, dispose: () => mf.dispose() };
}

/** Two balancer instances sharing one Durable Object (the e2e's "two instances share the store"). */
export function serveWorkerdPair(root: string, configPath: string, host: string, ports: readonly [number, number]): Promise<WorkerdInstances> {
  return startWorkerd(root, configPath, host, ports);
}

/**
 * Bind the address once and let it go, so a port in use is one plain line:
 * workerd itself prints a fatal exception with a native stack trace for it.
 */
function checkBindable(host: string, port: number): Promise<string | undefined> {
  return new Promise((done) => {
    const server = createServer();
    server.once(
      "error",
      (error: NodeJS.ErrnoException) =>
        done(error.code === "EADDRINUSE" ? "address already in use" : error.code === "EADDRNOTAVAIL" ? "address not available on this machine" : error.message),
    );
    server.listen(port, host, () => server.close(() => done(undefined)));
  });
}

export async function serveWorkerd(
  root: string,
  configPath: string,
  host: string,
  port: number,
  options: Pick<WorkerdOptions, "trustCfConnectingIp"> = {},
): Promise<number> {
  const unbindable = port === 0 ? undefined : await checkBindable(host, port);
  if (unbindable) {
    console.error(`fulcrum: listen ${host}:${port}: ${unbindable}`);
    return 1;
  }
  let instances: WorkerdInstances;
  try {
    instances = await startWorkerd(root, configPath, host, [port], options);
    console.error(`fulcrum (workerd) listening on ${instances.urls[0]}`);
    console.error(
      `fulcrum (workerd): a local development runtime, not an internet-facing server (README, Runtime notes); client addresses ${
        options.trustCfConnectingIp ? "are taken from CF-Connecting-IP as clients send it" : "are unknown (--trust-cf-connecting-ip believes CF-Connecting-IP)"
      }`,
    );
  } catch (e) {
    console.error(`fulcrum: workerd failed to start: ${(e as Error).message}`);
    return 1;
  }
  // SIGHUP reloads through the admin API, as the other runtimes do by themselves.
  process.on("SIGHUP", () => void reloadThroughApi(configPath, instances.urls[0]!));
  return new Promise((done) => {
    const stop = () => void instances.dispose().finally(() => done(0));
    process.once("SIGTERM", stop);
    process.once("SIGINT", stop);
    // A parent that went (`npx` on SIGTERM) takes this with it, as for the other runtimes.
    watchParent(process.ppid, () => process.ppid, stop);
  });
}

/** `fulcrum reload` on the Worker's own admin API path, with the config's credentials. */
async function reloadThroughApi(configPath: string, url: string): Promise<void> {
  let api: unknown;
  try {
    api = parseConfig(readFileSync(configPath, "utf8"), configPath).admin.api;
  } catch (error) {
    console.error(`fulcrum (workerd): SIGHUP: ${(error as Error).message}`);
    return;
  }
  const spec = api as
    | { path?: string; auth?: { bearer?: { token?: string; tokenEnv?: string } | { token?: string; tokenEnv?: string }[] } }
    | false
    | undefined;
  if (!spec || spec.path === undefined) {
    console.error("fulcrum (workerd): SIGHUP: a reload goes through the admin API, which this config has off (admin.api: { path, auth })");
    return;
  }
  const bearer = Array.isArray(spec.auth?.bearer) ? spec.auth!.bearer[0] : spec.auth?.bearer;
  const token = bearer?.token ?? (bearer?.tokenEnv ? process.env[bearer.tokenEnv] : undefined);
  try {
    const r = await fetch(`${url}${spec.path}/v1/reload`, { method: "POST", headers: token ? { authorization: `Bearer ${token}` } : {} });
    const body = (await r.json()) as { message?: string; error?: string; problems?: string[] };
    console.error(`fulcrum (workerd): SIGHUP: ${body.message ?? `reload failed: ${body.error}${body.problems ? `\n  ${body.problems.join("\n  ")}` : ""}`}`);
  } catch (error) {
    console.error(`fulcrum (workerd): SIGHUP: reload failed: ${(error as Error).message}`);
  }
}
