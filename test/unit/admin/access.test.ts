/**
 * Who may use the admin API (src/admin/access.ts): browsers on other sites and
 * names rebound to 127.0.0.1 are refused before credentials are looked at;
 * credentials, where configured, say who the caller is. The configs go
 * through ApiSchema, as a config file's do, so the defaults (127.0.0.1:9901)
 * are the real ones.
 */
import { describe, expect, test } from "bun:test";
import * as v from "valibot";
import { adminApi } from "../../../routes/admin-api.ts";
import { type Access, apiAccess } from "../../../src/admin/access.ts";
import { type ApiConfig, ApiSchema } from "../../../src/admin/schema.ts";
import { createBalancer } from "../../../src/app/balancer.ts";
import { validateConfig } from "../../../src/config/load.ts";
import { quietPlatform } from "../quiet-platform.ts";

/** An `admin.api` value as the config file would give it (never `false` here). */
function api(input: unknown): ApiConfig {
  const parsed = v.parse(ApiSchema, input);
  if (parsed === false) throw new Error("expected an enabled API");
  return parsed;
}

/** A request to the API as a client sends it: a Request built in code has no Host header unless given one. */
const request = (headers: Record<string, string>, method = "GET") => new Request("http://127.0.0.1:9901/v1/status", { method, headers });

const basicOf = (user: string, pass: string) => `Basic ${btoa(`${user}:${pass}`)}`;

async function refusal(access: Access): Promise<{ status: number; error: string; cacheControl: string | null }> {
  if (!("refused" in access)) throw new Error(`expected a refusal, got caller ${JSON.stringify(access.who)}`);
  const r = access.refused;
  const body = await r.text();
  return { status: r.status, error: r.status === 401 ? body : (JSON.parse(body) as { error: string }).error, cacheControl: r.headers.get("cache-control") };
}

const who = (access: Access) => ("who" in access ? access.who : `refused ${access.refused.status}`);

describe("DNS rebinding: an API on loopback answers loopback Host names only", () => {
  const check = apiAccess(api({}), {});

  test.each(["evil.example:9901", "evil.example", "127.0.0.1.nip.io:9901", "localhost.evil.example:9901", "10.0.0.5:9901", "[::2]:9901"])(
    "Host %p is refused with 403, before anything else",
    async (host) => {
      const r = await refusal(await check(request({ host })));
      expect(r.status).toBe(403);
      expect(r.error).toContain(`host ${JSON.stringify(host)} refused`);
      // A refusal must not be cached by a browser and replayed for the right name.
      expect(r.cacheControl).toBe("no-store");
    },
  );

  test("a request without a Host header is refused too: nothing says it is for loopback", async () => {
    expect((await refusal(await check(request({})))).status).toBe(403);
  });

  test.each(["127.0.0.1:9901", "127.0.0.1", "localhost:9901", "LOCALHOST:9901", "localhost.:9901", "app.localhost:9901", "127.3.2.1:9901", "[::1]:9901"])(
    "Host %p is loopback: accepted",
    async (host) => {
      expect(who(await check(request({ host })))).toBe("");
    },
  );

  test("an API listening on all interfaces (with credentials) takes any Host: the names it is reached by are not known", async () => {
    const open = apiAccess(api({ listen: { host: "0.0.0.0" }, auth: { bearer: { token: "s3cret" } } }), {});
    expect(who(await open(request({ host: "lb.internal.example:9901", authorization: "Bearer s3cret" })))).toBe("token");
  });

  test("an API on a path of the traffic listeners takes the site's own Host", async () => {
    const onPath = apiAccess(api({ path: "/__fulcrum/api", auth: { bearer: { token: "s3cret" } } }), {});
    expect(who(await onPath(request({ host: "www.example.com", authorization: "Bearer s3cret" })))).toBe("token");
  });
});

describe("browsers on other sites are refused (CSRF)", () => {
  const check = apiAccess(api({}), {});
  const host = "127.0.0.1:9901";

  test("an Origin that is the API's own is accepted", async () => {
    expect(who(await check(request({ host, origin: "http://127.0.0.1:9901" }, "PUT")))).toBe("");
    expect(who(await check(request({ host: "[::1]:9901", origin: "http://[::1]:9901" }, "PUT")))).toBe("");
  });

  test.each([
    ["another site", "https://evil.example"],
    ["the same host on another port", "http://127.0.0.1:8080"],
    ["another loopback name for the same socket", "http://localhost:9901"],
    ["an opaque origin (sandboxed frame, file:)", "null"],
  ])("an Origin from %s is refused with 403", async (_, origin) => {
    const r = await refusal(await check(request({ host, origin }, "PUT")));
    expect(r.status).toBe(403);
    expect(r.error).toBe("cross-origin requests are refused");
  });

  test.each(["cross-site", "same-site"])("Sec-Fetch-Site: %s is refused with 403, even with no Origin", async (site) => {
    const r = await refusal(await check(request({ host, "sec-fetch-site": site }, "POST")));
    expect(r.status).toBe(403);
    expect(r.error).toBe("cross-site requests are refused");
  });

  test.each(["same-origin", "none"])("Sec-Fetch-Site: %s (the API's own page, a typed URL) is accepted", async (site) => {
    expect(who(await check(request({ host, "sec-fetch-site": site })))).toBe("");
  });

  test("the browser checks come before credentials: a valid token from another site is still refused, with 403 not 401", async () => {
    const guarded = apiAccess(api({ auth: { bearer: { token: "s3cret" } } }), {});
    const r = await refusal(await guarded(request({ host, origin: "https://evil.example", authorization: "Bearer s3cret" }, "PUT")));
    expect(r.status).toBe(403);
  });
});

