/**
 * Changing a running balancer with the `fulcrum` commands through its admin
 * API, on every runtime: blue/green and canary (`route`), `weight`,
 * `target add` and `target remove`, `drain` and `ready`, `reload` (and
 * SIGHUP on the servers), the change log, and who may use the API. Real
 * upstreams on loopback, the real CLI, load bounded in count and time.
 *
 * On the servers the API has its own loopback port (launch.ts picks a free
 * one); on workerd it is a path on the traffic listener, where it needs a
 * token. Both use the same token here, so every command is run alike.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import WebSocket from "ws";
import { type Balancer, fulcrumCommand, type Runtime, startBalancer } from "./launch.ts";
import { startUpstream, type Upstream } from "./upstream.ts";
import { startWsUpstream, type WsUpstream } from "./ws-upstream.ts";

const TOKEN = "control-e2e-token";
const api = (runtime: Runtime) =>
  runtime === "workerd" ? { path: "/__fulcrum/api", auth: { bearer: { token: TOKEN, name: "e2e" } } } : { auth: { bearer: { token: TOKEN, name: "e2e" } } };

interface Load {
  readonly failed: number;
  /** Who answered each successful request, in order. */
  readonly by: string[];
}

/**
 * `clients` loops of requests until `stop` settles (and at most `max` requests in all):
 * the failures (not 200, or no answer) and who answered the rest.
 */
async function underLoad(url: string, headers: Record<string, string>, stop: Promise<unknown>, clients = 8, max = 50_000): Promise<Load> {
  let done = false;
  void stop.finally(() => (done = true));
  const by: string[] = [];
  let failed = 0;
  let sent = 0;
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (!done && sent < max) {
        sent++;
        try {
          const r = await fetch(url, { headers });
          await r.arrayBuffer();
          if (r.status === 200) by.push(r.headers.get("x-served-by") ?? "?");
          else failed++;
        } catch {
          failed++;
        }
      }
    }),
  );
  return { failed, by };
}

/** `n` requests from `clients` loops; who answered each. */
async function spread(url: string, headers: Record<string, string>, n: number, clients = 16): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  let left = n;
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (left-- > 0) {
        const r = await fetch(url, { headers });
        await r.arrayBuffer();
        const who = r.status === 200 ? (r.headers.get("x-served-by") ?? "?") : `status ${r.status}`;
        counts.set(who, (counts.get(who) ?? 0) + 1);
      }
    }),
  );
  return counts;
}

async function until(what: string, check: () => Promise<boolean> | boolean, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(50);
  }
}

