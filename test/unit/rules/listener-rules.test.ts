/**
 * Rules belong to a listener (ALB): a listener runs its own `rules`, only its
 * own `defaultAction` when it has one and no rules (so a `:80` that redirects
 * to HTTPS redirects everything), else the config's `rules` and
 * `defaultAction`. What would be silently unused is an error.
 */
import { describe, expect, test } from "bun:test";
import { createBalancer } from "../../../src/app/balancer.ts";
import { ConfigError, validateConfig } from "../../../src/config/load.ts";
import { listenerKey, listenersOf } from "../../../src/config/schema.ts";
import { quietPlatform } from "../quiet-platform.ts";

const app = { targets: [{ url: "http://10.0.0.1" }] };
const api = { targets: [{ url: "http://10.0.0.2" }] };
const toHttps = { redirect: { protocol: "HTTPS", statusCode: 301 } };
const apiRule = { priority: 10, conditions: [{ pathPattern: { values: ["/api/*"] } }], action: { forward: "api" } };

function problems(input: unknown): string[] {
  try {
    validateConfig(input);
    return [];
  } catch (e) {
    if (e instanceof ConfigError) return [...e.problems];
    throw e;
  }
}

async function answers(raw: unknown, path: string) {
  const config = validateConfig(raw);
  const lb = createBalancer(config, { ...quietPlatform, upstream: async (req) => new Response(req.origin) });
  await lb.balancer.ready();
  return Promise.all(
    listenersOf(config).map(async (l, i) => {
      const r = await lb.balancer.handler(listenerKey(l, i))(new Request(`http://lb.test${path}`));
      return r.status === 200 ? await r.text() : `${r.status} ${r.headers.get("location") ?? ""}`.trim();
    }),
  );
}

describe("listener rules", () => {
  test("a :80 that redirects to HTTPS redirects every path, those the config's rules match too; :443 runs the rules", async () => {
    const raw = {
      listen: [{ port: 80, defaultAction: toHttps }, { port: 443 }],
      targetGroups: { app, api },
      rules: [apiRule],
      defaultAction: { forward: "app" },
      admin: { api: false },
    };
    expect(await answers(raw, "/api/x")).toEqual(["301 https://lb.test/api/x", "http://10.0.0.2"]);
    expect(await answers(raw, "/")).toEqual(["301 https://lb.test/", "http://10.0.0.1"]);
  });

  test("a listener with rules of its own runs those, with its default action or the config's", async () => {
    const raw = {
      listen: [{ port: 8080, rules: [apiRule] }, { port: 8081 }],
      targetGroups: { app, api },
      defaultAction: { forward: "app" },
      admin: { api: false },
    };
    expect(await answers(raw, "/api/x")).toEqual(["http://10.0.0.2", "http://10.0.0.1"]);
  });

  test("a config that only redirects needs no target group", async () => {
    const raw = { listen: { port: 80, defaultAction: toHttps }, admin: { api: false } };
    expect(problems(raw)).toEqual([]);
    expect(await answers(raw, "/x?y=1")).toEqual(["301 https://lb.test/x?y=1"]);
  });

  test("nothing silently unused: a listener without a default action, rules or a default no listener runs, a priority used twice", () => {
    expect(problems({ listen: [{ port: 80, defaultAction: toHttps }, { port: 443 }], targetGroups: { app } })).toEqual([
      "listen[1].defaultAction: required, since the config has no top-level defaultAction",
    ]);
    expect(problems({ listen: { port: 80, defaultAction: toHttps }, targetGroups: { app, api }, rules: [apiRule], defaultAction: { forward: "app" } })).toEqual(
      [
        "rules: no listener runs these: each has rules or a defaultAction of its own (move them into listen[].rules)",
        "defaultAction: no listener runs it: each has a defaultAction of its own",
      ],
    );
    expect(
      problems({ listen: [{ port: 80, rules: [apiRule] }, { port: 81 }], targetGroups: { app, api }, rules: [apiRule], defaultAction: { forward: "app" } }),
    )
      .toEqual(["listen[0].rules[0].priority: duplicate priority 10, also used by rules[0] (a priority names one rule: fulcrum route 10)"]);
    expect(problems({ listen: { port: 80, rules: [{ ...apiRule, action: { forward: "nope" } }] }, targetGroups: { app }, defaultAction: { forward: "app" } }))
      .toEqual(['listen.rules[0].action.forward: unknown target group "nope", expected one of app']);
  });
});
