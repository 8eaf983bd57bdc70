/**
 * Builds what a runtime cannot take as source: the Node entry (Node 20 has no
 * TypeScript) and the Worker bundle, whose main module imports the config so
 * that the Worker gets its config bundled at build time.
 */
import { build } from "esbuild";
import { mkdirSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export function cacheDir(root: string, ...parts: string[]): string {
  const dir = join(root, "node_modules", ".cache", "fulcrum", ...parts);
  mkdirSync(dir, { recursive: true });
  return dir;
}

export async function buildNodeEntry(root: string): Promise<string> {
  const outfile = join(cacheDir(root), "node.mjs");
  await build({
    entryPoints: [join(root, "src/runtimes/node.ts")],
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    packages: "external",
    // Several `fulcrum serve` may build at once: write aside, then rename atomically.
    outfile: `${outfile}.${process.pid}.tmp`,
    logLevel: "error",
  });
  renameSync(`${outfile}.${process.pid}.tmp`, outfile);
  return outfile;
}

/**
 * One ES module for workerd, as `wrangler deploy` would build it (esbuild,
 * workerd export conditions), with the given config file bundled in.
 */
export async function buildWorker(root: string, configPath: string, name: string, minify = false): Promise<string> {
  const dir = cacheDir(root, `worker-${name}`);
  const entry = join(dir, "entry.ts");
  writeFileSync(
    entry,
    `import config from ${JSON.stringify(configPath)};\n` +
      `import { createWorker } from ${JSON.stringify(join(root, "src/runtimes/workerd.ts"))};\n` +
      `export default createWorker(config);\n`,
  );
  const outfile = join(dir, "worker.mjs");
  await build({
    entryPoints: [entry],
    bundle: true,
    format: "esm",
    platform: "neutral",
    target: "es2022",
    conditions: ["workerd", "worker", "browser"],
    mainFields: ["module", "main"],
    // The same alias wrangler.toml sets for `wrangler deploy` (see src/runtimes/no-protobuf.ts).
    alias: { "protobufjs/minimal": join(root, "src/runtimes/no-protobuf.ts") },
    minify,
    outfile,
    logLevel: "error",
  });
  return outfile;
}
