/**
 * What a reload may change and what becomes of the operators' overrides
 * (src/app/reload-plan.ts): overrides whose rule or target the new config
 * still has are kept, the others dropped and named; settings bound at start
 * refuse the reload, named. First the pure functions, then a real balancer
 * reloading (with a fake listener binder where the runtime binds listeners).
 */
import { describe, expect, test } from "bun:test";
import { AdminError } from "../../../src/admin/ops.ts";
import { type BalancerApp, createBalancer } from "../../../src/app/balancer.ts";
import { adminListenerKey } from "../../../src/app/listener.ts";
import { difference, planOverrides, restartOnly } from "../../../src/app/reload-plan.ts";
import { validateConfig } from "../../../src/config/load.ts";
import type { Config } from "../../../src/config/schema.ts";
import { quietPlatform } from "../quiet-platform.ts";
import { ListenerSet } from "../../../src/runtimes/server/listeners.ts";
import { draftOf, emptyGroup, frozenSnapshot, type GroupRecord, type JsonValue, type Snapshot } from "../../../src/state/store.ts";

const A = "http://10.0.0.1";
const B = "http://10.0.0.2";
const C = "http://10.0.0.3";
const X = "http://10.0.0.9";

/** A config with these groups (name → target URLs), rules by priority (each forwarding to the first group), and `extra` on top. */
function configOf(groups: Record<string, string[]>, rules: number[] = [], extra: Record<string, unknown> = {}): Config {
  const first = Object.keys(groups)[0]!;
  return validateConfig({
    listen: { port: 8080 },
    targetGroups: Object.fromEntries(Object.entries(groups).map(([name, urls]) => [name, { targets: urls.map((url) => ({ url })) }])),
    rules: rules.map((priority) => ({ priority, conditions: [{ pathPattern: { values: [`/r${priority}/*`] } }], action: { forward: first } })),
    defaultAction: { forward: first },
    ...extra,
  });
}

const snapshot = (groups: Record<string, Partial<GroupRecord>>, actions: Record<string, JsonValue> = {}): Snapshot =>
  frozenSnapshot({ groups: Object.fromEntries(Object.entries(groups).map(([n, g]) => [n, { ...emptyGroup(), ...g }])), actions }, 7, 1);

