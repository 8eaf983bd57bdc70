import { describe, expect, test } from "bun:test";
import * as v from "valibot";
import { statsRoutes } from "../../../routes/stats.ts";
import type { GroupReport } from "../../../src/metrics/health-provider.ts";
import { MetricsEndpointSchema, StatsSchema } from "../../../src/stats/schema.ts";
import { appHealth, fedMetrics } from "../metrics/fixtures.ts";

const auth = { authorization: `Basic ${btoa("ops:pw")}` };

function app(metricsAuth = false, health: () => GroupReport[] = () => appHealth()) {
  return statsRoutes({
    metrics: fedMetrics(),
    health,
    config: {
      stats: v.parse(StatsSchema, { auth: { basic: { username: "ops", password: "pw" } }, refresh: 1 }),
      metrics: v.parse(MetricsEndpointSchema, metricsAuth ? { auth: { bearer: { token: "t0k" } } } : {}),
    },
    env: {},
  });
}

describe("stats routes", () => {
  test("page and JSON need credentials", async () => {
    const a = app();
    for (const path of ["/__fulcrum/stats", "/__fulcrum/stats/status.json"]) {
      const res = await a.request(path);
      expect(res.status).toBe(401);
      expect(res.headers.get("www-authenticate")).toContain("Basic");
      expect(await res.text()).not.toContain("10.0.0.1");
      expect((await a.request(path, { headers: { authorization: `Basic ${btoa("ops:nope")}` } })).status).toBe(401);
    }
  });

  test("the page is self-contained and embeds the first snapshot", async () => {
    const res = await app().request("/__fulcrum/stats", { headers: auth });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toStartWith("text/html");
    expect(res.headers.get("content-security-policy")).toContain("default-src 'none'");
    const html = await res.text();
    expect(html).not.toMatch(/(src|href)="https?:/); // nothing external
    expect(html).toContain("http://10.0.0.1:9001");
    expect(html).toContain('"statusPath":"/__fulcrum/stats/status.json","refresh":1');
  });

  test("a target URL cannot break out of the embedded JSON", async () => {
    const evil: GroupReport[] = [{ group: "g", targets: [{ url: "http://x/</script><script>alert(1)</script>", state: "healthy", weight: 1, inflight: 0 }] }];
    const html = await (await app(false, () => evil).request("/__fulcrum/stats", { headers: auth })).text();
    expect(html).not.toContain("</script><script>alert(1)");
    expect(html).toContain("\\u003c/script>");
  });

  test("status.json has the snapshot, live from the health provider", async () => {
    let state: GroupReport["targets"][number]["state"] = "healthy";
    const a = app(false, () => appHealth(state));
    const read = async () =>
      (await (await a.request("/__fulcrum/stats/status.json", { headers: auth })).json()) as {
        groups: { healthyHosts: number; targets: { url: string; state: string }[] }[];
      };
    expect((await read()).groups[0]!.healthyHosts).toBe(2);
    state = "unhealthy";
    const s = await read();
    expect(s.groups[0]!.healthyHosts).toBe(1);
    expect(s.groups[0]!.targets[1]).toMatchObject({ url: "http://10.0.0.2:9002", state: "unhealthy" });
  });

  test("metrics: open when no auth configured, bearer when configured", async () => {
    const open = await app().request("/__fulcrum/metrics");
    expect(open.status).toBe(200);
    expect(open.headers.get("content-type")).toBe("text/plain; version=0.0.4; charset=utf-8");
    expect(await open.text()).toContain("# TYPE fulcrum_target_requests_total counter");
    const a = app(true);
    const denied = await a.request("/__fulcrum/metrics");
    expect(denied.status).toBe(401);
    expect(denied.headers.get("www-authenticate")).toBe('Bearer realm="fulcrum metrics"');
    expect((await a.request("/__fulcrum/metrics", { headers: { authorization: "Bearer t0k" } })).status).toBe(200);
  });

  test("nothing is registered when stats and metrics are not configured", async () => {
    const a = statsRoutes({ metrics: fedMetrics(), health: () => [], config: {}, env: {} });
    expect((await a.request("/__fulcrum/stats")).status).toBe(404);
    expect((await a.request("/__fulcrum/metrics")).status).toBe(404);
  });
});
