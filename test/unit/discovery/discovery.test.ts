/** Discovery with a resolver the test answers: TTLs bounded, fail static, SRV priorities, config checks by field. */
import { expect, test } from "bun:test";
import * as v from "valibot";
import { validateConfig } from "../../../src/config/load.ts";
import { Discovery } from "../../../src/discovery/discovery.ts";
import { DiscoverSchema } from "../../../src/discovery/schema.ts";
import type { DnsResolver } from "../../../src/platform.ts";
import { preflight } from "../../../src/cli/preflight.ts";

function setup(answers: { a?: () => { address: string; ttl: number }[]; srv?: () => { name: string; port: number; priority: number; weight: number }[] }) {
  const timers: { ms: number; fire: () => void }[] = [];
  const changes: string[] = [];
  const resolver: DnsResolver = {
    a: async (name) => (name === "one.test" ? [{ address: "10.0.0.9", ttl: 5 }] : (answers.a?.() ?? [])),
    aaaa: async () => [],
    srv: async () => answers.srv?.() ?? [],
  };
  const d = new Discovery({
    dns: () => resolver,
    now: () => 0,
    timer: (ms, fire) => (timers.push({ ms, fire }), () => {}),
    log: () => {},
    changed: (group, added, removed) => changes.push(`${group} +${added.join(",")} -${removed.join(",")}`),
  });
  return { d, timers, changes };
}

test("addresses at the port; the next look at the records' TTL within minTtl and maxTtl; a failure keeps the last answer", async () => {
  let answer: () => { address: string; ttl: number }[] = () => [{ address: "10.0.0.1", ttl: 1000 }, { address: "10.0.0.2", ttl: 1000 }];
  const { d, timers, changes } = setup({ a: () => answer() });
  d.configure(new Map([["app", v.parse(DiscoverSchema, { dns: "app.test", port: 8080 })]]), { minTtl: 1, maxTtl: 30, timeout: 2 });
  d.start();
  await Bun.sleep(5);
  expect(d.targets("app").map((t) => t.url)).toEqual(["http://10.0.0.1:8080", "http://10.0.0.2:8080"]);
  expect(changes).toEqual(["app +http://10.0.0.1:8080,http://10.0.0.2:8080 -"]);
  expect(timers.at(-1)!.ms).toBe(30_000);
  answer = () => {
    throw new Error("SERVFAIL");
  };
  timers.at(-1)!.fire();
  await Bun.sleep(5);
  expect(d.targets("app").length).toBe(2);
  expect(timers.at(-1)!.ms).toBe(1000);
  answer = () => [{ address: "10.0.0.1", ttl: 0 }];
  timers.at(-1)!.fire();
  await Bun.sleep(5);
  expect(changes.at(-1)).toBe("app + -http://10.0.0.2:8080");
  expect(timers.at(-1)!.ms).toBe(1000);
  d.stop();
});

test("SRV: the lowest priority's hosts and ports, higher priorities as backups, a weight of 0 counted as 1", async () => {
  const { d } = setup({
    srv: () => [
      { name: "one.test", port: 81, priority: 1, weight: 0 },
      { name: "one.test", port: 82, priority: 1, weight: 7 },
      { name: "one.test", port: 83, priority: 2, weight: 5 },
    ],
  });
  d.configure(new Map([["svc", v.parse(DiscoverSchema, { srv: "_http._tcp.svc.test" })]]), { minTtl: 1, maxTtl: 30, timeout: 2 });
  await d.resolveAll();
  expect(d.targets("svc").map((t) => `${t.url} ${t.weight}${t.backup ? " backup" : ""}`)).toEqual([
    "http://10.0.0.9:81 1",
    "http://10.0.0.9:82 7",
    "http://10.0.0.9:83 5 backup",
  ]);
});

test("config: exactly one of dns and srv, a port with dns only, targets or a discover block; Workers refuse discover", () => {
  const issues = (x: unknown) => v.safeParse(DiscoverSchema, x).issues?.map((i) => i.message) ?? [];
  expect(issues({ dns: "a.test" })).toContain("expected a port with dns (the records give addresses only)");
  expect(issues({ dns: "a.test", srv: "_x._tcp.a.test", port: 1 })).toContain("expected exactly one of dns (with port) or srv");
  expect(issues({ srv: "_x._tcp.a.test", port: 1 })).toContain("expected no port with srv (each record gives its own)");
  expect(() => validateConfig({ listen: { port: 1 }, targetGroups: { app: {} }, defaultAction: { forward: "app" } })).toThrow(
    "targetGroups.app.targets: expected at least one target, or a discover block that finds them",
  );
  // A name listed among the targets is gathered with the group's discover block.
  const listed = validateConfig({
    listen: { port: 1 },
    targetGroups: { app: { targets: [{ url: "http://10.0.0.1" }, { dns: "b.test", port: 81 }], discover: { srv: "_x._tcp.c.test" } } },
    defaultAction: { forward: "app" },
  }).targetGroups.app!;
  expect(listed.targets.map((t) => t.url)).toEqual(["http://10.0.0.1"]);
  expect(listed.discover.map((d) => d.dns ?? d.srv)).toEqual(["_x._tcp.c.test", "b.test"]);
  expect(() => validateConfig({ listen: { port: 1 }, targetGroups: { app: { targets: [{ dns: "b.test" }] } }, defaultAction: { forward: "app" } })).toThrow(
    "targetGroups.app.targets[0]: expected a port with dns (the records give addresses only)",
  );
  const raw = { listen: { port: 1 }, targetGroups: { app: { discover: { dns: "a.test", port: 80 } } }, defaultAction: { forward: "app" } };
  expect(preflight(validateConfig(raw), raw, "workerd", {}).problems).toContain(
    "targetGroups.app.discover: not on Workers, which have no DNS client (list the targets; a name in a target's URL is resolved by Cloudflare)",
  );
});

test("a reload's groups are looked up before they serve, and take over only on commit", async () => {
  let addresses = [{ address: "10.0.0.1", ttl: 5 }];
  const { d } = setup({ a: () => addresses });
  d.configure(new Map([["app", v.parse(DiscoverSchema, { dns: "app.test", port: 80 })]]), { minTtl: 1, maxTtl: 30, timeout: 2 });
  await d.resolveAll();
  expect(d.targets("app").map((t) => t.url)).toEqual(["http://10.0.0.1"]);
  addresses = [{ address: "10.0.0.2", ttl: 5 }];
  const staged = await d.prepare(new Map([["app", v.parse(DiscoverSchema, { dns: "app.test", port: 8080 })]]), { minTtl: 1, maxTtl: 30, timeout: 2 });
  expect(staged.targets("app").map((t) => t.url)).toEqual(["http://10.0.0.2:8080"]);
  // Refused (never committed): as it was.
  expect(d.targets("app").map((t) => t.url)).toEqual(["http://10.0.0.1"]);
  staged.commit();
  expect(d.targets("app").map((t) => t.url)).toEqual(["http://10.0.0.2:8080"]);
});