describe("planOverrides: which overrides a reload keeps", () => {
  test("no snapshot: nothing to keep or drop", () => {
    expect(planOverrides(configOf({ blue: [A] }), undefined)).toEqual({ kept: [], dropped: [], prune: undefined });
  });

  test("rule actions: kept while the rule and every group it names exist; dropped, with the reason, otherwise", () => {
    const next = configOf({ blue: [A] }, [10, 30]);
    const plan = planOverrides(
      next,
      snapshot({}, {
        "10": { forward: "blue" },
        "20": { forward: "blue" },
        "30": { forward: "green" },
        default: { forward: { targetGroups: [{ group: "blue", weight: 90 }, { group: "green", weight: 10 }] } },
      }),
    );
    expect(plan.kept).toEqual(['rule 10: {"forward":"blue"}']);
    expect(plan.dropped).toEqual([
      'rule 20: {"forward":"blue"} (no rule 20 any more)',
      'rule 30: {"forward":"green"} (no target group green any more)',
      'rule default: {"forward":{"targetGroups":[{"group":"blue","weight":90},{"group":"green","weight":10}]}} (no target group green any more)',
    ]);
  });

  test("an action that names no group (a redirect, a fixed response) is kept while its rule exists", () => {
    const redirect = { redirect: { host: "example.com", statusCode: "HTTP_301" } } as unknown as JsonValue;
    const plan = planOverrides(configOf({ blue: [A] }, [10]), snapshot({}, { "10": redirect, default: { fixedResponse: { statusCode: 503 } } }));
    expect(plan.dropped).toEqual([]);
    expect(plan.kept).toHaveLength(2);
  });

  test("weights and drains: kept for a target still listed, dropped for one that is gone", () => {
    const next = configOf({ blue: [A, "http://10.0.0.3"] });
    const plan = planOverrides(
      next,
      snapshot({ blue: { weights: { [A]: 3, [B]: 2, [C]: 4 }, drains: { [B]: { deadline: 5 }, [A]: { deadline: 5 } } }, green: { weights: { [X]: 1 } } }),
    );
    expect(plan.kept).toEqual([`blue/${A} weight 3`, `blue/${C} weight 4`, `blue/${A} drain`]);
    expect(plan.dropped).toEqual([
      `blue/${B} weight 2 (no such target any more)`,
      `blue/${B} drain (no such target any more)`,
      `green/${X} weight 1 (no such target any more)`,
    ]);
  });

  test("targets added at run time: kept in a group that exists; dropped when the group is gone or the file now lists them", () => {
    const plan = planOverrides(
      configOf({ blue: [A, X] }),
      snapshot({
        blue: { added: { [X]: { weight: 1, backup: false }, [C]: { weight: 2, backup: true } }, drains: { [X]: { deadline: 5 } }, weights: { [X]: 4 } },
        green: { added: { [B]: { weight: 1, backup: false } } },
      }),
    );
    expect(plan.kept).toEqual([`blue/${X} weight 4`, `blue/${C} added`]);
    expect(plan.dropped).toEqual([
      // The file's X is another target than the one added: its drain was the added one's.
      `blue/${X} drain (the config file lists it now)`,
      `blue/${X} added (the config file lists it now)`,
      `green/${B} added (no such group any more)`,
    ]);
  });

  test("removals: kept while the file lists the target (or it was added at run time), dropped when it does not", () => {
    const plan = planOverrides(
      configOf({ blue: [A, B] }),
      snapshot({ blue: { added: { [X]: { weight: 1, backup: false } }, removed: { [B]: { at: 9 }, [C]: { at: 9 }, [X]: { at: 9 } } } }),
    );
    expect(plan.kept).toEqual([`blue/${X} added`, `blue/${B} removed`, `blue/${X} removed`]);
    expect(plan.dropped).toEqual([`blue/${C} removed (the config file no longer lists it)`]);
  });

  test("groups named like Object.prototype members are looked up as groups, not inherited members", () => {
    const plan = planOverrides(configOf({ blue: [A] }), snapshot({ toString: { weights: { [A]: 2 }, added: { [X]: { weight: 1, backup: false } } } }));
    expect(plan.kept).toEqual([]);
    expect(plan.dropped).toEqual([`toString/${A} weight 2 (no such target any more)`, `toString/${X} added (no such group any more)`]);
  });

  test("prune removes exactly what was dropped: planning again on the pruned store keeps the same and drops nothing", () => {
    const next = configOf({ blue: [A, X] }, [10]);
    const before = snapshot(
      {
        blue: {
          weights: { [A]: 3, [B]: 2 },
          drains: { [B]: { deadline: 5 }, [X]: { deadline: 5 } },
          added: { [X]: { weight: 1, backup: false }, [C]: { weight: 1, backup: false } },
          removed: { [B]: { at: 9 } },
        },
        green: { weights: { [C]: 1 } },
      },
      { "10": { forward: "blue" }, "20": { forward: "blue" } },
    );
    const plan = planOverrides(next, before);
    expect(plan.dropped).toHaveLength(7);
    const draft = draftOf(before);
    plan.prune!(draft);
    expect(draft.actions).toEqual({ "10": { forward: "blue" } });
    expect(draft.groups.blue).toEqual({
      targets: {},
      weights: { [A]: 3 },
      drains: {},
      added: { [C]: { weight: 1, backup: false } },
      removed: {},
    });
    const again = planOverrides(next, frozenSnapshot(draft, 8, 2));
    expect(again.dropped).toEqual([]);
    expect(again.kept).toEqual(plan.kept);
    expect(again.prune).toBeUndefined();
  });
});

