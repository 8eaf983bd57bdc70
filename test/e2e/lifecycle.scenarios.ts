/**
 * The balancer's own lifecycle on the server runtimes (Bun, Deno, Node):
 * SIGTERM turns health 503, the grace period keeps serving, then listening
 * stops, in-flight requests complete, and the process exits 0. (Workers have
 * no signals: Cloudflare drains isolates itself.)
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { startBalancer, type Runtime } from "./launch.ts";
import { startUpstream, type Upstream } from "./upstream.ts";

export function lifecycleScenarios(runtime: Exclude<Runtime, "workerd">): void {
  describe(`lifecycle on ${runtime}`, () => {
    let up: Upstream;
    beforeAll(async () => {
      up = await startUpstream("a");
    });
    afterAll(() => up.close());

    test("SIGTERM: health 503 at once, grace keeps serving, in-flight requests finish, exit 0", async () => {
      const b = await startBalancer(runtime, {
        listen: { port: 0 },
        targetGroups: { app: { targets: [{ url: up.url }] } },
        defaultAction: { forward: "app" },
        shutdown: { grace: 1, deadline: 15 },
      });
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
  });
}
