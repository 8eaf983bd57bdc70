import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import * as v from "valibot";
import { compileRules, type RuleRequest } from "../../../src/rules/compile.ts";
import { compileCondition } from "../../../src/rules/conditions.ts";
import { RequestView } from "../../../src/rules/request-view.ts";
import { ActionSchema, ConditionSchema, type RuleConfig, RuleSchema } from "../../../src/rules/schema.ts";

const parseRules = (rules: unknown[]): RuleConfig[] => rules.map((r) => v.parse(RuleSchema, r));
const forward = (group: string) => ({ forward: group });
const defaultAction = v.parse(ActionSchema, forward("default"));

function req(over: Partial<Omit<RuleRequest, "headers">> & { headers?: Headers | Record<string, string> } = {}): RuleRequest {
  const headers = over.headers instanceof Headers ? over.headers : new Headers(over.headers ?? {});
  return { method: "GET", host: "example.com", path: "/", query: "", clientIp: "192.0.2.1", ...over, headers };
}

/** The group a request is forwarded to (or the priority/kind for other actions). */
function routeOf(rules: unknown[]) {
  const router = compileRules(parseRules(rules), defaultAction);
  return (r: RuleRequest) => {
    const m = router.match(r);
    return m.action.kind === "forward" ? m.action.targetGroups[0]!.group : m.action.kind;
  };
}

const one = (condition: unknown) => routeOf([{ priority: 1, conditions: [condition], action: forward("hit") }]);

describe("conditions (ALB semantics)", () => {
  test("pathPattern: wildcards, case-sensitive, matched on the normalised path", () => {
    const route = one({ pathPattern: { values: ["/admin/*", "/img/*.png", "/v?/x"] } });
    expect(route(req({ path: "/admin/users" }))).toBe("hit");
    expect(route(req({ path: "/Admin/users" }))).toBe("default");
    expect(route(req({ path: "/img/a/b.png" }))).toBe("hit");
    expect(route(req({ path: "/v2/x" }))).toBe("hit");
    expect(route(req({ path: "/v22/x" }))).toBe("default");
    // No bypass by spelling: dot segments and encoded unreserved characters.
    expect(route(req({ path: "/static/../admin/x" }))).toBe("hit");
    expect(route(req({ path: "/%61dmin/x" }))).toBe("hit");
    expect(route(req({ path: "/static/%2e%2e/admin/x" }))).toBe("hit");
    // An encoded slash is data, not a separator.
    expect(one({ pathPattern: { values: ["/a/b"] } })(req({ path: "/a%2Fb" }))).toBe("default");
  });

  test("pathPattern does not see the query", () => {
    expect(one({ pathPattern: { values: ["*.json"] } })(req({ path: "/x", query: "f=a.json" }))).toBe("default");
  });

  test("hostHeader: case-insensitive, wildcards, port and trailing dot ignored", () => {
    const route = one({ hostHeader: { values: ["api.example.com", "*.internal.example.org"] } });
    expect(route(req({ host: "API.Example.com" }))).toBe("hit");
    expect(route(req({ host: "api.example.com:8443" }))).toBe("hit");
    expect(route(req({ host: "api.example.com." }))).toBe("hit");
    expect(route(req({ host: "a.b.internal.example.org" }))).toBe("hit");
    expect(route(req({ host: "internal.example.org" }))).toBe("default");
    expect(route(req({ host: "example.com" }))).toBe("default");
    expect(route(req({ host: null }))).toBe("default");
    expect(one({ hostHeader: { values: ["[::1]"] } })(req({ host: "[::1]:8080" }))).toBe("hit");
    expect(one({ hostHeader: { values: ["api.*"] } })(req({ host: "api.example.net" }))).toBe("hit");
  });

  test("httpHeader: named header, values case-insensitive with wildcards", () => {
    const route = one({ httpHeader: { name: "User-Agent", values: ["*Mobile*", "curl/?.*"] } });
    expect(route(req({ headers: { "user-agent": "Mozilla/5.0 (iPhone) MOBILE Safari" } }))).toBe("hit");
    expect(route(req({ headers: { "user-agent": "curl/8.5.0" } }))).toBe("hit");
    expect(route(req({ headers: { "user-agent": "Mozilla/5.0 (X11)" } }))).toBe("default");
    expect(route(req())).toBe("default");
  });

  test("httpRequestMethod: exact", () => {
    const route = one({ httpRequestMethod: { values: ["POST", "PUT"] } });
    expect(route(req({ method: "POST" }))).toBe("hit");
    expect(route(req({ method: "GET" }))).toBe("default");
    expect(route(req({ method: "post" }))).toBe("default");
  });

  test("queryString: key/value or value only, percent-decoded, case-insensitive, escapes", () => {
    const route = one({ queryString: { values: [{ key: "version", value: "v1*" }, { value: "*beta*" }, { key: "q", value: "what\\?" }] } });
    expect(route(req({ query: "a=1&Version=V1.2" }))).toBe("hit");
    expect(route(req({ query: "version=v2" }))).toBe("default");
    expect(route(req({ query: "channel=early%20Beta%21" }))).toBe("hit");
    expect(route(req({ query: "channel=early+beta" }))).toBe("hit");
    expect(route(req({ query: "q=what%3F" }))).toBe("hit");
    expect(route(req({ query: "q=whatx" }))).toBe("default");
    expect(route(req({ query: "" }))).toBe("default");
    expect(one({ queryString: { values: [{ key: "%76ersion", value: "1" }] } })(req({ query: "version=1" }))).toBe("default");
    expect(one({ queryString: { values: [{ key: "a b", value: "1" }] } })(req({ query: "a%20b=1" }))).toBe("hit");
  });

  test("sourceIp: IPv4 and IPv6 CIDRs, mapped addresses, missing address", () => {
    const route = one({ sourceIp: { values: ["10.0.0.0/8", "2001:db8:abcd::/48", "::1"] } });
    expect(route(req({ clientIp: "10.9.8.7" }))).toBe("hit");
    expect(route(req({ clientIp: "::ffff:10.1.1.1" }))).toBe("hit");
    expect(route(req({ clientIp: "2001:db8:abcd:12::5" }))).toBe("hit");
    expect(route(req({ clientIp: "2001:db8:abce::5" }))).toBe("default");
    expect(route(req({ clientIp: "::1" }))).toBe("hit");
    expect(route(req({ clientIp: "11.0.0.1" }))).toBe("default");
    expect(route(req({ clientIp: undefined }))).toBe("default");
  });

  test("conditions in a rule are AND-ed", () => {
    const route = routeOf([
      {
        priority: 5,
        conditions: [{ hostHeader: { values: ["a.com"] } }, { pathPattern: { values: ["/x/*"] } }, { httpRequestMethod: { values: ["GET"] } }],
        action: forward("hit"),
      },
    ]);
    expect(route(req({ host: "a.com", path: "/x/1" }))).toBe("hit");
    expect(route(req({ host: "a.com", path: "/y/1" }))).toBe("default");
    expect(route(req({ host: "b.com", path: "/x/1" }))).toBe("default");
    expect(route(req({ host: "a.com", path: "/x/1", method: "POST" }))).toBe("default");
  });
});

