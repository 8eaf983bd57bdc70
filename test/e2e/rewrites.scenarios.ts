/**
 * Rewrites and mirroring through the real balancer on every runtime: a
 * rule's and a group's `transform` (headers to the target with placeholders,
 * headers back to the client, the path stripped, prefixed and replaced, the
 * query kept; the WebSocket handshake's are in websocket.scenarios.ts), and a
 * group's `mirror` (copies that never slow or fail the client's request), and
 * geo rule conditions (Cloudflare's request.cf on Workers, a trusted proxy's
 * headers elsewhere).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { type Balancer, type Runtime, startBalancer } from "./launch.ts";
import { startUpstream, type Upstream } from "./upstream.ts";

interface Echo {
  url: string;
  headers: Record<string, string | string[]>;
}

export function rewriteScenarios(runtime: Runtime): void {
  describe(`rewrites on ${runtime}`, () => {
    const cf: Record<string, string> = runtime === "workerd" ? { "cf-connecting-ip": "127.0.0.1" } : {};
    let ups: Upstream[] = [];
    let b: Balancer;
    let m: Balancer;
    let g: Balancer;
    let untrusting: Balancer;

    beforeAll(async () => {
      ups = await Promise.all(["api", "web"].map((n) => startUpstream(n)));
      const [api, web] = ups as [Upstream, Upstream];
      b = await startBalancer(runtime, {
        listen: { port: 0 },
        targetGroups: {
          api: {
            targets: [{ url: api.url }],
            transform: { path: { addPrefix: "/v2" }, requestHeaders: { set: { "x-group": "{group} at {target}" } } },
          },
          web: { targets: [{ url: web.url }], transform: { responseHeaders: { set: { "x-frame-options": "DENY" }, remove: ["x-served-by"] } } },
        },
        rules: [
          {
            priority: 10,
            conditions: [{ pathPattern: { values: ["/api/*"] } }],
            action: { forward: "api" },
            transform: {
              path: { stripPrefix: "/api" },
              requestHeaders: { set: { "x-client": "{client_ip}", "x-original": "{method} {path}" }, add: { "x-tag": "rule-10" }, remove: ["x-secret"] },
              responseHeaders: { add: { "x-request": "{request_id}" } },
            },
          },
          {
            priority: 20,
            conditions: [{ pathPattern: { values: ["/old/*"] } }],
            action: { forward: "web" },
            transform: { path: { replace: { regex: "^/old/(\\w+)/(\\d+)$", with: "/new/$2/$1" } } },
          },
        ],
        defaultAction: { forward: "web" },
      });
      ups.push(...(await Promise.all(["main", "shadow", "slow"].map((n) => startUpstream(n)))));
      const [main, shadow, slow] = ups.slice(2) as [Upstream, Upstream, Upstream];
      slow.delayMs = 1500;
      m = await startBalancer(runtime, {
        listen: { port: 0 },
        targetGroups: {
          main: { targets: [{ url: main.url }], mirror: { group: "shadow", maxBodyBytes: 1024 } },
          other: { targets: [{ url: main.url }], mirror: { group: "slow" } },
          shadow: { targets: [{ url: shadow.url }] },
          slow: { targets: [{ url: slow.url }], timeouts: { response: 5 } },
        },
        rules: [{ priority: 10, conditions: [{ pathPattern: { values: ["/other/*"] } }], action: { forward: "other" } }],
        defaultAction: { forward: "main" },
        admin: { metrics: { path: "/__fulcrum/metrics" } },
      });
      ups.push(...(await Promise.all(["eu", "na"].map((n) => startUpstream(n)))));
      const [eu, na] = ups.slice(5) as [Upstream, Upstream];
      const geoConfig = (trusted: boolean) => ({
        listen: { port: 0 },
        targetGroups: { eu: { targets: [{ url: eu.url }] }, na: { targets: [{ url: na.url }] }, web: { targets: [{ url: ups[1]!.url }] } },
        rules: [
          { priority: 10, conditions: [{ geo: { country: ["de", "FR"] } }], action: { forward: "eu" } },
          { priority: 20, conditions: [{ geo: { continent: ["NA"], colo: ["DFW"] } }], action: { forward: "na" } },
        ],
        defaultAction: { forward: "web" },
        forwarding: {
          trustedProxies: trusted ? ["127.0.0.1/32", "::1/128"] : [],
          geoHeaders: { country: "CF-IPCountry", continent: "X-Continent", colo: "X-Colo" },
        },
      });
      [g, untrusting] = await Promise.all([startBalancer(runtime, geoConfig(true)), startBalancer(runtime, geoConfig(false))]);
    }, 60_000);

    afterAll(async () => {
      await Promise.all([b?.stop(), m?.stop(), g?.stop(), untrusting?.stop()]);
      await Promise.all(ups.map((u) => u.close()));
    }, 30_000);

    test("a rule's transform, then its group's: the path stripped then prefixed, the query kept, headers set, added and removed with placeholders", async () => {
      const r = await fetch(`${b.url}/api/users?id=7`, { headers: { ...cf, "x-secret": "s3cret", "x-tag": "client" } });
      const echo = (await r.json()) as Echo;
      expect(echo.url).toBe("/v2/users?id=7");
      expect(echo.headers["x-client"]).toBe("127.0.0.1");
      expect(echo.headers["x-original"]).toBe("GET /api/users?id=7");
      expect(echo.headers["x-group"]).toBe(`api at 127.0.0.1:${ups[0]!.port}`);
      expect(echo.headers["x-tag"]).toBe("client, rule-10");
      expect(echo.headers["x-secret"]).toBeUndefined();
      // Back to the client: the request id the target got.
      expect(r.headers.get("x-request")).toBe(echo.headers["x-request-id"] as string);
      // The path the rules matched is the one rewritten: an escaped letter or a doubled slash does not slip past the strip.
      expect(((await (await fetch(`${b.url}/%61pi//users?id=8`, { headers: cf })).json()) as Echo).url).toBe("/v2/users?id=8");
      // "/api/" stripped to "/", then the group's prefix (as Traefik's AddPrefix: "/v2/").
      expect(((await (await fetch(`${b.url}/api/`, { headers: cf })).json()) as Echo).url).toBe("/v2/");
    });

    test("a regular expression replaces the path; a group's response headers reach the client on its answers", async () => {
      const r = await fetch(`${b.url}/old/items/42?x=1`, { headers: cf });
      expect(((await r.json()) as Echo).url).toBe("/new/42/items?x=1");
      expect(r.headers.get("x-frame-options")).toBe("DENY");
      expect(r.headers.get("x-served-by")).toBeNull();
      // Not matching the expression: the path as it was.
      expect(((await (await fetch(`${b.url}/old/items/x`, { headers: cf })).json()) as Echo).url).toBe("/old/items/x");
    });

    const metric = async (outcome: string, group = "shadow") => {
      const text = await (await fetch(`${m.url}/__fulcrum/metrics`, { headers: cf })).text();
      const line = text.split("\n").find((l) =>
        l.startsWith("fulcrum_group_mirrored_requests_total{") && l.includes(`group="${group}"`) && l.includes(`outcome="${outcome}"`)
      );
      return Number(line?.slice(line.lastIndexOf(" ") + 1));
    };
    const until = async (cond: () => boolean | Promise<boolean>) => {
      for (let i = 0; i < 100 && !(await cond()); i++) await Bun.sleep(50);
    };

    test("mirror: a copy of each request goes to the mirror group, bodies within maxBodyBytes included; larger ones are not copied", async () => {
      const [main, shadow] = ups.slice(2) as [Upstream, Upstream];
      const [h, s0] = [main.hits, shadow.hits];
      for (let i = 0; i < 5; i++) expect((await fetch(`${m.url}/x${i}`, { headers: cf })).headers.get("x-served-by")).toBe("main");
      const small = await fetch(`${m.url}/up`, { method: "POST", headers: { ...cf, "content-type": "text/plain" }, body: "x".repeat(1000) });
      expect(((await small.json()) as { bytes: number }).bytes).toBe(1000);
      const large = await fetch(`${m.url}/up`, { method: "POST", headers: cf, body: "y".repeat(5000) });
      expect(((await large.json()) as { bytes: number }).bytes).toBe(5000);
      expect(main.hits - h).toBe(7);
      await until(() => shadow.hits - s0 >= 6);
      await Bun.sleep(200);
      expect(shadow.hits - s0).toBe(6);
      expect(shadow.methods.POST).toBe(1);
      expect(await metric("answered")).toBe(6);
      expect(await metric("skipped")).toBe(1);
    });

    test("mirror: a slow or dead mirror neither slows nor fails the client's request", async () => {
      const started = Date.now();
      for (let i = 0; i < 3; i++) expect((await fetch(`${m.url}/other/${i}`, { headers: cf })).status).toBe(200);
      expect(Date.now() - started).toBeLessThan(1200);
      await until(async () => (await metric("answered", "slow")) === 3);
      expect(await metric("answered", "slow")).toBe(3);
      const shadow = ups[3]!;
      await shadow.close();
      for (let i = 0; i < 3; i++) expect((await fetch(`${m.url}/y${i}`, { headers: cf })).status).toBe(200);
      await until(async () => (await metric("failed")) === 3);
      expect(await metric("failed")).toBe(3);
    });

    const servedBy = async (bal: Balancer, headers: Record<string, string>) => {
      const r = await fetch(`${bal.url}/where`, { headers: { ...cf, ...headers } });
      await r.arrayBuffer();
      return r.headers.get("x-served-by");
    };

    if (runtime === "workerd") {
      test("geo: on Workers the location is Cloudflare's request.cf (Miniflare's: US, NA, TX, DFW); headers do not change it", async () => {
        expect(await servedBy(g, {})).toBe("na");
        expect(await servedBy(g, { "cf-ipcountry": "DE", "x-continent": "EU" })).toBe("na");
      });
    } else {
      test("geo: a trusted proxy's headers place the client; every attribute given must match; no location matches no geo condition", async () => {
        expect(await servedBy(g, { "cf-ipcountry": "DE" })).toBe("eu");
        expect(await servedBy(g, { "cf-ipcountry": "fr" })).toBe("eu");
        expect(await servedBy(g, { "cf-ipcountry": "US", "x-continent": "NA", "x-colo": "DFW" })).toBe("na");
        expect(await servedBy(g, { "cf-ipcountry": "US", "x-continent": "NA", "x-colo": "LAX" })).toBe("web");
        expect(await servedBy(g, {})).toBe("web");
      });

      test("geo: headers from a peer that is not a trusted proxy are not believed", async () => {
        expect(await servedBy(untrusting, { "cf-ipcountry": "DE" })).toBe("web");
      });
    }
  });
}