describe("restartOnly: settings a running process cannot take over", () => {
  const base = configOf({ blue: [A] });
  const withExtra = (extra: Record<string, unknown>) => configOf({ blue: [A] }, [], extra);

  test("nothing bound at start changed: nothing named, whatever else did (targets, rules, listeners added)", () => {
    const next = configOf({ blue: [A, B], green: [C] }, [10], { listen: [{ port: 8080 }, { port: 8081 }] });
    expect(restartOnly(base, next, true)).toEqual([]);
  });

  test("the state store is named even where the platform binds the listeners (Workers)", () => {
    const next = withExtra({ state: { store: "redis", url: "redis://10.0.0.7:6379" } });
    for (const binds of [true, false]) expect(restartOnly(base, next, binds)).toEqual(["state: the state store is opened at start; restart to change it"]);
  });

  test("client timeouts and WebSocket settings are named where the balancer binds its listeners, not on Workers", () => {
    const next = withExtra({ timeouts: { clientIdle: 10 }, websocket: { idleTimeout: 60 } });
    expect(restartOnly(base, next, true)).toEqual([
      "timeouts: client timeouts are set on the listeners at start; restart to change them",
      "websocket: the WebSocket settings are bound at start; restart to change them",
    ]);
    expect(restartOnly(base, next, false)).toEqual([]);
  });

  test("the number of workers is named: the primary started them", () => {
    expect(restartOnly(base, withExtra({ workers: 4 }), true)).toEqual([
      "workers: the worker processes are started with the primary; stop and start the balancer to change how many",
    ]);
  });

  test("a bound port that turns HTTPS is named by its index and address; a new HTTPS port is not restart-only", () => {
    const https = { protocol: "HTTPS", certificate: { certFile: "c.pem", keyFile: "k.pem" } };
    expect(restartOnly(base, withExtra({ listen: { port: 8080, ...https } }), true)).toEqual([
      "listen[0]: the protocol or certificate of 0.0.0.0:8080 changed; a bound port keeps its TLS until restart",
    ]);
    expect(restartOnly(base, withExtra({ listen: [{ port: 8080 }, { port: 8443, ...https }] }), true)).toEqual([]);
  });
});

describe("difference", () => {
  test("added and removed between two lists, in their order", () => {
    expect(difference(["a", "b", "c"], ["c", "d", "a", "e"])).toEqual({ added: ["d", "e"], removed: ["b"] });
    expect(difference([], [])).toEqual({ added: [], removed: [] });
  });
});

