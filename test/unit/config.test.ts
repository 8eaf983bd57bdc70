import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { ConfigError, parseConfig, summarize, validateConfig } from "../../src/config/load.ts";
import { configJsonSchema } from "../../src/config/json-schema.ts";
import { originUrl } from "../../src/config/schema.ts";
import { described, seconds } from "../../src/config/units.ts";
import { toJsonSchema } from "@valibot/to-json-schema";
import * as v from "valibot";

const minimal = {
  listen: { port: 8080 },
  targetGroups: {
    app: {
      strategy: "round_robin",
      targets: [{ url: "http://127.0.0.1:9001" }, { url: "http://127.0.0.1:9002", weight: 3 }, { url: "http://127.0.0.1:9003", backup: true }],
    },
  },
  defaultAction: { forward: "app" },
};

function problems(input: unknown): string[] {
  try {
    validateConfig(input);
  } catch (e) {
    if (e instanceof ConfigError) return [...e.problems];
    throw e;
  }
  return [];
}

describe("config", () => {
  test("a health check interval alone is valid: the timeout defaults to 5 s or half the interval, whichever is shorter", () => {
    const timeoutFor = (healthCheck: object) =>
      validateConfig({ ...minimal, targetGroups: { app: { ...minimal.targetGroups.app, healthCheck } } }).targetGroups.app!.healthCheck!.timeout;
    expect([timeoutFor({ interval: 5 }), timeoutFor({ interval: 30 }), timeoutFor({}), timeoutFor({ interval: 5, timeout: 1 })]).toEqual([2.5, 5, 5, 1]);
    // One the user wrote is still checked against the interval.
    expect(problems({ ...minimal, targetGroups: { app: { ...minimal.targetGroups.app, healthCheck: { interval: 5, timeout: 5 } } } })).toEqual([
      "targetGroups.app.healthCheck.timeout: expected a timeout below the interval (5 s), got 5",
    ]);
  });

  test("durations and sizes also as strings with units, as nginx, HAProxy and Caddy take them; a bad one echoes what was written", () => {
    const app = (extra: object) => ({ ...minimal, targetGroups: { app: { ...minimal.targetGroups.app, ...extra } } });
    const c = validateConfig(app({ healthCheck: { interval: "30s", timeout: "250ms" }, deregistrationDelay: "5m", retries: { maxReplayBodyBytes: "64KiB" } }));
    const g = c.targetGroups.app!;
    expect([g.healthCheck!.interval, g.healthCheck!.timeout, g.deregistrationDelay, g.retries.maxReplayBodyBytes]).toEqual([30, 0.25, 300, 65536]);
    expect(validateConfig({ ...minimal, websocket: { maxBufferedBytes: "1MiB", idleTimeout: "1h" } }).websocket).toMatchObject({
      maxBufferedBytes: 1048576,
      idleTimeout: 3600,
    });
    expect(problems(app({ deregistrationDelay: "5 minutes", retries: { maxReplayBodyBytes: "lots" } }))).toEqual([
      'targetGroups.app.retries.maxReplayBodyBytes: expected a size from 0 to 16777216 bytes: a number, or a size like "64KiB", "1MiB", "64k", got "lots"',
      'targetGroups.app.deregistrationDelay: expected seconds from 0 to 3600: a number, or a duration like "250ms", "30s", "5m", got "5 minutes"',
    ]);
    expect(problems(app({ deregistrationDelay: "2h" }))).toEqual(["targetGroups.app.deregistrationDelay: expected seconds from 0 to 3600, got 7200"]);
  });

  test("every unknown key is named, each with a did-you-mean: typos and nginx or HAProxy words", () => {
    const raw = {
      listen: [{ port: 8080, hots: "127.0.0.1" }],
      targetGroups: {
        app: {
          targets: [{ url: "http://127.0.0.1:9001", wieght: 3 }],
          healtCheck: { interval: 5 },
          max_fails: 3,
          passes: 2,
          healthCheck: { uri: "/h" },
        },
      },
      defaultAction: { forward: "app" },
      admin: { stats: { auth: { basic: { user: "a", password: "b" } } } },
    };
    expect(problems(raw).sort()).toEqual([
      "admin.stats.auth.basic.user: unknown key; did you mean username?",
      "admin.stats.auth.basic.username: required",
      "listen[0].hots: unknown key; did you mean host?",
      "targetGroups.app.healtCheck: unknown key; did you mean healthCheck?",
      "targetGroups.app.healthCheck.uri: unknown key; did you mean path?",
      "targetGroups.app.max_fails: unknown key; did you mean passive.maxFails?",
      "targetGroups.app.passes: unknown key; did you mean healthCheck.healthyThreshold?",
      "targetGroups.app.targets[0].wieght: unknown key; did you mean weight?",
    ]);
  });

  test("the issue's minimal example is valid, with defaults filled in", () => {
    const c = validateConfig(minimal);
    expect(c.targetGroups.app!.targets[0]).toEqual({ url: "http://127.0.0.1:9001", weight: 1, backup: false, drain: false });
    expect(c.targetGroups.app!.targets[2]!.backup).toBe(true);
    expect(c.targetGroups.app!.hostHeader).toBe("preserve");
    expect(c.targetGroups.app!.timeouts).toEqual({ connect: 5, response: 60 });
    expect(c.forwarding).toEqual({
      trustedProxies: [],
      xForwarded: true,
      forwarded: false,
      requestIdHeader: "X-Request-Id",
      geoHeaders: { country: "CF-IPCountry" },
    });
    expect(c.admin.healthPath).toBe("/__fulcrum/health");
    expect(summarize(c)).toBe("config ok: listen http :8080, 1 target group: app (round_robin, 3 targets); default action forward app");
  });

  test("$schema key is allowed", () => {
    expect(problems({ $schema: "./src/config/fulcrum.schema.json", ...minimal })).toEqual([]);
  });

  test("every problem is listed with its field path and what was expected", () => {
    // deno-lint-ignore no-explicit-any -- a config made wrong on purpose, field by field
    const bad = structuredClone(minimal) as Record<string, any>;
    bad.targetGroups.app.targets[2].url = "foo";
    bad.targetGroups.app.targets[1].weight = -1;
    bad.targetGroups.app.strategy = "fastest";
    bad.listen.port = "80";
    bad.targetGroups.app.tagets = [];
    expect(problems(bad).sort()).toEqual(
      [
        'listen.port: expected number, got "80"',
        'targetGroups.app.targets[2].url: expected an http(s) URL, got "foo"',
        "targetGroups.app.targets[1].weight: expected a weight from 0 to 1000",
        'targetGroups.app.strategy: expected one of round_robin, weighted_round_robin, least_connections, least_request, random, ip_hash, hash, latency_aware, got "fastest"',
        "targetGroups.app.tagets: unknown key; did you mean targets?",
      ].sort(),
    );
  });

  test("a target URL with a path is refused (the client's path is forwarded as is)", () => {
    const bad = structuredClone(minimal);
    bad.targetGroups.app.targets[0]!.url = "http://127.0.0.1:9001/api";
    expect(problems(bad)).toEqual([
      'targetGroups.app.targets[0].url: expected an origin without path or query (scheme://host:port), got "http://127.0.0.1:9001/api"',
    ]);
  });

  test("unknown target group in the default action names the valid ones", () => {
    expect(problems({ ...minimal, defaultAction: { forward: "web" } })).toEqual(['defaultAction.forward: unknown target group "web", expected one of app']);
  });

  test("reference problems are listed together with schema problems", () => {
    expect(problems({ ...minimal, listen: {}, defaultAction: { forward: "web" } })).toEqual([
      "listen.port: required",
      'defaultAction.forward: unknown target group "web", expected one of app',
    ]);
  });

  test("missing required fields and bad CIDRs", () => {
    expect(problems({ targetGroups: minimal.targetGroups, defaultAction: minimal.defaultAction, forwarding: { trustedProxies: ["10.0.0.0/33"] } }).sort())
      .toEqual(
        ["listen: required", 'forwarding.trustedProxies[0]: expected an IPv4/IPv6 address or CIDR, got "10.0.0.0/33"'].sort(),
      );
  });

  test("invalid JSON is a config error, not a crash", () => {
    expect(() => parseConfig("{ nope", "f.json")).toThrow(ConfigError);
  });

  test("the committed JSON Schema matches the valibot schema (npm run schema)", () => {
    const committed = JSON.parse(readFileSync(join(import.meta.dir, "../../src/config/fulcrum.schema.json"), "utf8"));
    expect(committed).toEqual(JSON.parse(JSON.stringify(configJsonSchema())));
  });

  test("every property of the JSON Schema has a description (editors show it on hover)", () => {
    const undocumented: string[] = [];
    let properties = 0;
    const walk = (node: unknown, path: string): void => {
      if (Array.isArray(node)) return node.forEach((x, i) => walk(x, `${path}[${i}]`));
      if (node === null || typeof node !== "object") return;
      for (const [key, child] of Object.entries(node)) {
        if (key === "properties" && child !== null && typeof child === "object") {
          for (const [name, property] of Object.entries(child)) {
            properties++;
            const text = (property as { description?: unknown }).description;
            if (typeof text !== "string" || text.trim() === "") undocumented.push(`${path}.properties.${name}`);
            walk(property, `${path}.properties.${name}`);
          }
        } else walk(child, `${path}.${key}`);
      }
    };
    walk(configJsonSchema(), "#");
    expect(properties).toBeGreaterThan(300);
    expect(undocumented).toEqual([]);
  });

  test("a description keeps an optional key optional, with its default, even after a transform", () => {
    const schema = v.strictObject({
      after: described(v.optional(seconds(0, 10), 5), "seconds after a transform"),
      url: described(originUrl, "an origin, transformed"),
    });
    expect(v.parse(schema, { url: "http://a:80/" })).toEqual({ after: 5, url: "http://a" });
    expect(v.parse(schema, { url: "http://a", after: "2s" })).toEqual({ after: 2, url: "http://a" });
    expect(v.safeParse(schema, { url: "http://a", after: "soon" }).issues?.[0]?.message).toBe(
      'expected seconds from 0 to 10: a number, or a duration like "250ms", "30s", "5m", got "soon"',
    );
    expect(toJsonSchema(schema, { errorMode: "ignore", typeMode: "input" })).toMatchObject({
      properties: {
        after: { default: 5, description: "seconds after a transform" },
        url: { type: "string", description: "an origin, transformed" },
      },
      required: ["url"],
    });
  });
});

