#!/usr/bin/env node
// The `fulcrum` command. Node 20 cannot run TypeScript, so this launcher
// bundles the TypeScript CLI with esbuild (a few tens of ms, cached by
// source mtime) and runs it. Everything else lives in src/cli/main.ts.
import { build } from "esbuild";
import { mkdirSync, readdirSync, renameSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const outDir = join(root, "node_modules", ".cache", "fulcrum");
const outfile = join(outDir, "cli.mjs");

function newestMtime(dir) {
  // A directory's own mtime changes when a file is added, moved or removed, which file mtimes miss.
  let newest = statSync(dir).mtimeMs;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestMtime(path) : statSync(path).mtimeMs);
  }
  return newest;
}

let stale = true;
try {
  const built = statSync(outfile).mtimeMs;
  stale = ["src", "routes", "strategies"].some((d) => newestMtime(join(root, d)) > built);
} catch {
  // no bundle yet: build it
}
if (stale) {
  mkdirSync(outDir, { recursive: true });
  await build({
    entryPoints: [join(root, "src", "cli", "main.ts")],
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    packages: "external",
    // Several `fulcrum` processes may start at once: write aside, then rename atomically.
    outfile: `${outfile}.${process.pid}.tmp`,
    logLevel: "error",
  });
  renameSync(`${outfile}.${process.pid}.tmp`, outfile);
}
const { main } = await import(pathToFileURL(outfile).href);
process.exitCode = await main(process.argv.slice(2), root);