describe("a balancer's reload", () => {
  const platform = quietPlatform;

  /** A binder that binds nothing: what the balancer asks of a server runtime, and what it has bound (`host:port`, while not stopped). */
  function fakeListeners(app: BalancerApp) {
    const bound = new Map<string, string[]>();
    const set = new ListenerSet({
      runtime: "bun",
      readText: async () => "",
      log: () => {},
      secondPort: true,
      bind: (l) => {
        const at = `${l.host}:${l.port}`;
        // Keyed by address: which listener key it serves is what the handler says.
        bound.set(at, [...(bound.get(at) ?? []), at]);
        return { port: l.port, stop: async () => void bound.delete(at), forceClose: () => void bound.delete(at) };
      },
    }, (key) => app.balancer.handler(key));
    return { set, bound };
  }

  test("reports the overrides it kept and dropped, prunes the dropped from the store, and the kept still apply", async () => {
    const app = createBalancer(configOf({ blue: [A, B], green: [C] }, [10]), platform);
    await app.balancer.ready();
    const control = app.balancer.control;
    await control.route("10", { forward: "green" }, "test");
    await control.patchTarget("blue", A, { weight: 3 }, "test");
    await control.patchTarget("blue", B, { drain: true }, "test");
    await control.addTarget("blue", { url: X, weight: 2, backup: false }, "test");

    const r = await app.balancer.reload("test", { config: { config: configOf({ blue: [A], green: [C] }, []), version: "v2" } });
    expect(r.overrides).toEqual({
      kept: [`blue/${A} weight 3`, `blue/${X} added`],
      dropped: ['rule 10: {"forward":"green"} (no rule 10 any more)', `blue/${B} drain (no such target any more)`],
    });
    expect(r.targets).toEqual({ added: [], removed: [`blue/${B}`] });
    expect(r.message).toContain("2 override(s) kept, 2 dropped");

    const stored = await app.balancer.state.load();
    expect(stored.actions).toEqual({});
    expect(stored.groups.blue!.drains).toEqual({});
    // Kept: the weight is in force, and the target added through the API is still served.
    const blue = app.balancer.status().groups.find((g) => g.name === "blue")!;
    expect(blue.targets.map((t) => [t.url, t.weight])).toEqual([[A, 3], [X, 2]]);
    // The change log says what went.
    const reload = (await app.balancer.changeLog.recent(10)).find((e) => e.kind === "reload")!;
    expect(reload.detail).toContain(`dropped: rule 10: {"forward":"green"} (no rule 10 any more); blue/${B} drain`);
  });

  test("an override the reload reports kept is in force after it (the file spelling a target's origin another way)", async () => {
    // http://10.0.0.2:80/ and http://10.0.0.2 are one origin; the config keeps one spelling, so overrides keyed by it still apply.
    const app = createBalancer(configOf({ blue: [A, B] }), platform);
    await app.balancer.ready();
    await app.balancer.control.patchTarget("blue", B, { drain: true, weight: 5 }, "test");
    const respelled = configOf({ blue: [A, "http://10.0.0.2:80/"] });
    expect(respelled.targetGroups.blue!.targets[1]!.url).toBe(B);
    const r = await app.balancer.reload("test", { config: { config: respelled, version: "v2" } });
    expect(r.overrides.kept).toEqual([`blue/${B} weight 5`, `blue/${B} drain`]);
    const target = app.balancer.status().groups[0]!.targets.find((t) => t.url === B)!;
    const reported = { drain: r.overrides.kept.some((k) => k.endsWith(" drain")), weight: r.overrides.kept.some((k) => k.endsWith(" weight 5")) };
    // Kept must mean kept: a drain reported kept but silently ended sends traffic to a target taken out for maintenance.
    expect({ drain: target.draining, weight: target.weight === 5 }).toEqual(reported);
  });

  test("a restart-only change refuses the whole reload with 422, naming it; nothing changes", async () => {
    const first = configOf({ blue: [A] });
    const app = createBalancer(first, platform, { version: "v1" });
    await app.balancer.ready();
    const next = configOf({ blue: [A, B] }, [], { state: { store: "redis" } });
    const error = await app.balancer.reload("test", { config: { config: next, version: "v2" } }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AdminError);
    expect((error as AdminError).status).toBe(422);
    expect((error as AdminError).problems).toEqual(["state: the state store is opened at start; restart to change it"]);
    expect(app.balancer.status().config.version).toBe("v1");
    expect(app.balancer.config.targetGroups.blue!.targets.map((t) => t.url)).toEqual([A]);
  });

  test("with its listeners bound by the balancer, client timeouts are restart-only too", async () => {
    const first = configOf({ blue: [A] });
    const app = createBalancer(first, platform, { version: "v1" });
    const { set } = fakeListeners(app);
    await set.start(first);
    app.balancer.attachListeners(set);
    await app.balancer.ready();
    const error = await app.balancer.reload("test", { config: { config: configOf({ blue: [A] }, [], { timeouts: { clientHeader: 5 } }), version: "v2" } })
      .catch((e: unknown) => e);
    expect((error as AdminError).problems).toEqual(["timeouts: client timeouts are set on the listeners at start; restart to change them"]);
    expect(app.balancer.status().config.version).toBe("v1");
  });

  test("moving the admin API from all interfaces to loopback (and dropping its credentials) is not left half applied", async () => {
    const withApi = (api: unknown) => configOf({ blue: [A] }, [], { admin: { api } });
    const first = withApi({ listen: { host: "0.0.0.0", port: 9901 }, auth: { bearer: { token: "s3cret" } } });
    const app = createBalancer(first, platform, { version: "v1" });
    const { set, bound } = fakeListeners(app);
    await set.start(first);
    app.balancer.attachListeners(set);
    await app.balancer.ready();
    expect([...bound.keys()].sort()).toEqual(["0.0.0.0:8080", "0.0.0.0:9901"]);

    // Credentials are not required on loopback, so the new config has none.
    const outcome = await app.balancer.reload("test", { config: { config: withApi({ listen: { host: "127.0.0.1", port: 9901 } }), version: "v2" } })
      .then(() => "reloaded", (e: AdminError) => `refused: ${(e.problems ?? [e.message]).join("; ")}`);
    await Bun.sleep(0); // the old listeners stop after the swap
    // First what matters most: a client elsewhere, sending a loopback Host (no browser needed) and no credentials.
    const sneaky = await app.balancer.handler(adminListenerKey({ listen: { host: "0.0.0.0", port: 9901 } }))(
      new Request("http://127.0.0.1:9901/v1/status", { headers: { host: "127.0.0.1:9901" } }),
    );
    const exposed = bound.has("0.0.0.0:9901") && sneaky.ok;
    expect(exposed ? `bound on 0.0.0.0:9901, answers ${sneaky.status} without credentials` : "not exposed").toBe("not exposed");
    if (outcome === "reloaded") {
      // Applied: the API is on loopback only.
      expect([...bound.keys()].sort()).toEqual(["0.0.0.0:8080", "127.0.0.1:9901"]);
    } else expect(outcome).toContain("admin.api");
  });
});
