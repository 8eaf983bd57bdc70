/**
 * What `fulcrum check` (and `serve`, before it starts a runtime) finds out
 * about a valid config beyond its schema: what would stop it starting or make
 * a key do nothing on the runtime it is meant for. `nginx -t` opens the
 * certificate files; so does this, and it parses them. Each problem is one
 * line with its field path, like the schema's.
 */
import { createPrivateKey, X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { allRules, type Config, listenersOf } from "../config/schema.ts";
import type { RateLimitConfig } from "../ratelimit/schema.ts";
import { osReason } from "../runtimes/server/boot.ts";

export type CheckRuntime = "bun" | "deno" | "node" | "workerd";

export interface Preflight {
  readonly problems: string[];
  /** Worth saying, not wrong. */
  readonly notes: string[];
}

/**
 * `raw` is the config as written (to tell a key given from a default); `env` the environment the
 * balancer will see (on Workers secrets are bindings, not visible here, so they are not checked).
 */
export function preflight(
  config: Config,
  raw: unknown,
  runtime: CheckRuntime,
  env: Record<string, string | undefined>,
  /** `fulcrum serve --runtime workerd`: a local workerd, which binds the first listener's address and takes secrets from this environment. */
  local = false,
): Preflight {
  const problems: string[] = [];
  const notes: string[] = [];
  if (runtime === "workerd" && !local) workerListen(raw, problems, notes);
  if (runtime === "workerd") workerLimits(config, raw, notes);
  if (runtime === "workerd") {
    // A Worker has no DNS client: names go through Cloudflare's own resolution in fetch.
    for (const [name, g] of Object.entries(config.targetGroups)) {
      if (g.discover.length > 0) {
        problems.push(
          `targetGroups.${name}.discover: not on Workers, which have no DNS client (list the targets; a name in a target's URL is resolved by Cloudflare)`,
        );
      }
    }
  }
  sharedLimits(config, runtime, notes);
  quietTraps(config, raw, runtime, notes);
  if (runtime !== "workerd") {
    listenersOf(config).forEach((l, i) => {
      if (!l.certificate) return;
      const at = Array.isArray(config.listen) ? `listen[${i}].certificate` : "listen.certificate";
      certificateProblems(at, l.certificate.certFile, l.certificate.keyFile, problems);
    });
  }
  if (runtime !== "workerd" || local) {
    for (const [path, name] of envReferences(raw)) {
      if (!env[name]) problems.push(`${path}: environment variable ${name} is not set (or is empty)`);
    }
  }
  return { problems, notes };
}

function certificateProblems(at: string, certFile: string, keyFile: string, problems: string[]): void {
  const read = (field: string, file: string) => {
    try {
      return readFileSync(resolve(file), "utf8");
    } catch (error) {
      problems.push(`${at}.${field}: cannot read ${file}: ${osReason(error)}`);
      return undefined;
    }
  };
  const cert = read("certFile", certFile);
  const key = read("keyFile", keyFile);
  let x509: X509Certificate | undefined;
  if (cert !== undefined) {
    try {
      x509 = new X509Certificate(cert);
      if (Date.parse(x509.validTo) < Date.now()) problems.push(`${at}.certFile: ${certFile} expired on ${x509.validTo}`);
    } catch {
      problems.push(`${at}.certFile: ${certFile} is not a PEM certificate`);
    }
  }
  if (key !== undefined) {
    try {
      const k = createPrivateKey(key);
      if (x509 && !x509.checkPrivateKey(k)) problems.push(`${at}.keyFile: ${keyFile} is not the key of ${certFile}`);
    } catch {
      problems.push(`${at}.keyFile: ${keyFile} is not a PEM private key (or it is encrypted)`);
    }
  }
}

/** Every `…Env` key of the config as written, with its path: the secrets it reads from the environment. */
export function envReferences(raw: unknown, path = ""): [string, string][] {
  if (Array.isArray(raw)) return raw.flatMap((x, i) => envReferences(x, `${path}[${i}]`));
  if (raw === null || typeof raw !== "object") return [];
  return Object.entries(raw).flatMap(([k, v]): [string, string][] => {
    const at = path ? `${path}.${k}` : k;
    if (k.endsWith("Env") && typeof v === "string") return [[at, v]];
    return envReferences(v, at);
  });
}

/** Counts live in one isolate, and Cloudflare runs as many as it needs: a limit kept in memory holds per isolate. */
function workerLimits(config: Config, raw: unknown, notes: string[]): void {
  const groups = (raw as { targetGroups?: unknown } | null)?.targetGroups;
  if (groups === null || typeof groups !== "object") return;
  for (const [name, g] of Object.entries(groups)) {
    if (g === null || typeof g !== "object") continue;
    const targets = (g as { targets?: unknown }).targets;
    const limited = "maxConnections" in g ||
      (Array.isArray(targets) && targets.some((t: unknown) => t !== null && typeof t === "object" && "maxConnections" in t));
    if (limited) {
      notes.push(
        `targetGroups.${name}: maxConnections counts one isolate's requests on Workers (Cloudflare runs as many isolates as it needs), not the target's`,
      );
    }
  }
  for (const [at, limit] of rateLimitsOf(config)) {
    if (!limit.shared) notes.push(`${at}: counted per isolate on Workers unless shared: true (then through the Durable Object store)`);
  }
}

/** Every rate limit of the config with where it is written. */
function rateLimitsOf(config: Config): [string, RateLimitConfig][] {
  const out: [string, RateLimitConfig][] = config.rateLimit ? [["rateLimit", config.rateLimit]] : [];
  for (const r of allRules(config)) if (r.rateLimit) out.push([`rule ${r.priority}: rateLimit`, r.rateLimit]);
  return out;
}

/** What loads fine but would do less than it seems to: said, so nobody expects more. */
function quietTraps(config: Config, raw: unknown, runtime: CheckRuntime, notes: string[]): void {
  for (const [name, g] of Object.entries(config.targetGroups)) {
    // Passive checks never take a group's only target out (nginx peers->single, health/table.ts).
    if (g.fallbackGroup !== undefined && g.targets.length === 1 && g.healthCheck === undefined) {
      notes.push(
        `targetGroups.${name}.fallbackGroup: a group of one target fails over only with a healthCheck (or a drain, or weight 0): passive checks never take a group's only target out, as nginx`,
      );
    }
  }
  const geo = allRules(config).some((r) => r.conditions.some((c) => c.geo !== undefined));
  if (!geo) return;
  if (runtime === "workerd") {
    const forwarding = (raw as { forwarding?: { geoHeaders?: unknown } } | null)?.forwarding;
    if (forwarding?.geoHeaders !== undefined) notes.push("forwarding.geoHeaders: not used on Workers, where geo conditions read Cloudflare's request.cf");
  } else if (config.forwarding.trustedProxies.length === 0) {
    notes.push("rules: geo conditions never match without forwarding.trustedProxies: the location headers are believed only from a trusted proxy");
  }
}

/** `shared` over the memory store reaches only the workers of one host: said, so nobody expects more. */
function sharedLimits(config: Config, runtime: CheckRuntime, notes: string[]): void {
  if (runtime === "workerd" || config.state.store !== "memory") return;
  for (const [at, limit] of rateLimitsOf(config)) {
    if (limit.shared) {
      notes.push(
        `${at}: shared through the memory store counts across the workers of one host (--workers) only; other instances need a redis or deno-kv store`,
      );
    }
  }
}

/** Cloudflare's edge owns ports and TLS: of `listen`, nothing but a port is tolerated on Workers, and that is unused. */
function workerListen(raw: unknown, problems: string[], notes: string[]): void {
  const listen = (raw as { listen?: unknown } | null)?.listen;
  const list = Array.isArray(listen) ? listen : [listen];
  if (Array.isArray(listen) && listen.length > 1) {
    problems.push("listen: a Worker has one listener, Cloudflare's; the other listeners would do nothing (use the first's defaultAction, or rules)");
  }
  list.forEach((l, i) => {
    if (l === null || typeof l !== "object") return;
    const at = Array.isArray(listen) ? `listen[${i}]` : "listen";
    for (const key of Object.keys(l)) {
      if (key === "port") continue;
      if ((key === "defaultAction" || key === "rules") && i === 0) continue;
      problems.push(`${at}.${key}: does nothing on Workers (Cloudflare's edge owns addresses, ports and TLS); remove it`);
    }
  });
  notes.push("listen.port is not used on Workers");
  if ((raw as { workers?: unknown } | null)?.workers !== undefined) {
    problems.push("workers: does nothing on Workers (Cloudflare runs as many isolates as it needs); remove it");
  }
}