describe("maxRequestBodySize and workers", () => {
  const base = { listen: { port: 8080 }, targetGroups: { app: { targets: [{ url: "http://127.0.0.1:9001" }] } }, defaultAction: { forward: "app" } };

  test("sizes with units, per config and per group; workers a number or auto", () => {
    const c = validateConfig({
      ...base,
      maxRequestBodySize: "10m",
      workers: "auto",
      targetGroups: { app: { ...base.targetGroups.app, maxRequestBodySize: "1KiB" } },
    });
    expect([c.maxRequestBodySize, c.targetGroups.app!.maxRequestBodySize, c.workers]).toEqual([10 * 1024 * 1024, 1024, "auto"]);
    expect(validateConfig(base).maxRequestBodySize).toBeUndefined();
  });

  test("nginx's and HAProxy's words name the keys; bad values echo what was given", () => {
    expect(() => validateConfig({ ...base, client_max_body_size: "1m", worker_processes: 4 })).toThrow(
      /client_max_body_size: unknown key; did you mean maxRequestBodySize\?[\s\S]*worker_processes: unknown key; did you mean workers\?/,
    );
    expect(() => validateConfig({ ...base, workers: 0 })).toThrow('workers: expected a number of worker processes from 1 to 256, or "auto", got 0');
  });
});

