/**
 * Draining a target on a running balancer (the core function the admin API
 * will expose): no new requests or sessions, in-flight requests finish,
 * sticky clients stay until the deregistration delay, then move
 * (the gap in haproxy#2894). Real Bun upstreams; the balancer's app is
 * called directly.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createBalancer } from "../../src/app/balancer.ts";
import { validateConfig } from "../../src/config/load.ts";
import { bunPlatform } from "../../src/runtimes/bun/entry.ts";

describe("draining", () => {
  const servers = ["a", "b"].map((name) =>
    Bun.serve({
      port: 0,
      hostname: "127.0.0.1",
      async fetch(req) {
        if (new URL(req.url).pathname === "/slow") await Bun.sleep(400);
        return new Response(name, { headers: { "x-served-by": name } });
      },
    })
  );
  afterAll(() => servers.forEach((s) => s.stop(true)));
  let clock = 1_000_000;
  const app = createBalancer(
    validateConfig({
      listen: { port: 0 },
      targetGroups: {
        app: {
          targets: servers.map((s) => ({ url: `http://127.0.0.1:${s.port}` })),
          deregistrationDelay: 30,
          stickiness: { type: "lb_cookie", secret: "0123456789abcdef0123456789abcdef" },
        },
      },
      defaultAction: { forward: "app" },
    }),
    { ...bunPlatform, clientAddress: () => "127.0.0.1", now: () => clock },
  );
  beforeAll(() => app.balancer.ready());
  const group = app.balancer.group("app");
  const ask = (path: string, cookie?: string) => app.fetch(new Request(`http://lb.test${path}`, { headers: cookie ? { cookie } : {} }));

  test("in-flight requests finish; new requests and new sessions avoid the target; sticky clients stay until the deadline", async () => {
    // A sticky client bound to a.
    let cookie = "";
    for (let i = 0; i < 4 && !cookie; i++) {
      const r = await ask("/");
      const set = r.headers.getSetCookie()[0];
      if ((await r.text()) === "a" && set) cookie = set.split(";")[0]!;
    }
    expect(cookie).toStartWith("FulcrumLB=");
    const inflight = ask("/slow", cookie); // bound to a
    await Bun.sleep(50);
    group.health.setDraining(0, clock + 30_000, clock);
    // Its in-flight request completes normally.
    expect(await (await inflight).text()).toBe("a");
    // New requests (no cookie) all go to b.
    for (let i = 0; i < 6; i++) expect(await (await ask("/")).text()).toBe("b");
    // The sticky client stays on a while the deregistration delay lasts...
    clock += 29_000;
    for (let i = 0; i < 3; i++) expect(await (await ask("/", cookie)).text()).toBe("a");
    // ...and is redispatched, with a new cookie, after it.
    clock += 2_000;
    const moved = await ask("/", cookie);
    expect(await moved.text()).toBe("b");
    expect(moved.headers.getSetCookie()[0]).toStartWith("FulcrumLB=");
  });
});
