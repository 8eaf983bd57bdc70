/**
 * `fulcrum build workers --config FILE --out DIR [--name NAME]`: a ready
 * wrangler project for the user's own config, in the user's own folder, so
 * that nobody edits Fulcrum's wrangler.toml inside its source tree. The config
 * is checked first (`fulcrum check --runtime workerd`): a bad one fails the
 * build with its field paths instead of a deploy that fails at its first
 * request. Literal secrets in the config go into the bundle, so each is named
 * with the way to keep it out.
 */
import { copyFileSync, mkdirSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import type { Config } from "../config/schema.ts";
import { buildWorker } from "./build.ts";
import { envReferences } from "./preflight.ts";

/** The Worker settings Fulcrum's own wrangler.toml uses (compatibility date of the pinned workerd, request signal). */
const COMPATIBILITY_DATE = "2026-04-20";

export interface WorkersProject {
  readonly dir: string;
  readonly warnings: string[];
  readonly secrets: string[];
}

export async function buildWorkersProject(root: string, configPath: string, config: Config, raw: unknown, out: string, name: string): Promise<WorkersProject> {
  const dir = resolve(out);
  mkdirSync(dir, { recursive: true });
  copyFileSync(await buildWorker(root, configPath, `build-${name}`, true), join(dir, "worker.mjs"));
  writeFileSync(join(dir, "wrangler.toml"), wranglerToml(name, config));
  // The environment variables the config reads its secrets from: each a `wrangler secret put`.
  return { dir, warnings: literalSecrets(raw), secrets: [...new Set(envReferences(raw).map(([, name]) => name))] };
}

function wranglerToml(name: string, config: Config): string {
  const lines = [
    `# Written by fulcrum build workers; deploy with: npx wrangler deploy`,
    `name = ${JSON.stringify(name)}`,
    `main = "worker.mjs"`,
    `# Already bundled by fulcrum (config included).`,
    `no_bundle = true`,
    `compatibility_date = "${COMPATIBILITY_DATE}"`,
    `# The client's Request.signal aborts when it disconnects (cancels the upstream attempt).`,
    `compatibility_flags = ["enable_request_signal"]`,
    ``,
    `# Active health checks also run from this cron trigger, so targets are probed without traffic.`,
    `[triggers]`,
    `crons = ["* * * * *"]`,
  ];
  if (config.state.store === "cloudflare") {
    lines.push(
      ``,
      `# state.store cloudflare: one Durable Object per state.prefix holds health and overrides; its alarm probes.`,
      `[[durable_objects.bindings]]`,
      `name = ${JSON.stringify(config.state.durableObject)}`,
      `class_name = "FulcrumState"`,
      ``,
      `[[migrations]]`,
      `tag = "v1"`,
      `new_sqlite_classes = ["FulcrumState"]`,
    );
  }
  lines.push(
    ``,
    `# Optional: the config in Workers KV, changed without a redeploy (fulcrum reload re-reads it at once).`,
    `# [[kv_namespaces]]`,
    `# binding = "FULCRUM_KV"`,
    `# id = "<namespace id>"`,
    ``,
  );
  return lines.join("\n");
}

const SECRET_KEYS = new Set(["secret", "password", "token"]);

/** Literal secrets (`secret`, `password`, `token`) with their paths: they would be readable in the bundle. */
function literalSecrets(raw: unknown, path = ""): string[] {
  if (Array.isArray(raw)) return raw.flatMap((x, i) => literalSecrets(x, `${path}[${i}]`));
  if (raw === null || typeof raw !== "object") return [];
  return Object.entries(raw).flatMap(([k, x]) => {
    const at = path ? `${path}.${k}` : k;
    if (SECRET_KEYS.has(k) && typeof x === "string") return [`${at}: a literal secret goes into the Worker bundle; use ${k}Env and npx wrangler secret put`];
    return literalSecrets(x, at);
  });
}
