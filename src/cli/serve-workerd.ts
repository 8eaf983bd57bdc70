/**
 * `fulcrum serve --runtime workerd`: the bundled Worker on workerd through
 * Miniflare's API. Not `wrangler dev`: its local proxy chain buffers
 * responses (a 100 MB download took 19 s and 700 MB of RSS here, against
 * 0.3 s and flat memory on Miniflare) and is not what production runs.
 */
import { readFileSync } from "node:fs";
import { buildWorker } from "./build.ts";

/** The newest date the workerd bundled with the pinned wrangler/miniflare supports. */
export const COMPATIBILITY_DATE = "2026-04-20";

export async function serveWorkerd(root: string, configPath: string, host: string, port: number): Promise<number> {
  const script = await buildWorker(root, configPath, String(port));
  // Loaded on demand: `fulcrum check` and the other runtimes need not pay for it.
  const { Miniflare } = await import("miniflare");
  const mf = new Miniflare({
    modules: [{ type: "ESModule", path: script, contents: readFileSync(script, "utf8") }],
    modulesRoot: "/",
    compatibilityDate: COMPATIBILITY_DATE,
    host,
    port,
  });
  try {
    const url = await mf.ready;
    console.error(`fulcrum (workerd) listening on ${url.origin}`);
  } catch (e) {
    console.error(`fulcrum: workerd failed to start: ${(e as Error).message}`);
    await mf.dispose().catch(() => {});
    return 1;
  }
  return new Promise((done) => {
    const stop = () => void mf.dispose().finally(() => done(0));
    process.once("SIGTERM", stop);
    process.once("SIGINT", stop);
  });
}
