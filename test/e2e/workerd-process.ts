/**
 * One Miniflare (one workerd process) per OS process, under Node as
 * `fulcrum serve --runtime workerd` runs it, for e2e tests that need several
 * of them side by side on one dev registry (test/e2e/shared-cloudflare.test.ts).
 *
 * Why a Node child and not Miniflare inside the Bun test: Miniflare pushes
 * dev-registry changes to workerd with undici's `Pool#request`, which Bun's
 * built-in `undici` replaces with one whose result has no `body` (measured:
 * Bun 1.4.5 answers `undefined`, Node 20 an object). Under Bun a Worker in
 * another process that restarts is therefore never seen again.
 *
 * `spawnWorkerd` bundles `workerd-process.node.ts` for Node (as
 * src/cli/fulcrum.mjs bundles the CLI) and starts it; the child prints
 * `ready` once Miniflare is, then passes workerd's own output through, and
 * disposes Miniflare on SIGTERM.
 */
import { build } from "esbuild";
import { spawn } from "node:child_process";
import { join } from "node:path";
import { cacheDir } from "../../src/cli/build.ts";
import type { WorkerdProcessArgs } from "./workerd-process.node.ts";
import { freePort, ROOT } from "./launch.ts";

export interface WorkerdProcess {
  /** `http://host:port` of its Worker. */
  readonly url: string;
  /** Everything the process printed: workerd's stdout and stderr, so this Worker's own log. */
  output(): string;
  /** SIGTERM (Miniflare disposes workerd and unregisters from the dev registry), then wait for the exit. */
  stop(): Promise<void>;
}

let built: Promise<string> | undefined;
function entry(): Promise<string> {
  built ??= (async () => {
    const outfile = join(cacheDir(ROOT, "e2e"), "workerd-process.mjs");
    await build({
      entryPoints: [join(import.meta.dir, "workerd-process.node.ts")],
      bundle: true,
      platform: "node",
      format: "esm",
      target: "node20",
      packages: "external",
      outfile,
      logLevel: "error",
    });
    return outfile;
  })();
  return built;
}

/**
 * spawnWorkerd on a port freePort picks. A port that was free a moment ago may be taken by then
 * (Miniflare binds loopback ports of its own): then once more on another, up to three times.
 */
export async function spawnWorkerdOnFreePort(args: Omit<WorkerdProcessArgs, "root" | "port">): Promise<WorkerdProcess> {
  for (let attempt = 1;; attempt++) {
    try {
      return await spawnWorkerd({ ...args, port: await freePort() });
    } catch (error) {
      if (attempt >= 3 || !/Address already in use/.test(String(error))) throw error;
    }
  }
}

export async function spawnWorkerd(args: Omit<WorkerdProcessArgs, "root">, timeoutMs = 60_000): Promise<WorkerdProcess> {
  const child = spawn("node", [await entry(), JSON.stringify({ ...args, root: ROOT } satisfies WorkerdProcessArgs)], {
    cwd: ROOT,
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, WRANGLER_SEND_METRICS: "false", CLOUDFLARE_CF_FETCH_ENABLED: "false", WRANGLER_HIDE_BANNER: "true", NO_COLOR: "1" },
  });
  let out = "";
  let exited = false;
  const exit = new Promise<void>((ok) => child.once("exit", () => ok(void (exited = true))));
  const ready = new Promise<void>((ok, fail) => {
    const timer = setTimeout(() => fail(new Error(`workerd process did not become ready in ${timeoutMs} ms:\n${out}`)), timeoutMs);
    const onData = (d: Buffer) => {
      out += d.toString();
      if (/^ready$/m.test(out)) {
        clearTimeout(timer);
        ok();
      }
    };
    child.stdout!.on("data", onData);
    child.stderr!.on("data", onData);
    void exit.then(() => {
      clearTimeout(timer);
      fail(new Error(`workerd process exited before it was ready:\n${out}`));
    });
  });
  try {
    await ready;
  } catch (e) {
    child.kill("SIGKILL");
    throw e;
  }
  return {
    url: `http://${args.host}:${args.port}`,
    output: () => out,
    async stop() {
      if (exited) return;
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 15_000);
      await exit;
      clearTimeout(timer);
    },
  };
}
