/**
 * Bare `workerd serve` for a Worker bundle: a capnp config with one worker,
 * an `internet` network service that allows loopback (workerd's default
 * global outbound only reaches public addresses), and one HTTP socket.
 * Not `wrangler dev`, whose local proxy chain in front of workerd is what
 * would be measured otherwise (~40× slower).
 */
import { copyFileSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";
import { build } from "esbuild";
import { workerBuildOptions } from "../../../src/cli/build.ts";

import { COMPATIBILITY_DATE, COMPATIBILITY_FLAGS } from "../../../src/cli/serve-workerd.ts";

export interface WorkerdConfig {
  /** ES module bundle; copied next to the capnp file and embedded from there. */
  readonly bundle: string;
  readonly port: number;
  readonly textBindings?: Readonly<Record<string, string>>;
}

const capnpString = (s: string) => JSON.stringify(s);

export function writeWorkerdConfig(dir: string, name: string, o: WorkerdConfig): string {
  const moduleFile = `${name}-${basename(o.bundle)}`;
  copyFileSync(o.bundle, join(dir, moduleFile));
  const bindings = Object.entries(o.textBindings ?? {}).map(([k, v]) => `(name = ${capnpString(k)}, text = ${capnpString(v)})`);
  const file = join(dir, `${name}.capnp`);
  writeFileSync(
    file,
    `using Workerd = import "/workerd/workerd.capnp";

const config :Workerd.Config = (
  services = [
    (name = "main", worker = .worker),
    # "local" admits loopback, where the backends listen.
    (name = "internet", network = (allow = ["public", "private", "local"])),
  ],
  sockets = [(name = "http", address = "127.0.0.1:${o.port}", http = (), service = "main")],
);

const worker :Workerd.Worker = (
  modules = [(name = ${capnpString(moduleFile)}, esModule = embed ${capnpString(moduleFile)})],
  compatibilityDate = ${capnpString(COMPATIBILITY_DATE)},
  compatibilityFlags = [${COMPATIBILITY_FLAGS.map(capnpString).join(", ")}],
  bindings = [${bindings.join(", ")}],
  globalOutbound = "internet",
);
`,
  );
  return file;
}

/** Bundle one of the naive forwarder entries (Node cannot run TypeScript; workerd needs one module). */
export async function bundleNaive(root: string, runtime: "node" | "workerd", outDir: string): Promise<string> {
  const outfile = join(outDir, `naive-${runtime}.mjs`);
  await build({
    // The naive Worker is bundled like Fulcrum's, so the two differ only in what they do.
    ...(runtime === "workerd" ? workerBuildOptions(root) : { bundle: true, format: "esm", platform: "node", target: "node20", mainFields: ["module", "main"] }),
    entryPoints: [join(root, "test/bench/harness/naive", `${runtime}.ts`)],
    outfile,
    logLevel: "error",
  });
  return outfile;
}