describe("failover", () => {
  const target = (port: number) => ({ url: `http://127.0.0.1:${port}` });
  test("a fallback that exists, no loop, minHealthy within the group, and no failover key without a fallback", () => {
    const ok = validateConfig({
      listen: { port: 8080 },
      targetGroups: {
        main: { targets: [target(1), target(2)], fallbackGroup: "spare", minHealthy: 2, failbackDelay: "500ms" },
        spare: { targets: [target(3)] },
      },
      defaultAction: { forward: "main" },
    });
    expect([ok.targetGroups.main!.minHealthy, ok.targetGroups.main!.failbackDelay, ok.targetGroups.spare!.failbackDelay]).toEqual([2, 0.5, 10]);
    let message = "";
    try {
      validateConfig({
        listen: { port: 8080 },
        targetGroups: {
          a: { targets: [target(1)], fallbackGroup: "b", minHealthy: 3 },
          b: { targets: [target(2)], fallbackGroup: "a" },
          c: { targets: [target(3)], fallbackGroup: "c" },
          d: { targets: [target(4)], fallbackGroup: "nope" },
          e: { targets: [target(5)], failbackDelay: 5 },
        },
        defaultAction: { forward: "a" },
      });
    } catch (e) {
      message = (e as Error).message;
    }
    for (
      const line of [
        'targetGroups.d.fallbackGroup: unknown target group "nope", expected one of a, b, c, d, e',
        "targetGroups.a.fallbackGroup: the fallback groups form a loop: a -> b -> a",
        "targetGroups.a.minHealthy: 3 is more than the group's 1 target(s): its traffic would always go to b",
        "targetGroups.c.fallbackGroup: a group cannot fall back to itself",
        "targetGroups.e.failbackDelay: does nothing without fallbackGroup (the group that takes the traffic); add one, or remove it",
      ]
    ) expect(message).toContain(line);
  });
});

