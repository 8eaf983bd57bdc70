/**
 * Builds what a runtime cannot take as source: the Node entry (Node 20 has no
 * TypeScript), the Deno entry (undici with a lighter `node:assert`) and the
 * Worker bundle, whose main module imports the config so that the Worker gets
 * its config bundled at build time.
 */
import { build, type BuildOptions } from "esbuild";
import { existsSync, mkdirSync, renameSync, writeFileSync } from "node:fs";
import { createHash } from "node:crypto";
import { join } from "node:path";

export function cacheDir(root: string, ...parts: string[]): string {
  const dir = join(root, "node_modules", ".cache", "fulcrum", ...parts);
  mkdirSync(dir, { recursive: true });
  return dir;
}

/** Several builds of one file may run at once (`fulcrum serve` × N, e2e pairs): write aside, then rename atomically. */
async function buildTo(outfile: string, options: BuildOptions): Promise<string> {
  const aside = `${outfile}.${process.pid}.tmp`;
  await build({ ...options, outfile: aside, logLevel: "error" });
  renameSync(aside, outfile);
  return outfile;
}

/**
 * Aliases every bundle that holds the packages needs (Deno, Workers): @datadog/sketches-js
 * names `protobufjs/minimal` without depending on it (src/runtimes/workerd/no-protobuf.ts), the same
 * alias wrangler.toml sets for `wrangler deploy`.
 */
function bundledPackageAliases(root: string): Record<string, string> {
  return {
    "protobufjs/minimal": join(root, "src/runtimes/workerd/no-protobuf.ts"),
    // Its `main` is a UMD build whose `require("./impl/format")` esbuild cannot follow on Node's platform.
    "jsonc-parser": join(root, "node_modules/jsonc-parser/lib/esm/main.js"),
  };
}

/** esbuild options for a server runtime's entry (src/runtimes/<name>/entry.ts) as one ES module on Node's platform. */
function serverEntryOptions(root: string, name: "node" | "deno"): BuildOptions {
  return {
    entryPoints: [join(root, `src/runtimes/${name}/entry.ts`)],
    // Module comments in the bundle then name files from the root (the bench profiler reads them).
    absWorkingDir: root,
    bundle: true,
    platform: "node",
    format: "esm",
  };
}

/**
 * Built to a file named by its content (`node-<hash>.mjs`), never rewritten: a running host's
 * workers, and the replacements its primary starts after a crash, keep the code they were started
 * with while another build (a rolling restart's, another `fulcrum serve` from this checkout)
 * makes a new file beside it.
 */
async function buildVersioned(root: string, name: string, options: BuildOptions): Promise<string> {
  const built = await build({ ...options, write: false, outfile: join(cacheDir(root), `${name}.mjs`), logLevel: "error" });
  const contents = built.outputFiles[0]!.contents;
  const file = join(cacheDir(root), `${name}-${createHash("sha256").update(contents).digest("hex").slice(0, 12)}.mjs`);
  if (existsSync(file)) return file;
  const aside = `${file}.${process.pid}.tmp`;
  writeFileSync(aside, contents);
  renameSync(aside, file);
  return file;
}

export async function buildNodeEntry(root: string): Promise<string> {
  return buildVersioned(root, "node", {
    ...serverEntryOptions(root, "node"),
    target: "node20",
    packages: "external",
  });
}

/**
 * The Deno entry as one ES module with its packages inside, so that undici's
 * `node:assert` can be replaced (src/runtimes/upstream/undici-assert.cjs says why).
 * CommonJS packages in an ES module `require` Node built-ins through the
 * `require` the banner makes (esbuild's `__require` looks for one).
 */
export async function buildDenoEntry(root: string): Promise<string> {
  return buildVersioned(root, "deno", {
    ...serverEntryOptions(root, "deno"),
    target: "esnext",
    alias: { ...bundledPackageAliases(root), "node:assert": join(root, "src/runtimes/upstream/undici-assert.cjs") },
    banner: { js: 'import { createRequire as fulcrumCreateRequire } from "node:module";\nconst require = fulcrumCreateRequire(import.meta.url);' },
  });
}

/** esbuild options for any module that runs on workerd (the Worker, test fixtures). */
export function workerBuildOptions(root: string): BuildOptions {
  return {
    bundle: true,
    format: "esm",
    platform: "neutral",
    target: "es2022",
    conditions: ["workerd", "worker", "browser"],
    mainFields: ["module", "main"],
    alias: bundledPackageAliases(root),
  };
}

/**
 * One ES module for workerd, as `wrangler deploy` would build it (esbuild,
 * workerd export conditions): src/runtimes/workerd/main.ts with the given
 * config file bundled in where wrangler.toml's `[alias]` would put it. It
 * exports the Worker (`default`) and the `FulcrumState` Durable Object class.
 */
export async function buildWorker(root: string, configPath: string, name: string, minify = false): Promise<string> {
  return buildTo(join(cacheDir(root, `worker-${name}`), "worker.mjs"), {
    ...workerBuildOptions(root),
    entryPoints: [join(root, "src/runtimes/workerd/main.ts")],
    plugins: [
      {
        name: "fulcrum-config",
        setup(b) {
          b.onResolve({ filter: /^fulcrum-config$/ }, () => ({ path: configPath }));
        },
      },
    ],
    minify,
  });
}
