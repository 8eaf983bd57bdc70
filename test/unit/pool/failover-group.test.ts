/**
 * What failover counts as available: a target that can take a new request
 * (healthy, not draining, weight above 0). Through a balancer with fake
 * targets; /metrics-style merging of the gauge across workers too.
 */
import { describe, expect, test } from "bun:test";
import { createBalancer } from "../../../src/app/balancer.ts";
import { validateConfig } from "../../../src/config/load.ts";
import { exportMetrics, mergeExports } from "../../../src/metrics/export.ts";
import type { UpstreamRequest } from "../../../src/platform.ts";
import { quietPlatform } from "../quiet-platform.ts";

const [A, B, C] = ["http://10.0.0.1", "http://10.0.0.2", "http://10.0.0.3"];

async function servedBy(targets: { url: string; weight?: number; drain?: boolean }[], status?: (active: boolean | undefined) => void): Promise<string[]> {
  const upstream = async (req: UpstreamRequest) => new Response(req.origin);
  const config = validateConfig({
    listen: { port: 0 },
    targetGroups: { main: { targets, fallbackGroup: "spare", minHealthy: 2 }, spare: { targets: [{ url: C }] } },
    defaultAction: { forward: "main" },
    admin: { api: false },
  });
  const app = createBalancer(config, { ...quietPlatform, upstream });
  await app.balancer.ready();
  const seen = new Set<string>();
  for (let i = 0; i < 6; i++) seen.add(await (await app.fetch(new Request("http://lb/x"))).text());
  status?.((await app.balancer.control.status()).groups.find((g) => g.name === "main")?.fallback?.active);
  return [...seen].sort();
}

describe("failover counts targets that can take a request", () => {
  test("two healthy targets of weight 1: no failover", async () => {
    expect(await servedBy([{ url: A }, { url: B }])).toEqual([A, B]);
  });

  test("a target of weight 0 does not count: the traffic goes to the fallback, and status says so", async () => {
    let active: boolean | undefined;
    expect(await servedBy([{ url: A }, { url: B, weight: 0 }], (a) => (active = a))).toEqual([C]);
    expect(active).toBe(true);
    await servedBy([{ url: A }, { url: B }], (a) => (active = a));
    expect(active).toBe(false);
  });

  test("nor does a draining one", async () => {
    expect(await servedBy([{ url: A }, { url: B, drain: true }])).toEqual([C]);
  });

  test("merged across workers, a group failed over on any of them is failed over", () => {
    const config = { now: () => 0 };
    const worker = (failedOver: number) => {
      const m = mergeExports([], config);
      m.group("main").failedOver = failedOver;
      return exportMetrics(m, [], "h:1");
    };
    expect(mergeExports([worker(0), worker(1)], config).groups.get("main")!.failedOver).toBe(1);
    expect(mergeExports([worker(0), worker(0)], config).groups.get("main")!.failedOver).toBe(0);
  });
});