describe("credentials: who the caller is", () => {
  const host = "127.0.0.1:9901";
  const env = { FULCRUM_CI_TOKEN: "ci-token-from-env" };
  const check = apiAccess(
    api({
      auth: {
        basic: { username: "ops", password: "pa55word" },
        bearer: [{ name: "deploy-bot", token: "deploy-token" }, { name: "ci", tokenEnv: "FULCRUM_CI_TOKEN" }, { token: "anonymous-token" }],
      },
    }),
    env,
  );

  test("each bearer token is told apart by its name; one without a name is just `token`", async () => {
    expect(who(await check(request({ host, authorization: "Bearer deploy-token" })))).toBe("token deploy-bot");
    expect(who(await check(request({ host, authorization: "Bearer ci-token-from-env" })))).toBe("token ci");
    expect(who(await check(request({ host, authorization: "Bearer anonymous-token" })))).toBe("token");
  });

  test("basic auth names the user", async () => {
    expect(who(await check(request({ host, authorization: basicOf("ops", "pa55word") })))).toBe("user ops");
  });

  test.each([
    ["no credentials", {}],
    ["a wrong token", { authorization: "Bearer deploy-token-2" }],
    ["a token's name instead of the token", { authorization: "Bearer deploy-bot" }],
    ["a wrong password", { authorization: basicOf("ops", "pa55wore") }],
    ["a token sent as Basic", { authorization: basicOf("deploy-bot", "deploy-token") }],
    ["an unknown scheme", { authorization: "Token deploy-token" }],
  ])("%s: 401 that names both accepted schemes", async (_, headers: Record<string, string>) => {
    const access = await check(request({ host, ...headers }));
    const r = await refusal(access);
    expect(r.status).toBe(401);
    expect(r.error).toBe("401 Unauthorized\n");
    expect(r.cacheControl).toBe("no-store");
    // What a client needs to retry: the schemes and the realm (RFC 9110 §11.6.1).
    expect("refused" in access && access.refused.headers.get("www-authenticate")).toBe(
      'Basic realm="fulcrum admin", charset="UTF-8", Bearer realm="fulcrum admin"',
    );
  });

  test("a token read from an environment variable that is not set fails at start, naming the field, not open", () => {
    expect(() => apiAccess(api({ auth: { bearer: [{ token: "a" }, { name: "ci", tokenEnv: "FULCRUM_CI_TOKEN" }] } }), {})).toThrow(
      "admin.api.auth.bearer[1].tokenEnv: expected environment variable FULCRUM_CI_TOKEN to be set, got nothing",
    );
  });
});

describe("through the admin API: the token's name is who the change log says changed it", () => {
  const config = validateConfig({
    listen: { port: 0 },
    targetGroups: { blue: { targets: [{ url: "http://10.0.0.1" }] }, green: { targets: [{ url: "http://10.0.0.2" }] } },
    defaultAction: { forward: "blue" },
  });
  const spec = api({ auth: { bearer: [{ name: "deploy-bot", token: "deploy-token" }, { name: "ci", token: "ci-token" }] } });

  async function world() {
    const app = createBalancer(config, quietPlatform);
    await app.balancer.ready();
    const http = adminApi({ ops: app.balancer.control, base: "", access: apiAccess(spec, {}), clientAddress: () => "10.1.2.3", log: () => {} });
    const call = (method: string, path: string, headers: Record<string, string>, body?: unknown) =>
      http.fetch(
        new Request(`http://127.0.0.1:9901${path}`, {
          method,
          headers: { host: "127.0.0.1:9901", "content-type": "application/json", ...headers },
          ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        }),
      );
    return { balancer: app.balancer, call };
  }

  test("a change made with the ci token is recorded as by `api <client> (token ci)`", async () => {
    const w = await world();
    const r = await w.call("PUT", "/v1/rules/default/action", { authorization: "Bearer ci-token" }, { forward: "green" });
    expect(r.status).toBe(200);
    const events = await w.balancer.changeLog.recent(10);
    expect(events.map((e) => [e.kind, e.source])).toEqual([["route", "api 10.1.2.3 (token ci)"]]);
  });

  test("refused requests change nothing: rebinding, cross-site and bad token", async () => {
    const w = await world();
    const put = (headers: Record<string, string>) => w.call("PUT", "/v1/rules/default/action", headers, { forward: "green" });
    expect((await put({ host: "evil.example:9901", authorization: "Bearer ci-token" })).status).toBe(403);
    expect((await put({ "sec-fetch-site": "cross-site", authorization: "Bearer ci-token" })).status).toBe(403);
    expect((await put({ origin: "https://evil.example", authorization: "Bearer ci-token" })).status).toBe(403);
    expect((await put({ authorization: "Bearer not-a-token" })).status).toBe(401);
    expect((await put({})).status).toBe(401);
    expect((await w.balancer.state.load()).actions).toEqual({});
    expect(await w.balancer.changeLog.recent(10)).toEqual([]);
  });
});