describe("router", () => {
  test("lowest priority number wins, whatever the config order and index bucket", () => {
    const router = compileRules(
      parseRules([
        { priority: 30, conditions: [{ pathPattern: { values: ["/api/*"] } }], action: forward("path") },
        { priority: 20, conditions: [{ hostHeader: { values: ["a.com"] } }], action: forward("host") },
        { priority: 10, conditions: [{ httpHeader: { name: "x-canary", values: ["1"] } }], action: forward("header") },
        { priority: 40, conditions: [{ hostHeader: { values: ["*.com"] } }], action: forward("wild") },
      ]),
      defaultAction,
    );
    const m = (r: RuleRequest) => {
      const x = router.match(r);
      return [x.rule, x.action.kind === "forward" ? x.action.targetGroups[0]!.group : x.action.kind];
    };
    expect(router.priorities).toEqual([10, 20, 30, 40]);
    expect(m(req({ host: "a.com", path: "/api/x", headers: { "x-canary": "1" } }))).toEqual([10, "header"]);
    expect(m(req({ host: "a.com", path: "/api/x" }))).toEqual([20, "host"]);
    expect(m(req({ host: "b.com", path: "/api/x" }))).toEqual([30, "path"]);
    expect(m(req({ host: "b.com", path: "/other" }))).toEqual([40, "wild"]);
    expect(m(req({ host: "b.org", path: "/other" }))).toEqual([undefined, "default"]);
  });

  test("no rules: the default action; actions compile to a kind-tagged union", () => {
    const router = compileRules([], v.parse(ActionSchema, { fixedResponse: { statusCode: 503, messageBody: "down" } }));
    const m = router.match(req());
    expect(m.rule).toBeUndefined();
    expect(m.action).toEqual({ kind: "fixedResponse", fixedResponse: { statusCode: 503, contentType: "text/plain; charset=utf-8", messageBody: "down" } });
    const w = compileRules([], v.parse(ActionSchema, { forward: { targetGroups: [{ group: "a", weight: 3 }, { group: "b" }], stickiness: { duration: 60 } } }))
      .match(req());
    expect(w.action).toEqual({
      kind: "forward",
      targetGroups: [{ group: "a", weight: 3 }, { group: "b", weight: 1 }],
      stickiness: { enabled: true, duration: 60, cookieName: "FulcrumTG" },
    });
  });

  test("the indexed router agrees with a plain scan in priority order (random rules and requests)", () => {
    const hosts = ["a.com", "b.com", "*.a.com", "api.*", "*.com"];
    const paths = ["/", "/api/*", "/api/v1/*", "/img/*.png", "/api", "*", "/a?i/*", "/static/*"];
    const condition = fc.oneof(
      fc.subarray(hosts, { minLength: 1 }).map((values) => ({ hostHeader: { values } })),
      fc.subarray(paths, { minLength: 1 }).map((values) => ({ pathPattern: { values } })),
      fc.subarray(["GET", "POST"], { minLength: 1 }).map((values) => ({ httpRequestMethod: { values } })),
      fc.constantFrom(
        { httpHeader: { name: "x-v", values: ["1"] } },
        { httpHeader: { name: "X-V", values: ["?", "2"] } },
        { httpHeader: { name: "x-w", values: ["1", "3"] } },
        { queryString: { values: [{ key: "v", value: "2" }] } },
        { sourceIp: { values: ["10.0.0.0/8"] } },
      ),
    );
    const rule = fc.record({ conditions: fc.array(condition, { minLength: 1, maxLength: 3 }) });
    const request = fc.record({
      host: fc.constantFrom("a.com", "x.a.com", "api.b.org", "b.com", "c.net", null),
      path: fc.constantFrom("/", "/api", "/api/x", "/api/v1/y", "/img/a.png", "/static/../api/x", "/abi/q", "/other"),
      method: fc.constantFrom("GET", "POST"),
      query: fc.constantFrom("", "v=2"),
      canary: fc.boolean(),
      clientIp: fc.constantFrom("10.1.2.3", "192.0.2.1"),
    });
    fc.assert(
      fc.property(fc.array(rule, { maxLength: 25 }), fc.array(request, { minLength: 1, maxLength: 20 }), (ruleSpecs, requests) => {
        const rules = parseRules(ruleSpecs.map((r, i) => ({ priority: (i * 7919) % 1000 + 1 + i * 1000, conditions: r.conditions, action: forward(`r${i}`) })));
        const router = compileRules(rules, defaultAction);
        const byPriority = [...rules].sort((x, y) => x.priority - y.priority);
        for (const q of requests) {
          const r = req({
            host: q.host,
            path: q.path,
            method: q.method,
            query: q.query,
            clientIp: q.clientIp,
            headers: q.canary ? { "x-v": "1", "x-w": "3" } : {},
          });
          const view = new RequestView(r);
          const expected = byPriority.find((rule) => rule.conditions.every((c) => compileCondition(c)(view)));
          expect(router.match(r).rule).toBe(expected?.priority);
        }
      }),
      { numRuns: 400 },
    );
  });
});

