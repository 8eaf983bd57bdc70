/**
 * A code upgrade without a gap on Bun and Node: a copy of the sources serves
 * with `--workers 2`, one of its files changes on disk, `fulcrum restart`
 * replaces the workers under load, and the new workers run the new code
 * while no request fails. The copy keeps the repository's own files out of
 * it (the bundles it builds are named by their content, so they share
 * node_modules/.cache without overwriting anything).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { type ChildProcess, spawn } from "node:child_process";
import { cpSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort, fulcrumCommand, writeConfig } from "./launch.ts";
import { startUpstream, type Upstream } from "./upstream.ts";

const ROOT = join(import.meta.dir, "..", "..");
const WORKER_FILE = "src/runtimes/server/workers/worker.ts";

for (const runtime of ["bun", "node"] as const) {
  describe(`code upgrade with --workers 2 on ${runtime}`, () => {
    let copy = "";
    let up: Upstream;
    let child: ChildProcess;
    let output = "";
    let url = "";
    let admin = "";

    beforeAll(async () => {
      copy = mkdtempSync(join(tmpdir(), "fulcrum-upgrade-"));
      for (const dir of ["src", "routes", "strategies"]) cpSync(join(ROOT, dir), join(copy, dir), { recursive: true });
      for (const file of ["package.json", "tsconfig.json", "bunfig.toml", "deno.json"]) cpSync(join(ROOT, file), join(copy, file));
      symlinkSync(join(ROOT, "node_modules"), join(copy, "node_modules"));
      up = await startUpstream("u");
      const [port, adminPort] = [await freePort(), await freePort()];
      url = `http://127.0.0.1:${port}`;
      admin = `http://127.0.0.1:${adminPort}`;
      const config = writeConfig({
        listen: { port, host: "127.0.0.1" },
        targetGroups: { app: { targets: [{ url: up.url }] } },
        defaultAction: { forward: "app" },
        admin: { api: { listen: { port: adminPort } } },
      });
      child = spawn("node", [join(copy, "src/cli/fulcrum.mjs"), "serve", "--config", config, "--runtime", runtime, "--workers", "2"], {
        stdio: ["ignore", "pipe", "pipe"],
        env: { ...process.env, NO_COLOR: "1" },
      });
      child.stdout!.on("data", (d) => (output += d));
      child.stderr!.on("data", (d) => (output += d));
      for (let i = 0; i < 300 && !output.includes("primary (pid"); i++) await Bun.sleep(100);
      expect(output).toContain("primary (pid");
    }, 60_000);
    afterAll(async () => {
      child?.kill("SIGTERM");
      await new Promise((done) => (child?.exitCode !== null ? done(null) : child.once("exit", done)));
      await up?.close();
      rmSync(copy, { recursive: true, force: true });
    }, 30_000);

    test("new files on disk, fulcrum restart under load: the new workers run the new code and no request fails", async () => {
      const file = join(copy, WORKER_FILE);
      const source = readFileSync(file, "utf8");
      expect(source).toContain("serving`);");
      writeFileSync(file, source.replace("serving`);", "serving, upgraded`);"));
      let over = false;
      let ok = 0;
      const failed: string[] = [];
      const load = Promise.all(
        Array.from({ length: 8 }, async () => {
          for (let i = 0; i < 1_000_000 && !over; i++) {
            try {
              const r = await fetch(`${url}/x`, { signal: AbortSignal.timeout(10_000) });
              await r.arrayBuffer();
              if (r.status === 200) ok++;
              else failed.push(`status ${r.status}`);
            } catch (error) {
              failed.push((error as Error).message);
            }
          }
        }),
      );
      await Bun.sleep(300);
      const restarted = await fulcrumCommand(["restart"], { admin });
      await Bun.sleep(500);
      over = true;
      await load;
      expect(restarted.out.trim()).toBe("restarted 2 worker(s) one by one");
      expect(failed.slice(0, 3)).toEqual([]);
      expect(ok).toBeGreaterThan(100);
      expect(output.match(/worker \d \(pid \d+\) serving, upgraded/g)?.length).toBe(2);
    }, 60_000);
  });
}
