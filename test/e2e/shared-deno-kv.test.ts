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
import { sharedStateScenarios, CACHE_TTL } from "./shared-state.scenarios.ts";
import { startBalancer } from "./launch.ts";

async function lockFile(path: string): Promise<{ release(): Promise<void> }> {
  const script = [
    "import sqlite3, sys",
    "c = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=0)",
    'c.execute("BEGIN EXCLUSIVE")',
    'print("locked", flush=True)',
    "sys.stdin.readline()",
    'c.execute("ROLLBACK")',
  ].join("\n");
  const proc = Bun.spawn(["python3", "-c", script, path], { stdin: "pipe", stdout: "pipe", stderr: "inherit" });
  const { value } = await proc.stdout.getReader().read();
  if (!new TextDecoder().decode(value).includes("locked")) throw new Error("python3 could not lock the KV file");
  return {
    async release() {
      proc.stdin.end();
      await proc.exited;
    },
  };
}

sharedStateScenarios("deno-kv, two Deno instances on one KV file", async (config) => {
  const path = join(mkdtempSync(join(tmpdir(), "fulcrum-kv-")), "state.sqlite3");
  const withState = { ...config, state: { store: "deno-kv", path, prefix: "e2e", cacheTtl: CACHE_TTL } };
  const instances = await Promise.all([startBalancer("deno", withState), startBalancer("deno", withState)]);
  let lock: { release(): Promise<void> } | undefined;
  return {
    instances: [instances[0], instances[1]],
    async stopStore() {
      lock = await lockFile(path);
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
