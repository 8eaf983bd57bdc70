import { describe, expect, test } from "bun:test";
import * as v from "valibot";
import { ActionSchema, ruleProblems, RuleSchema } from "../../../src/rules/schema.ts";

/** Issues as `path: message` lines, like the config loader prints them. */
function issues(schema: v.GenericSchema, input: unknown): string[] {
  const r = v.safeParse(schema, input);
  if (r.success) return [];
  return r.issues.map((i) => `${(i.path ?? []).map((p) => (typeof p.key === "number" ? `[${p.key}]` : `.${String(p.key)}`)).join("")}: ${i.message}`);
}

const rule = (over: Record<string, unknown> = {}) => ({
  priority: 10,
  conditions: [{ pathPattern: { values: ["/api/*"] } }],
  action: { forward: "app" },
  ...over,
});

describe("rule and action schema", () => {
  test("the existing defaultAction form stays valid", () => {
    expect(v.parse(ActionSchema, { forward: "app" })).toEqual({ forward: "app" });
  });

  test("output is discriminable by the present key", () => {
    const a = v.parse(ActionSchema, { fixedResponse: { statusCode: 404 } });
    expect(a.fixedResponse?.contentType).toBe("text/plain; charset=utf-8");
    expect(a.forward).toBeUndefined();
    const w = v.parse(ActionSchema, { forward: { targetGroups: [{ group: "a", weight: 9 }, { group: "b" }], stickiness: {} } });
    if (w.forward === undefined || typeof w.forward === "string") throw new Error("expected a weighted forward");
    expect(w.forward.targetGroups[1]!.weight).toBe(1);
    expect(w.forward.stickiness).toEqual({ enabled: true, duration: 3600, cookieName: "FulcrumTG" });
  });

  test("every condition type parses", () => {
    const r = v.parse(
      RuleSchema,
      rule({
        conditions: [
          { pathPattern: { values: ["/a/*"] } },
          { hostHeader: { values: ["*.example.com"] } },
          { httpHeader: { name: "User-Agent", values: ["*Mobile*"] } },
          { httpRequestMethod: { values: ["GET", "HEAD"] } },
          { queryString: { values: [{ key: "version", value: "v1" }, { value: "*example*" }] } },
          { sourceIp: { values: ["192.0.2.0/24", "2001:db8::/32"] } },
        ],
      }),
    );
    expect(r.conditions).toHaveLength(6);
  });

  test("mistakes are reported once, by field path", () => {
    expect(issues(ActionSchema, {})).toEqual([": expected exactly one action (forward, redirect, fixedResponse), got none"]);
    expect(issues(ActionSchema, { forward: "a", fixedResponse: { statusCode: 200 } })).toEqual([
      ": expected exactly one action (forward, redirect, fixedResponse), got forward and fixedResponse",
    ]);
    expect(issues(ActionSchema, { forward: 5 })).toEqual([".forward: expected a target group name or { targetGroups: [...] }, got 5"]);
    expect(issues(ActionSchema, { forward: { targetGroups: [{ group: "a", weight: 1000 }] } })).toEqual([
      ".forward.targetGroups[0].weight: expected a weight from 0 to 999",
    ]);
    expect(issues(ActionSchema, { redirect: { statusCode: 303, protocol: "HTTPS" } })).toEqual([
      ".redirect.statusCode: expected 301, 302, 307 or 308, got 303",
    ]);
    expect(issues(ActionSchema, { redirect: { statusCode: 301, path: "x" } })).toEqual(['.redirect.path: expected a path starting with /, got "x"']);
    expect(issues(ActionSchema, { redirect: { statusCode: 301, port: 70000 } })).toEqual([
      '.redirect.port: expected a port from 1 to 65535 or "#{port}", got 70000',
    ]);
    expect(issues(ActionSchema, { redirect: { statusCode: 301, path: "/#{path}" } })[0]).toContain("a redirect to the same URL loops");
    expect(issues(ActionSchema, { redirect: { statusCode: 301, host: "#{hots}" } })).toEqual([
      '.redirect.host: expected only the placeholders #{protocol}, #{host}, #{port}, #{path}, #{query}, got "#{hots}"',
    ]);
    expect(issues(ActionSchema, { redirect: { statusCode: 301, query: "?a=1" } })).toEqual([
      '.redirect.query: expected a query without the leading ?, spaces or #, got "?a=1"',
    ]);
    expect(issues(ActionSchema, { fixedResponse: { statusCode: 302 } })).toEqual([
      ".fixedResponse.statusCode: expected a status code 200-299 or 400-599, got 302",
    ]);
    expect(issues(ActionSchema, { fixedResponse: { statusCode: 200, messageBody: "é".repeat(513) } })).toEqual([
      ".fixedResponse.messageBody: expected a message body of at most 1024 bytes",
    ]);
    expect(issues(ActionSchema, { fixedResponse: { statusCode: 200, messageBody: "x".repeat(1024) } })).toEqual([]);
    expect(issues(RuleSchema, rule({ priority: 0 }))).toEqual([".priority: expected a priority from 1 to 50000"]);
    expect(issues(RuleSchema, rule({ conditions: [] }))).toEqual([".conditions: expected at least one condition"]);
    expect(issues(RuleSchema, rule({ conditions: [{ pathPattern: { values: ["/a"] }, hostHeader: { values: ["x"] } }] }))).toEqual([
      ".conditions[0]: expected exactly one condition (pathPattern, hostHeader, httpHeader, httpRequestMethod, queryString, sourceIp, geo), got pathPattern and hostHeader",
    ]);
    expect(issues(RuleSchema, rule({ conditions: [{ httpRequestMethod: { values: ["get"] } }] }))).toEqual([
      '.conditions[0].httpRequestMethod.values[0]: expected an upper-case method name such as GET, got "get"',
    ]);
    expect(issues(RuleSchema, rule({ conditions: [{ sourceIp: { values: ["10.0.0.0/33"] } }] }))).toEqual([
      '.conditions[0].sourceIp.values[0]: expected an IPv4/IPv6 address or CIDR, got "10.0.0.0/33"',
    ]);
    expect(issues(RuleSchema, rule({ conditions: [{ httpHeader: { name: "Host", values: ["a"] } }] }))).toEqual([
      ".conditions[0].httpHeader.name: expected a header other than Host (use hostHeader)",
    ]);
  });
});

