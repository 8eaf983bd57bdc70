/**
 * Metrics, status and access logs from the real balancer on every runtime:
 * /metrics is parsed by Debian's `promtool check metrics`, the status JSON
 * follows a target going down, the stats page refuses a request without
 * credentials, and access log lines appear once per request.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { type Balancer, type Runtime, startBalancer } from "./launch.ts";
import { startUpstream, type Upstream } from "./upstream.ts";

const PROMTOOL = "/usr/bin/promtool";
export const STATS_CREDS = { username: "ops", password: "s3cret-password" };

export function observabilityConfig(ups: readonly Upstream[]) {
  return {
    listen: { port: 0 },
    targetGroups: {
      app: {
        targets: ups.map((u) => ({ url: u.url })),
        healthCheck: { path: "/health", interval: 1, timeout: 0.5, unhealthyThreshold: 2, healthyThreshold: 2, jitter: 0 },
      },
    },
    defaultAction: { forward: "app" },
    admin: {
      stats: { path: "/__fulcrum/stats", refresh: 0.5, auth: { basic: STATS_CREDS } },
      metrics: { path: "/__fulcrum/metrics" },
    },
    accessLog: { enabled: true, format: "json" },
  };
}

export function observabilityScenarios(runtime: Runtime): void {
  describe(`observability on ${runtime}`, () => {
    const cf: Record<string, string> = runtime === "workerd" ? { "cf-connecting-ip": "127.0.0.1" } : {};
    let ups: Upstream[] = [];
    let b: Balancer;
    const auth = { authorization: `Basic ${btoa(`${STATS_CREDS.username}:${STATS_CREDS.password}`)}` };

    beforeAll(async () => {
      ups = await Promise.all(["a", "b", "c"].map((n) => startUpstream(n)));
      b = await startBalancer(runtime, observabilityConfig(ups));
    }, 120_000);
    afterAll(async () => {
      await b?.stop();
      await Promise.all(ups.map((u) => u.close()));
    }, 30_000);

    test("/metrics is valid Prometheus text (promtool) and counts what was served", async () => {
      for (let i = 0; i < 30; i++) await (await fetch(`${b.url}/m/${i}`, { headers: cf })).arrayBuffer();
      await (await fetch(`${b.url}/status/503`, { headers: cf })).arrayBuffer();
      const res = await fetch(`${b.url}/__fulcrum/metrics`, { headers: cf });
      expect(res.status).toBe(200);
      expect(res.headers.get("content-type")).toContain("text/plain");
      const text = await res.text();
      if (!existsSync(PROMTOOL)) throw new Error(`${PROMTOOL} missing: apt-get install -y prometheus`);
      const check = Bun.spawnSync([PROMTOOL, "check", "metrics"], { stdin: new TextEncoder().encode(text), stdout: "pipe", stderr: "pipe" });
      expect(check.stdout.toString() + check.stderr.toString()).toBe("");
      expect(check.exitCode).toBe(0);
      // 10 requests per target reached each of the three (round robin), plus the 503.
      const twoxx = [...text.matchAll(/^fulcrum_target_requests_total\{[^}]*class="2xx"[^}]*\} (\d+)/gm)].map((m) => Number(m[1]));
      expect(twoxx.reduce((a, n) => a + n, 0)).toBeGreaterThanOrEqual(30);
      expect(text).toMatch(/^fulcrum_target_requests_total\{[^}]*class="5xx"[^}]*\} 1$/m);
      expect(text).toMatch(/fulcrum_target_latency_seconds\{[^}]*quantile="0.99"/);
      // The histograms count every request that reached a target, 503 included.
      const served = [...text.matchAll(/^fulcrum_target_request_duration_seconds_bucket\{[^}]*le="\+Inf"\} (\d+)/gm)].map((m) => Number(m[1]));
      expect(served.reduce((a, n) => a + n, 0)).toBeGreaterThanOrEqual(31);
      // node:http counts connections (at least the scrape's own); Bun.serve, Deno.serve and workerd cannot.
      const connections = text.match(/^fulcrum_client_connections\{[^}]*\} (\d+)$/m);
      if (runtime === "node") expect(Number(connections?.[1])).toBeGreaterThanOrEqual(1);
      else expect(connections).toBeNull();
    });

    test("status JSON shows every target and follows one going down", async () => {
      const status = async () =>
        (await (await fetch(`${b.url}/__fulcrum/stats/status.json`, { headers: { ...cf, ...auth } })).json()) as {
          groups: { name: string; healthyHosts: number; targets: { url: string; state: string }[] }[];
        };
      const first = await status();
      const app = first.groups.find((g) => g.name === "app")!;
      expect(app.targets.map((t) => t.url).sort()).toEqual(ups.map((u) => u.url).sort());
      ups[1]!.healthy = false;
      try {
        let state = "";
        for (let i = 0; i < 60 && state !== "unhealthy"; i++) {
          // On Workers probes run after requests: keep a little traffic flowing.
          await (await fetch(`${b.url}/tick`, { headers: cf })).arrayBuffer();
          state = (await status()).groups.find((g) => g.name === "app")!.targets.find((t) => t.url === ups[1]!.url)!.state;
          if (state !== "unhealthy") await Bun.sleep(100);
        }
        expect(state).toBe("unhealthy");
        expect((await status()).groups.find((g) => g.name === "app")!.healthyHosts).toBe(2);
      } finally {
        ups[1]!.healthy = true;
      }
    }, 20_000);

    test("the stats page refuses a request without credentials, or with wrong ones", async () => {
      const none = await fetch(`${b.url}/__fulcrum/stats`, { headers: cf });
      expect(none.status).toBe(401);
      expect(none.headers.get("www-authenticate")).toContain("Basic");
      const wrong = await fetch(`${b.url}/__fulcrum/stats`, { headers: { ...cf, authorization: `Basic ${btoa("ops:nope")}` } });
      expect(wrong.status).toBe(401);
      const ok = await fetch(`${b.url}/__fulcrum/stats`, { headers: { ...cf, ...auth } });
      expect(ok.status).toBe(200);
      expect(await ok.text()).toContain("<html");
    });

    test("one JSON access log line per request, with its request id", async () => {
      const id = `log-${runtime}-${Date.now()}`;
      await (await fetch(`${b.url}/logged?x=1`, { headers: { ...cf, "x-request-id": id } })).arrayBuffer();
      let line: string | undefined;
      for (let i = 0; i < 30 && !line; i++) {
        line = b.output().split("\n").find((l) => l.includes(id));
        if (!line) await Bun.sleep(100);
      }
      expect(line).toBeDefined();
      const entry = JSON.parse(line!.slice(line!.indexOf("{")));
      expect(entry).toMatchObject({ requestId: id, method: "GET", path: "/logged?x=1", group: "app", status: 200, retries: 0 });
      expect(b.output().split("\n").filter((l) => l.includes(id))).toHaveLength(1);
    });

    test("a streamed response is logged once it is complete, with the bytes relayed and the whole time (nginx)", async () => {
      const id = `stream-${runtime}-${Date.now()}`;
      const r = await fetch(`${b.url}/stream?ms=600`, { headers: { ...cf, "x-request-id": id } });
      await Bun.sleep(200);
      expect(b.output()).not.toContain(id); // headers sent, body still streaming
      const body = await r.text();
      let line: string | undefined;
      for (let i = 0; i < 30 && !line; i++) {
        line = b.output().split("\n").find((l) => l.includes(id));
        if (!line) await Bun.sleep(100);
      }
      const entry = JSON.parse(line!.slice(line!.indexOf("{")));
      expect(entry).toMatchObject({ requestId: id, path: "/stream?ms=600", status: 200, bytesOut: Buffer.byteLength(body) });
      expect(entry.totalMs).toBeGreaterThanOrEqual(550);
      expect(b.output().split("\n").filter((l) => l.includes(id))).toHaveLength(1);
    });
  });
}
