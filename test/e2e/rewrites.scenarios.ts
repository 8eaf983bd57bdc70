/**
 * Rewrites through the real balancer on every runtime: a rule's and a
 * group's `transform` (headers to the target with placeholders, headers back
 * to the client, the path stripped, prefixed and replaced, the query kept),
 * over plain HTTP and on a WebSocket handshake's path.
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
    }, 60_000);

    afterAll(async () => {
      await b?.stop();
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
  });
}
