/**
 * Builds what a runtime cannot take as source: the Node entry (Node 20 has no
 * TypeScript) and the Worker bundle, whose main module imports the config so
 * that the Worker gets its config bundled at build time.
 */
import { build, type BuildOptions } from "esbuild";
import { mkdirSync, renameSync } from "node:fs";
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
 * workerd export conditions): src/runtimes/workerd-main.ts with the given
 * config file bundled in where wrangler.toml's `[alias]` would put it. It
 * exports the Worker (`default`) and the `FulcrumState` Durable Object class.
 */
/** esbuild options for any module that runs on workerd (the Worker, test fixtures). */
export function workerBuildOptions(root: string): BuildOptions {
  return {
    bundle: true,
    format: "esm",
    platform: "neutral",
    target: "es2022",
    conditions: ["workerd", "worker", "browser"],
    mainFields: ["module", "main"],
    // The same alias wrangler.toml sets for `wrangler deploy` (see src/runtimes/no-protobuf.ts).
    alias: { "protobufjs/minimal": join(root, "src/runtimes/no-protobuf.ts") },
  };
}

export async function buildWorker(root: string, configPath: string, name: string, minify = false): Promise<string> {
  const dir = cacheDir(root, `worker-${name}`);
  const outfile = join(dir, "worker.mjs");
  await build({
    ...workerBuildOptions(root),
    entryPoints: [join(root, "src/runtimes/workerd-main.ts")],
    plugins: [
      {
        name: "fulcrum-config",
        setup(b) {
          b.onResolve({ filter: /^fulcrum-config$/ }, () => ({ path: configPath }));
        },
      },
    ],
    minify,
    // Several builds of one name may run at once (e2e pairs): write aside, then rename atomically.
    outfile: `${outfile}.${process.pid}.tmp`,
    logLevel: "error",
  });
  renameSync(`${outfile}.${process.pid}.tmp`, outfile);
  return outfile;
}