test("the retry budget's floor without the budget is named", () => {
  const config = {
    listen: { port: 8080 },
    targetGroups: { app: { targets: [{ url: "http://127.0.0.1:1" }], retries: { minRetryConcurrency: 5 } } },
    defaultAction: { forward: "app" },
  };
  expect(() => validateConfig(config)).toThrow("targetGroups.app.retries.minRetryConcurrency: does nothing without retries.budgetPercent");
  const ok = validateConfig({ ...config, targetGroups: { app: { ...config.targetGroups.app, retries: { budgetPercent: 20, minRetryConcurrency: 5 } } } });
  expect(ok.targetGroups.app!.retries).toMatchObject({ budgetPercent: 20, minRetryConcurrency: 5 });
});

test("a canary names one of its forward's groups, beside a stable one, on a rule or the config's default action", () => {
  const groups = { blue: { targets: [{ url: "http://127.0.0.1:1" }] }, green: { targets: [{ url: "http://127.0.0.1:2" }] } };
  const forward = (canary: string, names = ["blue", "green"]) => ({ forward: { targetGroups: names.map((group) => ({ group })), canary: { group: canary } } });
  const problems = (config: Record<string, unknown>) => {
    try {
      validateConfig({ listen: { port: 8080 }, targetGroups: groups, defaultAction: { forward: "blue" }, ...config });
      return [];
    } catch (e) {
      return (e as { problems: string[] }).problems;
    }
  };
  expect(problems({ rules: [{ priority: 1, conditions: [{ pathPattern: { values: ["/*"] } }], action: forward("red") }] })).toContain(
    'rules[0].action.forward.canary.group: "red" is not one of this forward\'s targetGroups (blue, green); list it there',
  );
  expect(problems({ defaultAction: forward("green", ["green"]) })).toContain(
    'defaultAction.forward.canary: a canary needs a stable group beside "green" in targetGroups',
  );
  expect(problems({ listen: { port: 8080, defaultAction: forward("green") } })).toContain(
    "listen.defaultAction.forward.canary: a canary runs on a rule or on the config's defaultAction (fulcrum canary RULE names it); move it there",
  );
  expect(problems({ rules: [{ priority: 1, conditions: [{ pathPattern: { values: ["/*"] } }], action: forward("green") }] })).toEqual([]);
  expect(problems({ rateLimit: { requests: 5, syncInterval: 2 } })).toContain(
    "rateLimit.syncInterval: does nothing without shared: true (counts exchanged with the other instances); add it, or remove this",
  );
});

test("a mirror names another group that exists, not its own", () => {
  const one = { targets: [{ url: "http://127.0.0.1:1" }] };
  const problems = (groups: Record<string, unknown>) => {
    try {
      validateConfig({ listen: { port: 8080 }, targetGroups: groups, defaultAction: { forward: "app" } });
      return [];
    } catch (e) {
      return (e as { problems: string[] }).problems;
    }
  };
  expect(problems({ app: { ...one, mirror: { group: "app" } } })).toEqual(["targetGroups.app.mirror.group: a group cannot mirror to itself"]);
  expect(problems({ app: { ...one, mirror: { group: "nope" } } })[0]).toContain('targetGroups.app.mirror.group: unknown target group "nope"');
  // Loads (a drain or weight 0 still fails it over); `check` notes it (test/unit/cli).
  expect(problems({ app: { ...one, fallbackGroup: "b" }, b: one })).toEqual([]);
});
