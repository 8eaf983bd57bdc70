/**
 * Two Deno balancers sharing one real Deno KV file (`--unstable-kv`). Deno's
 * `kv.watch` does not see another process's writes on a local file
 * (measured), so changes reach the other instance through the cacheTtl poll.
 * "Stopping" a local store: another process holds the file's SQLite write
 * lock (python3's sqlite3, `BEGIN EXCLUSIVE`), so every checked commit fails.
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CACHE_TTL, sharedStateScenarios } from "./shared-state.scenarios.ts";
import { startBalancer } from "./launch.ts";
import { lockKvFile } from "../kv-file-lock.ts";

sharedStateScenarios("deno-kv, two Deno instances on one KV file", async (config) => {
  const path = join(mkdtempSync(join(tmpdir(), "fulcrum-kv-")), "state.sqlite3");
  const withState = { ...config, state: { store: "deno-kv", path, prefix: "e2e", cacheTtl: CACHE_TTL } };
  const instances = await Promise.all([startBalancer("deno", withState), startBalancer("deno", withState)]);
  let lock: { release(): Promise<number> } | undefined;
  return {
    instances: [instances[0], instances[1]],
    async stopStore() {
      lock = await lockKvFile(path);
    },
    async startStore() {
      await lock?.release();
      lock = undefined;
    },
    async close() {
      await lock?.release();
      await Promise.all(instances.map((i) => i.stop()));
    },
  };
});
