/**
 * ALB-style listener rules, weighted target groups and sticky sessions on
 * every runtime, through the real balancer started with `fulcrum serve`.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { type Balancer, type Runtime, startBalancer } from "./launch.ts";
import { rawRequest } from "./raw-http.ts";
import { startUpstream, type Upstream } from "./upstream.ts";

const SECRET = "0123456789abcdef0123456789abcdef-e2e";
const fixed = (body: string, statusCode = 200) => ({ fixedResponse: { statusCode, messageBody: body } });

export function ruleScenarios(runtime: Runtime): void {
  describe(`rules and stickiness on ${runtime}`, () => {
    const ip = (addr: string): Record<string, string> => (runtime === "workerd" ? { "cf-connecting-ip": addr } : {});
    const cf = ip("127.0.0.1");
    let ups: Record<string, Upstream> = {};
    let b: Balancer;

    beforeAll(async () => {
      const names = ["blue", "green", "canary", "s1", "s2", "s3"];
      const started = await Promise.all(names.map((n) => startUpstream(n)));
      ups = Object.fromEntries(started.map((u) => [u.name, u]));
      const check = { path: "/health", interval: 1, timeout: 0.5, unhealthyThreshold: 2, healthyThreshold: 2, jitter: 0 };
      const three = ["s1", "s2", "s3"].map((n) => ({ url: ups[n]!.url }));
      b = await startBalancer(runtime, {
        listen: { port: 0 },
        targetGroups: {
          blue: { targets: [{ url: ups.blue!.url }] },
          green: { targets: [{ url: ups.green!.url }] },
          canary: { targets: [{ url: ups.canary!.url }] },
          // least_connections: stickiness sits outside the strategy, so it works with any (nginx's old sticky module could not).
          sticky: { strategy: "least_connections", targets: three, healthCheck: check, stickiness: { type: "lb_cookie", secret: SECRET } },
          appsticky: { targets: three, stickiness: { type: "app_cookie", appCookieName: "SESSION", secret: SECRET, indirect: true } },
        },
        rules: [
          // Listed out of order on purpose: priority decides, not position.
          { priority: 10, conditions: [{ pathPattern: { values: ["/p/*"] } }], action: fixed("p10") },
          { priority: 5, conditions: [{ pathPattern: { values: ["/p/*"] } }], action: fixed("p5") },
          { priority: 1, conditions: [{ pathPattern: { values: ["/admin", "/admin/*"] } }], action: fixed("admin is closed", 403) },
          { priority: 20, conditions: [{ hostHeader: { values: ["*.example.test"] } }], action: fixed("host") },
          { priority: 30, conditions: [{ httpHeader: { name: "X-Env", values: ["st?ging"] } }], action: fixed("header") },
          { priority: 40, conditions: [{ httpRequestMethod: { values: ["DELETE"] } }], action: fixed("method") },
          { priority: 50, conditions: [{ queryString: { values: [{ key: "v", value: "2*" }] } }], action: fixed("query") },
          { priority: 60, conditions: [{ pathPattern: { values: ["/src"] } }, { sourceIp: { values: ["127.0.0.0/8", "::1/128"] } }], action: fixed("source") },
          { priority: 61, conditions: [{ pathPattern: { values: ["/src10"] } }, { sourceIp: { values: ["10.0.0.0/8"] } }], action: fixed("source10") },
          {
            priority: 70,
            conditions: [{ pathPattern: { values: ["/canary*"] } }],
            action: { forward: { targetGroups: [{ group: "blue", weight: 90 }, { group: "canary", weight: 10 }] } },
          },
          {
            priority: 75,
            conditions: [{ pathPattern: { values: ["/gcanary*"] } }],
            action: {
              forward: { targetGroups: [{ group: "blue", weight: 50 }, { group: "canary", weight: 50 }], stickiness: { enabled: true, duration: 600 } },
            },
          },
          { priority: 80, conditions: [{ pathPattern: { values: ["/sticky*"] } }], action: { forward: "sticky" } },
          { priority: 85, conditions: [{ pathPattern: { values: ["/app*"] } }], action: { forward: "appsticky" } },
          { priority: 90, conditions: [{ pathPattern: { values: ["/redirect*"] } }], action: { redirect: { protocol: "HTTPS", statusCode: 301 } } },
          {
            priority: 95,
            conditions: [{ pathPattern: { values: ["/moved/*"] } }],
            action: { redirect: { host: "new.example.test", path: "/new/#{path}", statusCode: 302 } },
          },
        ],
        defaultAction: { forward: "green" },
      });
    }, 120_000);

    afterAll(async () => {
      await b?.stop();
      await Promise.all(Object.values(ups).map((u) => u.close()));
    }, 30_000);

    const get = (path: string, init: { headers?: Record<string, string>; method?: string } = {}) =>
      fetch(b.url + path, { method: init.method, headers: { ...cf, ...init.headers }, redirect: "manual" });
    const text = async (path: string, init?: { headers?: Record<string, string>; method?: string }) => (await get(path, init)).text();
    const servedBy = async (path: string, headers: Record<string, string> = {}) => {
      const r = await get(path, { headers });
      await r.arrayBuffer();
      return { by: r.headers.get("x-served-by"), setCookie: r.headers.getSetCookie() };
    };

    test("priorities: the lowest matching priority wins, whatever the order in the file", async () => {
      expect(await text("/p/x")).toBe("p5");
      expect(await text("/nothing")).toContain('"server":"green"');
    });

    test("each condition type matches with ALB semantics; conditions in a rule are AND-ed", async () => {
      expect(await text("/h", { headers: { host: "shop.example.test" } })).toBe("host");
      expect(await text("/h", { headers: { "x-env": "staging" } })).toBe("header");
      expect(await text("/h", { headers: { "x-env": "production" } })).toContain('"server":"green"');
      expect(await text("/m", { method: "DELETE" })).toBe("method");
      expect(await text("/q?a=1&v=2.5")).toBe("query");
      expect(await text("/q?v=3")).toContain('"server":"green"');
      expect(await text("/src")).toBe("source");
      // sourceIp 10/8 does not match a loopback client (on Workers: a CF-Connecting-IP outside it).
      expect(await text("/src10")).toContain('"server":"green"');
      if (runtime === "workerd") expect(await text("/src10", { headers: ip("10.1.2.3") })).toBe("source10");
    });

    test("paths are normalised before matching (/static/../admin, /%61dmin), but forwarded as sent", async () => {
      for (const target of ["/static/../admin", "/%61dmin", "/admin/./x"]) {
        const r = await rawRequest(
          b.port,
          `GET ${target} HTTP/1.1\r\nHost: x\r\nConnection: close${runtime === "workerd" ? "\r\nCF-Connecting-IP: 127.0.0.1" : ""}`,
        );
        expect([target, r.status]).toEqual([target, 403]);
      }
      const r = await rawRequest(
        b.port,
        `GET /%61bc HTTP/1.1\r\nHost: x\r\nConnection: close${runtime === "workerd" ? "\r\nCF-Connecting-IP: 127.0.0.1" : ""}`,
      );
      expect(JSON.parse(r.body.toString()).url).toBe("/%61bc");
    });

    test("redirects and fixed responses", async () => {
      const https = await get("/redirect/a?b=1");
      expect(https.status).toBe(301);
      expect(https.headers.get("location")).toBe("https://127.0.0.1/redirect/a?b=1");
      const moved = await get("/moved/x/y?z=1");
      expect(moved.status).toBe(302);
      expect(moved.headers.get("location")).toBe(`http://new.example.test:${b.port}/new/moved/x/y?z=1`);
      const closed = await get("/admin");
      expect(closed.status).toBe(403);
      expect(closed.headers.get("content-type")).toContain("text/plain");
      expect(await closed.text()).toBe("admin is closed");
    });

    test("a 90/10 canary split holds within ±2% over 4,000 requests", async () => {
      // ±2% is over 4 standard deviations of a fair 10% draw at this count (0.47%).
      let canary = 0;
      for (let i = 0; i < 4_000; i++) {
        if ((await servedBy("/canary")).by === "canary") canary++;
      }
      expect(canary).toBeGreaterThanOrEqual(320);
      expect(canary).toBeLessThanOrEqual(480);
    }, 120_000);

    test("group stickiness keeps a client on the group it was first given", async () => {
      for (let client = 0; client < 6; client++) {
        const first = await servedBy("/gcanary");
        const cookie = first.setCookie.find((c) => c.startsWith("FulcrumTG="))!;
        expect(cookie).toContain("Max-Age=600");
        const pair = cookie.split(";")[0]!;
        for (let i = 0; i < 10; i++) expect((await servedBy("/gcanary", { cookie: pair })).by).toBe(first.by);
      }
    });

    test("lb_cookie: round trip, tampered cookie treated as absent, failover with a new cookie", async () => {
      const first = await servedBy("/sticky");
      const issued = first.setCookie.find((c) => c.startsWith("FulcrumLB="))!;
      expect(issued).toMatch(/HttpOnly/i);
      expect(issued).not.toContain("127.0.0.1"); // opaque: no internal address
      const pair = issued.split(";")[0]!;
      for (let i = 0; i < 12; i++) expect((await servedBy("/sticky", { cookie: pair })).by).toBe(first.by);

      const value = pair.slice("FulcrumLB=".length);
      const tampered = `FulcrumLB=${value.slice(0, -2)}${value.endsWith("AA") ? "BB" : "AA"}`;
      const seen = new Set<string | null>();
      let reissued = 0;
      for (let i = 0; i < 6; i++) {
        const r = await servedBy("/sticky", { cookie: tampered });
        seen.add(r.by);
        if (r.setCookie.some((c) => c.startsWith("FulcrumLB="))) reissued++;
      }
      expect(seen.size).toBeGreaterThan(1); // not pinned: the strategy picks again
      expect(reissued).toBe(6);

      // Failover: the bound target turns unhealthy; the client moves and gets a new cookie.
      ups[first.by!]!.healthy = false;
      try {
        let moved: { by: string | null; setCookie: string[] } | undefined;
        for (let i = 0; i < 80 && !moved; i++) {
          const r = await servedBy("/sticky", { cookie: pair });
          if (r.by !== first.by) moved = r;
          else await Bun.sleep(100);
        }
        expect(moved).toBeDefined();
        const renewed = moved!.setCookie.find((c) => c.startsWith("FulcrumLB="))!;
        expect(renewed.split(";")[0]).not.toBe(pair);
        for (let i = 0; i < 5; i++) expect((await servedBy("/sticky", { cookie: renewed.split(";")[0]! })).by).toBe(moved!.by);
      } finally {
        ups[first.by!]!.healthy = true;
      }
    }, 30_000);

    test("app_cookie: bound once the application sets its cookie, only while it is sent; indirect strips ours", async () => {
      const login = await servedBy("/app-login");
      const ours = login.setCookie.find((c) => c.startsWith("FulcrumAPP="));
      expect(ours).toBeDefined();
      const session = login.setCookie.find((c) => c.startsWith("SESSION="))!.split(";")[0]!;
      const cookie = `${session}; ${ours!.split(";")[0]}`;
      for (let i = 0; i < 10; i++) {
        const r = await get("/app/x", { headers: { cookie } });
        const seen = (await r.json()) as { server: string; headers: Record<string, string> };
        expect(seen.server).toBe(login.by!);
        // indirect: the target sees its own cookie, never the balancer's.
        expect(seen.headers.cookie).toBe(session);
      }
      // Without the application's cookie the binding does not count: round robin spreads again.
      const spread = new Set<string | null>();
      for (let i = 0; i < 6; i++) spread.add((await servedBy("/app/x", { cookie: ours!.split(";")[0]! })).by);
      expect(spread.size).toBeGreaterThan(1);
    });
  });
}