describe("geo conditions", () => {
  const router = compileRules(
    [
      { priority: 10, conditions: [v.parse(ConditionSchema, { geo: { country: ["de", "FR"] } })], action: { forward: "eu" } },
      { priority: 20, conditions: [v.parse(ConditionSchema, { geo: { continent: ["NA"], colo: ["dfw"] } })], action: { forward: "na" } },
    ],
    { forward: "web" },
  );
  const where = (geo: Record<string, string> | undefined) => {
    const m = router.match({ method: "GET", host: "x", path: "/", query: "", headers: new Headers(), clientIp: undefined, geo: () => geo });
    const a = m.action;
    return a.kind === "forward" ? a.targetGroups[0]!.group : a.kind;
  };

  test("every attribute given must match one of its values, case-insensitively; an unknown location matches none", () => {
    expect(router.usesGeo).toBe(true);
    expect(where({ country: "DE" })).toBe("eu");
    expect(where({ country: "FR", continent: "EU" })).toBe("eu");
    expect(where({ country: "US", continent: "NA", colo: "DFW" })).toBe("na");
    expect(where({ country: "US", continent: "NA" })).toBe("web");
    expect(where(undefined)).toBe("web");
  });

  test("the schema wants at least one attribute and codes of the right form", () => {
    const issues = (input: unknown) => v.safeParse(ConditionSchema, input).issues?.map((i) => i.message) ?? [];
    expect(issues({ geo: {} })).toContain("expected at least one of country, continent, region or colo");
    expect(issues({ geo: { country: ["Germany"] } })).toContain('expected an ISO 3166-1 country code such as DE, got "Germany"');
    expect(issues({ geo: { continent: ["EUR"] } })).toContain('expected a continent code: AF, AN, AS, EU, NA, OC or SA, got "EUR"');
  });
});