export function controlScenarios(runtime: Runtime): void {
  describe(`control plane on ${runtime}`, () => {
    const cf: Record<string, string> = runtime === "workerd" ? { "cf-connecting-ip": "127.0.0.1" } : {};
    let b1: Upstream, b2: Upstream, g1: Upstream, x1: Upstream;
    let lb: Balancer;
    let config: Record<string, unknown>;
    const cli = (...args: string[]) => fulcrumCommand(args, { admin: lb.adminUrl!, token: TOKEN });
    const status = async () => {
      const r = await cli("status", "--json");
      if (r.code !== 0) throw new Error(`fulcrum status --json: exit ${r.code}: ${r.err}\n${lb.output().slice(-3000)}`);
      return JSON.parse(r.out) as { groups: { name: string; targets: { name?: string; url: string; state: string; weight: number }[] }[] };
    };
    const targetsOf = async (group: string) => (await status()).groups.find((g) => g.name === group)!.targets;

    beforeAll(async () => {
      [b1, b2, g1, x1] = (await Promise.all(["b1", "b2", "g1", "x1"].map((n) => startUpstream(n)))) as [Upstream, Upstream, Upstream, Upstream];
      config = {
        listen: { port: 0 },
        targetGroups: {
          blue: {
            strategy: "weighted_round_robin",
            targets: [{ url: b1.url, name: "b1" }, { url: b2.url, name: "b2" }],
            deregistrationDelay: 1,
            healthCheck: { path: "/health", interval: 1, timeout: 0.5, unhealthyThreshold: 1, healthyThreshold: 1, jitter: 0 },
          },
          green: { targets: [{ url: g1.url, name: "g1" }], deregistrationDelay: 1 },
        },
        rules: [{ priority: 10, conditions: [{ pathPattern: { values: ["/api/*"] } }], action: { forward: "blue" } }],
        defaultAction: { forward: { targetGroups: [{ group: "blue", weight: 1 }], stickiness: { enabled: true, duration: 600, cookieName: "FulcrumTG" } } },
        admin: { api: api(runtime) },
      };
      lb = await startBalancer(runtime, config);
      // As written (with the admin API's port the launcher chose): the edits below start from it.
      config = JSON.parse(readFileSync(lb.configFile, "utf8"));
    }, 120_000);

    afterAll(async () => {
      await lb?.stop();
      await Promise.all([b1, b2, g1, x1].map((u) => u?.close()));
    }, 30_000);

    test("status prints groups, targets and rules; a wrong token, or none, is refused with what to do", async () => {
      const s = await cli("status");
      expect(s.code).toBe(0);
      expect(s.out).toContain("group blue (weighted_round_robin)");
      expect(s.out).toMatch(/b1\s+http:\/\/127\.0\.0\.1:\d+\s+healthy/);
      expect(s.out).toMatch(/default\s+forward blue=1/);
      const none = await fulcrumCommand(["status"], { admin: lb.adminUrl! });
      expect([none.code, none.err.trim()]).toEqual([
        1,
        `fulcrum status: the admin API at ${lb.adminUrl} wants credentials: set FULCRUM_ADMIN_TOKEN or pass --token`,
      ]);
      const wrong = await fulcrumCommand(["status"], { admin: lb.adminUrl!, token: "nope" });
      expect(wrong.code).toBe(1);
      expect(wrong.err).toContain("refused the token");
      // A browser on another site gets nothing, credentials or not.
      const cross = await fetch(`${lb.adminUrl}/v1/status`, { headers: { ...cf, authorization: `Bearer ${TOKEN}`, origin: "https://evil.example" } });
      expect(cross.status).toBe(403);
      const site = await fetch(`${lb.adminUrl}/v1/status`, { headers: { ...cf, authorization: `Bearer ${TOKEN}`, "sec-fetch-site": "cross-site" } });
      expect(site.status).toBe(403);
    }, 60_000);

    test("blue/green: route default green under load, no request fails, and every request after it goes to green", async () => {
      const switched = cli("route", "default", "green");
      const during = await underLoad(`${lb.url}/bg`, cf, switched);
      const r = await switched;
      expect([r.code, r.out.trim()]).toEqual([0, "rule default: forward green"]);
      expect(during.failed).toBe(0);
      expect(during.by.length).toBeGreaterThan(0);
      const after = await spread(`${lb.url}/bg`, cf, 200);
      expect([...after.keys()]).toEqual(["g1"]);
      // A rule by its priority, and back to the config file's action.
      expect((await cli("route", "10", "green")).code).toBe(0);
      expect([...(await spread(`${lb.url}/api/x`, cf, 40)).keys()]).toEqual(["g1"]);
      const back = await cli("route", "10", "--config");
      expect(back.out.trim()).toBe("rule 10: forward blue (the config file's)");
      const unknown = await cli("route", "99", "green");
      expect([unknown.code, unknown.err.trim()]).toEqual([1, 'fulcrum route: no rule "99"; rules: 10, default']);
      const purple = await cli("route", "default", "purple");
      expect(purple.err).toContain('unknown target group "purple", expected one of blue, green');
    }, 90_000);

    test("canary 90/10, 50/50, 0/100: each split within 3% over 3,000 requests; a canary client stays on canary until its weight is 0", async () => {
      const share = (counts: Map<string, number>, who: string[]) =>
        who.reduce((n, w) => n + (counts.get(w) ?? 0), 0) / [...counts.values()].reduce((a, b) => a + b, 0);
      expect((await cli("route", "default", "blue=90", "green=10")).code).toBe(0);
      const ninety = await spread(`${lb.url}/c`, cf, 3000);
      expect(Math.abs(share(ninety, ["g1"]) - 0.1)).toBeLessThanOrEqual(0.03);
      // A client the split sent to green, with its group cookie.
      let cookie = "";
      for (let i = 0; i < 200 && !cookie; i++) {
        const r = await fetch(`${lb.url}/c`, { headers: cf });
        await r.arrayBuffer();
        if (r.headers.get("x-served-by") === "g1") cookie = (r.headers.get("set-cookie") ?? "").split(";")[0]!;
      }
      expect(cookie).toStartWith("FulcrumTG=");
      expect((await cli("route", "default", "blue=50", "green=50")).out.trim()).toBe("rule default: forward blue=50 green=50");
      const half = await spread(`${lb.url}/c`, cf, 3000);
      expect(Math.abs(share(half, ["g1"]) - 0.5)).toBeLessThanOrEqual(0.03);
      expect([...(await spread(`${lb.url}/c`, { ...cf, cookie }, 50)).keys()]).toEqual(["g1"]);
      // Weight 0 takes the group's sticky clients away (ALB).
      expect((await cli("route", "default", "blue=100", "green=0")).code).toBe(0);
      const away = await spread(`${lb.url}/c`, { ...cf, cookie }, 50);
      expect(away.get("g1")).toBeUndefined();
      expect((await cli("route", "default", "blue=0", "green=100")).code).toBe(0);
      expect([...(await spread(`${lb.url}/c`, cf, 3000)).keys()]).toEqual(["g1"]);
      expect((await cli("route", "default", "--config")).code).toBe(0);
    }, 120_000);

    test("weight, target add and target remove take effect without a restart", async () => {
      expect((await cli("weight", "blue", "b2", "0")).out.trim()).toBe("blue/b2 weight 0, was 1");
      expect([...(await spread(`${lb.url}/api/w`, cf, 60)).keys()]).toEqual(["b1"]);
      expect((await cli("weight", "blue", b2.url, "config")).out.trim()).toBe("blue/b2 weight 1 (the config's), was 0");
      expect(new Set((await spread(`${lb.url}/api/w`, cf, 60)).keys())).toEqual(new Set(["b1", "b2"]));

      const add = await cli("target", "add", "blue", x1.url, "--name", "x1", "--weight", "2");
      expect([add.code, add.out.trim()]).toEqual([0, `blue/x1 added (${x1.url}, weight 2)`]);
      // Blue has active checks: a new target starts unhealthy until its first probe passes (ALB).
      await until("x1 healthy", async () => (await targetsOf("blue")).find((t) => t.name === "x1")?.state === "healthy");
      const added = await spread(`${lb.url}/api/w`, cf, 400);
      expect(Math.abs((added.get("x1") ?? 0) / 400 - 0.5)).toBeLessThanOrEqual(0.1);
      expect((await targetsOf("blue")).map((t) => t.name)).toEqual(["b1", "b2", "x1"]);
      const twice = await cli("target", "add", "blue", x1.url);
      expect([twice.code, twice.err]).toEqual([1, expect.stringContaining(`${x1.url} is already in group blue (x1)`)]);

      const remove = await cli("target", "remove", "blue", "x1");
      expect([remove.code, remove.out.trim()]).toEqual([0, "blue/x1 draining, removed in 1s"]);
      // Draining at once: no new request reaches it; gone from the group after deregistrationDelay.
      const hits = x1.hits;
      await spread(`${lb.url}/api/w`, cf, 60);
      expect(x1.hits).toBe(hits);
      await until("x1 leaves blue", async () => (await targetsOf("blue")).length === 2);
      const unknown = await cli("drain", "blue", "nope");
      expect(unknown.err.trim()).toBe(`fulcrum drain: no target "nope" in group blue; its targets: b1 (${b1.url}), b2 (${b2.url})`);
    }, 90_000);

    test("reload under load: a changed target list with no failed request, health kept, an invalid edit changes nothing", async () => {
      // b2 fails its checks and is out before the reload; the reload keeps it out.
      b2.healthy = false;
      await until("b2 unhealthy", async () => (await targetsOf("blue")).find((t) => t.name === "b2")!.state === "unhealthy");
      // status says why, and since when, first thing an operator asks.
      const why = await cli("status");
      expect(why.out).toMatch(/b2\s.*unhealthy.*health check failed: 503.*since \d{4}-/);
      expect((await cli("route", "default", "green")).code).toBe(0);
      const edited = structuredClone(config) as { targetGroups: { blue: { targets: unknown[] } } };
      edited.targetGroups.blue.targets.push({ url: x1.url, name: "x1" });
      writeFileSync(lb.configFile, JSON.stringify(edited));
      const reloaded = cli("reload");
      const during = await underLoad(`${lb.url}/api/r`, cf, reloaded);
      const r = await reloaded;
      expect(r.code).toBe(0);
      expect(r.out).toMatch(/^reloaded .*: 1 target\(s\) added, 0 removed; 1 override\(s\) kept, 0 dropped/);
      expect(during.failed).toBe(0);
      const blue = await targetsOf("blue");
      expect(blue.map((t) => [t.name, t.state])).toEqual([["b1", "healthy"], ["b2", "unhealthy"], ["x1", "healthy"]]);
      // The operator's blue/green switch survived the reload.
      expect([...(await spread(`${lb.url}/r`, cf, 40)).keys()]).toEqual(["g1"]);
      b2.healthy = true;

      writeFileSync(lb.configFile, JSON.stringify({ ...edited, defaultAction: { forward: "purple" }, listen: { port: "80" } }));
      const bad = await cli("reload");
      expect(bad.code).toBe(1);
      expect(bad.err).toContain(": invalid, nothing changed");
      expect(bad.err).toContain("listen.port: expected number");
      expect(bad.err).toContain('defaultAction.forward: unknown target group "purple"');
      expect((await targetsOf("blue")).length).toBe(3);
      // Refused, and on the record: the balancer's log and the change log say so, not only the command.
      expect(lb.output()).toContain("refused: ");
      const events = JSON.parse((await cli("events", "--json")).out) as { kind: string; after?: unknown }[];
      expect(events.some((e) => e.kind === "reload" && e.after === "refused")).toBe(true);
      writeFileSync(lb.configFile, JSON.stringify(config));
      expect((await cli("route", "default", "--config")).code).toBe(0);
    }, 90_000);

    test.skipIf(runtime === "workerd")("SIGHUP reloads like fulcrum reload", async () => {
      const edited = structuredClone(config) as { targetGroups: { green: { targets: unknown[] } } };
      edited.targetGroups.green.targets.push({ url: x1.url, name: "x1" });
      writeFileSync(lb.configFile, JSON.stringify(edited));
      lb.process.kill("SIGHUP");
      await until("green has x1", async () => (await targetsOf("green")).length === 2);
      expect(lb.output()).toContain("fulcrum: SIGHUP: reloading the config");
      writeFileSync(lb.configFile, JSON.stringify({ ...edited, targetGroups: {} }));
      lb.process.kill("SIGHUP");
      await until("the failed reload is logged", () => lb.output().includes("reload by SIGHUP refused:"));
      expect(lb.output()).toContain('rules[0].action.forward: unknown target group "blue", and targetGroups has none');
      expect(lb.output()).not.toContain("    at ");
      expect((await targetsOf("green")).length).toBe(2);
      writeFileSync(lb.configFile, JSON.stringify(config));
    }, 60_000);

    test("the change log has every change, who made it and where", async () => {
      const r = await cli("events", "--json");
      expect(r.code).toBe(0);
      const events = JSON.parse(r.out) as { kind: string; subject: string; source: string }[];
      const kinds = new Set(events.map((e) => e.kind));
      for (const k of ["route", "weight", "target add", "target remove", "reload"]) expect(kinds.has(k)).toBe(true);
      expect(events.find((e) => e.kind === "route")!.source).toMatch(/^api .*\(token e2e\)$/);
      expect(events.some((e) => e.kind === "health" && e.subject === "blue/b2")).toBe(true);
      const table = await cli("events");
      expect(table.out).toMatch(/route\s+rule default\s+forward blue=1 -> forward green/);
    }, 60_000);
  });

  describe(`drain and ready on ${runtime}`, () => {
    const cf: Record<string, string> = runtime === "workerd" ? { "cf-connecting-ip": "127.0.0.1" } : {};
    let a: WsUpstream, b: WsUpstream;
    let lb: Balancer;
    const cli = (...args: string[]) => fulcrumCommand(args, { admin: lb.adminUrl!, token: TOKEN });
    const who = async (headers: Record<string, string> = {}) => {
      const r = await fetch(`${lb.url}/d`, { headers: { ...cf, ...headers } });
      return { name: ((await r.json()) as { name: string }).name, cookie: (r.headers.get("set-cookie") ?? "").split(";")[0]! };
    };

    beforeAll(async () => {
      [a, b] = await Promise.all([startWsUpstream("a"), startWsUpstream("b")]);
      lb = await startBalancer(runtime, {
        listen: { port: 0 },
        targetGroups: {
          app: {
            targets: [{ url: a.url, name: "a" }, { url: b.url, name: "b" }],
            stickiness: { type: "lb_cookie", secret: "0123456789abcdef0123456789abcdef" },
            deregistrationDelay: 3,
            slowStart: 2,
          },
        },
        defaultAction: { forward: "app" },
        admin: { api: api(runtime) },
      });
    }, 120_000);

    afterAll(async () => {
      await lb?.stop();
      await Promise.all([a, b].map((u) => u?.close()));
    }, 30_000);

    // On workerd a WebSocket is joined to its target natively and its end is not the balancer's to close (README, Runtime notes).
    const closesSockets = runtime !== "workerd";

    test("drain: no new clients, sticky clients and WebSockets stay until deregistrationDelay, then move (1012); ready ramps with slow start", async () => {
      let sticky = await who();
      while (sticky.name !== "a") sticky = await who();
      const ws = new WebSocket(`ws://127.0.0.1:${lb.port}/echo`, [], { headers: { ...cf, cookie: sticky.cookie } });
      await new Promise((ok, fail) => (ws.once("open", ok), ws.once("error", fail)));
      const closed = new Promise<number>((ok) => ws.once("close", (code: number) => ok(code)));
      // A request in flight on a when the drain starts completes there.
      const inFlight = fetch(`${lb.url}/d?delay=1500`, { headers: { ...cf, cookie: sticky.cookie } });
      await Bun.sleep(200);
      const drained = await cli("drain", "app", "a");
      expect([drained.code, drained.out.trim()]).toEqual([0, "app/a draining: no new requests; sticky clients and WebSockets move within 3s"]);
      const started = Date.now();
      for (let i = 0; i < 20; i++) expect((await who()).name).toBe("b");
      const slow = await inFlight;
      expect([slow.status, ((await slow.json()) as { name: string }).name]).toEqual([200, "a"]);
      expect((await who({ cookie: sticky.cookie })).name).toBe("a");
      if (closesSockets) {
        expect(await closed).toBe(1012);
        expect(Date.now() - started).toBeGreaterThan(2000);
      } else {
        await Bun.sleep(3200 - (Date.now() - started));
        ws.close();
      }
      expect((await who({ cookie: sticky.cookie })).name).toBe("b");
      const ready = await cli("ready", "app", "a");
      expect(ready.out.trim()).toBe("app/a back in service (slow start 2s)");
      const state = async () =>
        (JSON.parse((await cli("status", "--json")).out) as { groups: { targets: { name: string; state: string }[] }[] }).groups[0]!.targets[0]!.state;
      expect(await state()).toBe("slow_start");
      await until("a healthy after slow start", async () => (await state()) === "healthy", 10_000);
    }, 60_000);

    test("a reload that keeps a target keeps its WebSockets open", async () => {
      const ws = new WebSocket(`ws://127.0.0.1:${lb.port}/echo`, [], { headers: cf });
      await new Promise((ok, fail) => (ws.once("open", ok), ws.once("error", fail)));
      expect((await cli("reload")).code).toBe(0);
      const echoed = new Promise<string>((ok) => ws.once("message", (d: Buffer) => ok(String(d))));
      ws.send("still here");
      expect(await echoed).toBe("still here");
      ws.close();
    }, 60_000);
  });
}
