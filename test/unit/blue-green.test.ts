/**
 * Blue/green and canary changes on a running balancer: one atomic swap of the
 * compiled rules, persisted through the state store, so another balancer
 * sharing the store follows. Real Bun upstreams; the balancer's app is called
 * directly (its fetch handler is the same on every runtime).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createBalancer } from "../../src/app/balancer.ts";
import { validateConfig } from "../../src/config/load.ts";
import { bunPlatform } from "../../src/runtimes/bun/entry.ts";
import { MemoryStateStore } from "../../src/state/memory.ts";

describe("blue/green", () => {
  const servers = ["blue", "green"].map((name) => Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: () => new Response(name) }));
  afterAll(() => servers.forEach((s) => s.stop(true)));
  const config = validateConfig({
    listen: { port: 0 },
    targetGroups: {
      blue: { targets: [{ url: `http://127.0.0.1:${servers[0]!.port}` }] },
      green: { targets: [{ url: `http://127.0.0.1:${servers[1]!.port}` }] },
    },
    rules: [{ priority: 10, conditions: [{ pathPattern: { values: ["/api/*"] } }], action: { forward: "blue" } }],
    defaultAction: { forward: "blue" },
  });
  const store = new MemoryStateStore();
  const one = createBalancer(config, { ...bunPlatform, clientAddress: () => "127.0.0.1", state: store });
  const two = createBalancer(config, { ...bunPlatform, clientAddress: () => "127.0.0.1", state: store });
  beforeAll(() => Promise.all([one.balancer.ready(), two.balancer.ready()]));
  const ask = async (app: typeof one, path: string) => (await app.fetch(new Request(`http://lb.test${path}`))).text();

  test("switching the default action is atomic under concurrent traffic, and persists for the other instance", async () => {
    expect(await ask(one, "/")).toBe("blue");
    const answers: string[] = [];
    let switched = false;
    const traffic = (async () => {
      for (let i = 0; i < 300; i++) {
        const before = switched;
        const a = await ask(one, "/");
        answers.push(a);
        // Once the switch has completed, no request may see the old action.
        if (before) expect(a).toBe("green");
      }
    })();
    await Bun.sleep(5);
    await one.balancer.control.setAction("default", { forward: "green" });
    switched = true;
    await traffic;
    expect(new Set(answers)).toEqual(new Set(["blue", "green"]));
    expect((await store.load()).actions.default).toEqual({ forward: "green" });
    expect(await ask(two, "/")).toBe("green");
    // The rule kept its own action.
    expect(await ask(one, "/api/x")).toBe("blue");
  });

  test("a rule's action and canary weights change the same way; bad changes are refused", async () => {
    await two.balancer.control.setAction(10, { forward: { targetGroups: [{ group: "blue", weight: 0 }, { group: "green", weight: 100 }] } });
    expect(await ask(one, "/api/x")).toBe("green");
    await expect(one.balancer.control.setAction(10, { forward: "purple" })).rejects.toThrow('unknown target group "purple"');
    await expect(one.balancer.control.setAction(99, { forward: "blue" })).rejects.toThrow('no rule "99"; rules: 10, default');
    expect(await ask(one, "/api/x")).toBe("green");
  });
});