describe("ruleProblems", () => {
  test("duplicate priorities, unknown groups, all-zero weights, with paths", () => {
    const input = {
      rules: [
        rule({ priority: 10 }),
        rule({ priority: 20, action: { forward: { targetGroups: [{ group: "a" }, { group: "x" }] } } }),
        rule({ priority: 30, action: { forward: "nope" } }),
        rule({ priority: 10, action: { forward: { targetGroups: [{ group: "a", weight: 0 }, { group: "b", weight: 0 }] } } }),
      ],
      defaultAction: { forward: { targetGroups: [{ group: "a" }, { group: "a" }] } },
    };
    expect(ruleProblems(input, ["a", "b", "app"])).toEqual([
      'rules[1].action.forward.targetGroups[1].group: unknown target group "x", expected one of a, b, app',
      'rules[2].action.forward: unknown target group "nope", expected one of a, b, app',
      "rules[3].priority: duplicate priority 10, also used by rules[0]",
      "rules[3].action.forward.targetGroups: expected at least one weight above 0, got all 0",
      'defaultAction.forward.targetGroups[1].group: duplicate target group "a", also at targetGroups[0]',
    ]);
  });

  test("a valid config, and garbage input, give no problems", () => {
    expect(ruleProblems({ rules: [rule()], defaultAction: { forward: "app" } }, ["app"])).toEqual([]);
    expect(ruleProblems(null, ["app"])).toEqual([]);
    expect(ruleProblems({ rules: "x", defaultAction: 3 }, ["app"])).toEqual([]);
    // The plain defaultAction reference is the loader's to check.
    expect(ruleProblems({ defaultAction: { forward: "web" } }, ["app"])).toEqual([]);
  });
});
