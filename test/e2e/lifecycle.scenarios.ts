/**
 * The balancer's own lifecycle on the server runtimes (Bun, Deno, Node):
 * SIGTERM turns health 503, the grace period keeps serving, then listening
 * stops, in-flight requests complete, and the process exits 0; a second
 * Ctrl-C forces the exit; and a balancer never outlives the `fulcrum serve`
 * that started it. (Workers have no signals: Cloudflare drains
 * isolates itself.)
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { freePort, ROOT, type Runtime, startBalancer, writeConfig } from "./launch.ts";
import { startUpstream, type Upstream } from "./upstream.ts";
import { FORCE_QUIT_EXIT_CODE, REPEAT_SIGINT_AFTER_MS } from "../../src/runtimes/server/shutdown.ts";

/** Every process below `pid` (the runtime sits below the CLI). */
function descendants(pid: number): number[] {
  let children: number[] = [];
  try {
    children = readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    // the process ended meanwhile
  }
  return children.flatMap((c) => [c, ...descendants(c)]);
}

export function lifecycleScenarios(runtime: Exclude<Runtime, "workerd">): void {
  describe(`lifecycle on ${runtime}`, () => {
    let up: Upstream;
    beforeAll(async () => {
      up = await startUpstream("a");
    });
    afterAll(() => up.close());
    /** One target, everything to it; only the shutdown settings differ between the scenarios. */
    const balancerWithShutdown = (shutdown: { grace: number; deadline: number }) =>
      startBalancer(runtime, { listen: { port: 0 }, targetGroups: { app: { targets: [{ url: up.url }] } }, defaultAction: { forward: "app" }, shutdown });

    test("SIGTERM: health 503 at once, grace keeps serving, in-flight requests finish, exit 0", async () => {
      const b = await balancerWithShutdown({ grace: 1, deadline: 15 });
      const inflight = Array.from({ length: 5 }, () => fetch(`${b.url}/slow?ms=2500`).then(async (r) => [r.status, await r.text()] as const));
      await Bun.sleep(300);
      const exited = b.stop("SIGTERM");
      await Bun.sleep(200);
      const health = await fetch(`${b.url}/__fulcrum/health`);
      expect(health.status).toBe(503);
      // Still inside the grace period: new requests are served.
      const during = await fetch(`${b.url}/during-grace`);
      expect(during.status).toBe(200);
      await Bun.sleep(1300);
      // Grace over: the listener is closed.
      const after = await fetch(`${b.url}/after-grace`, { signal: AbortSignal.timeout(2000) }).then(
        (r) => r.status,
        () => "refused",
      );
      expect(after).toBe("refused");
      const results = await Promise.all(inflight);
      for (const [status, text] of results) {
        expect(status).toBe(200);
        expect(text).toBe("slow a");
      }
      expect(await exited).toBe(0);
    }, 60_000);

    test("SIGINT: copies of one Ctrl-C change nothing; a second Ctrl-C exits at once with 2 (Caddy's force quit)", async () => {
      const b = await balancerWithShutdown({ grace: 30, deadline: 30 });
      const exit = new Promise<number | null>((ok) => b.process.once("exit", (code) => ok(code)));
      const inflight = fetch(`${b.url}/slow?ms=20000`).then(
        (r) => r.text().then(() => "answered", () => "cut"),
        () => "cut",
      );
      await Bun.sleep(300);
      // One Ctrl-C as a terminal delivers it: to every process of the group at once, so the
      // runtime gets it directly and again through the CLI, which forwards what it gets.
      for (const pid of [b.process.pid!, ...descendants(b.process.pid!)]) process.kill(pid, "SIGINT");
      // Wait until the runtime has handled it (health 503), then longer than the repeat window.
      for (let i = 0; i < 100 && (await fetch(`${b.url}/__fulcrum/health`)).status !== 503; i++) await Bun.sleep(50);
      expect((await fetch(`${b.url}/__fulcrum/health`)).status).toBe(503);
      await Bun.sleep(REPEAT_SIGINT_AFTER_MS + 200);
      // Still draining: the grace period serves new requests and nothing has exited.
      expect(b.process.exitCode).toBeNull();
      expect((await fetch(`${b.url}/during-grace`)).status).toBe(200);
      b.process.kill("SIGINT");
      expect(await exit).toBe(FORCE_QUIT_EXIT_CODE);
      expect(await inflight).toBe("cut");
      expect(b.output()).toContain("second SIGINT");
    }, 60_000);

    test("a fulcrum serve killed outright (SIGKILL, OOM) takes its balancer with it: nothing keeps serving", async () => {
      const b = await balancerWithShutdown({ grace: 0, deadline: 5 });
      const runtimePids = descendants(b.process.pid!);
      expect(runtimePids.length).toBeGreaterThan(0);
      b.process.kill("SIGKILL");
      // The runtime notices its parent is gone within a second, then shuts down as on SIGTERM.
      const alive = () => runtimePids.filter((pid) => existsSync(`/proc/${pid}`) && !readFileSync(`/proc/${pid}/stat`, "utf8").includes(") Z "));
      for (let i = 0; i < 100 && alive().length > 0; i++) await Bun.sleep(100);
      expect(alive()).toEqual([]);
      const after = await fetch(`${b.url}/__fulcrum/health`, { signal: AbortSignal.timeout(2000) }).then((r) => r.status, () => "refused");
      expect(after).toBe("refused");
    }, 30_000);

    // The chain is the same whatever the runtime: npx, npm exec, the launcher, the runtime.
    // SIGTERM is what a container's CMD gets; SIGHUP npm does not pass on, and ends of it: the balancer must not stay behind.
    test.skipIf(runtime !== "bun").each(["SIGTERM", "SIGHUP"] as const)(
      "%s to `npx fulcrum serve` shuts the whole chain down, nothing left serving",
      async (signal) => {
        const port = await freePort();
        const config = writeConfig({
          listen: { port, host: "127.0.0.1" },
          targetGroups: { app: { targets: [{ url: up.url }] } },
          defaultAction: { forward: "app" },
          admin: { api: false },
        });
        const npx = spawn("npx", ["fulcrum", "serve", "--config", config], { cwd: ROOT, stdio: "ignore" });
        const health = () => fetch(`http://127.0.0.1:${port}/__fulcrum/health`, { signal: AbortSignal.timeout(1000) }).then((r) => r.status, () => "refused");
        for (let i = 0; i < 300 && (await health()) !== 200; i++) await Bun.sleep(100);
        const chain = descendants(npx.pid!);
        expect(chain.length).toBeGreaterThan(0);
        npx.kill(signal);
        const alive = () => chain.filter((pid) => existsSync(`/proc/${pid}`) && !readFileSync(`/proc/${pid}/stat`, "utf8").includes(") Z "));
        for (let i = 0; i < 100 && alive().length > 0; i++) await Bun.sleep(100);
        expect(alive()).toEqual([]);
        expect(await health()).toBe("refused");
      },
      60_000,
    );
  });
}
