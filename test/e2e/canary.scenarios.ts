/**
 * Automatic canaries through the real balancer on every runtime: a healthy
 * canary goes through its steps to 100 % and is promoted; one answering 5xx
 * to a fifth of its requests, or slower than maxP99, goes back to 0 % within
 * its first step; one with too little traffic gets no verdict and waits. The
 * decisions are in the change log with their numbers, `fulcrum canary`
 * prints and steers them, and the stats page's status.json shows them.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { type Balancer, fulcrumCommand, type Runtime, startBalancer } from "./launch.ts";
import { startUpstream, type Upstream } from "./upstream.ts";

const TOKEN = "canary-e2e";
const canary = (group: string) => ({ group, steps: [20, 50, 100], interval: 1, minRequests: 10, maxErrorRate: 5, maxP99: 0.15 });
const rule = (priority: number, path: string, group: string) => ({
  priority,
  conditions: [{ pathPattern: { values: [`/${path}/*`] } }],
  action: { forward: { targetGroups: [{ group: "stable", weight: 1 }, { group, weight: 0 }], canary: canary(group) } },
});

interface View {
  rule: string;
  state: string;
  weight: number;
  step: number;
  reason?: string;
  measured: { canary: { requests: number } };
}

export function canaryScenarios(runtime: Runtime): void {
  describe(`canary on ${runtime}`, () => {
    const cf: Record<string, string> = runtime === "workerd" ? { "cf-connecting-ip": "127.0.0.1" } : {};
    const auth = { ...cf, authorization: `Bearer ${TOKEN}` };
    let ups: Upstream[] = [];
    let b: Balancer;

    beforeAll(async () => {
      ups = await Promise.all(["stable", "ok", "failing", "slow", "quiet"].map((n) => startUpstream(n)));
      const [stable, ok, failing, slow, quiet] = ups as [Upstream, Upstream, Upstream, Upstream, Upstream];
      failing.failEvery = 5;
      slow.delayMs = 300;
      b = await startBalancer(runtime, {
        listen: { port: 0 },
        targetGroups: Object.fromEntries([stable, ok, failing, slow, quiet].map((u) => [u.name, { targets: [{ url: u.url }] }])),
        rules: [rule(10, "ok", "ok"), rule(20, "failing", "failing"), rule(30, "slow", "slow"), rule(40, "quiet", "quiet")],
        defaultAction: { forward: "stable" },
        admin: { api: { path: "/__fulcrum/api", auth: { bearer: { token: TOKEN } } }, stats: { path: "/__stats", auth: { bearer: { token: TOKEN } } } },
      });
    }, 60_000);

    afterAll(async () => {
      await b?.stop();
      await Promise.all(ups.map((u) => u.close()));
    }, 30_000);

    const view = async (r: string): Promise<View> => {
      const res = await fetch(`${b.url}/__fulcrum/api/v1/canaries`, { headers: auth });
      const { canaries } = (await res.json()) as { canaries: View[] };
      return canaries.find((c) => c.rule === r)!;
    };

    /** Requests to `path` from 4 clients until `done` holds of the canary of `r` (checked every 250 ms), bounded. */
    async function drive(path: string, r: string, done: (v: View) => boolean, limitMs: number): Promise<View> {
      const until = Date.now() + limitMs;
      let stop = false;
      const clients = Array.from({ length: 4 }, async () => {
        while (!stop && Date.now() < until) {
          const res = await fetch(`${b.url}/${path}/x`, { headers: cf });
          await res.arrayBuffer();
        }
      });
      let v = await view(r);
      while (!done(v) && Date.now() < until) {
        await Bun.sleep(250);
        v = await view(r);
      }
      stop = true;
      await Promise.all(clients);
      return v;
    }

    test("a healthy canary goes through its steps and is promoted at 100 %", async () => {
      const seen = new Set<number>();
      const v = await drive("ok", "10", (x) => (seen.add(x.weight), x.state === "promoted"), 20_000);
      expect(v.state).toBe("promoted");
      expect(v.weight).toBe(100);
      expect([...seen].filter((w) => w === 20 || w === 50).length).toBeGreaterThan(0);
      // All of the rule's traffic goes to the canary now.
      const served = await Promise.all(Array.from({ length: 10 }, async () => (await fetch(`${b.url}/ok/y`, { headers: cf })).headers.get("x-served-by")));
      expect(new Set(served)).toEqual(new Set(["ok"]));
    }, 30_000);

    test("a canary answering 5xx to a fifth of its requests is rolled back to 0 % within its first step, with the numbers in the change log", async () => {
      const v = await drive("failing", "20", (x) => x.state === "rolled back", 15_000);
      expect(v.state).toBe("rolled back");
      expect(v.weight).toBe(0);
      expect(v.step).toBe(0);
      expect(v.reason).toMatch(/5xx rate \d+\.\d+ % over maxErrorRate 5\.00 %/);
      const served = await Promise.all(Array.from({ length: 10 }, async () => (await fetch(`${b.url}/failing/y`, { headers: cf })).headers.get("x-served-by")));
      expect(new Set(served)).toEqual(new Set(["stable"]));
      const events = (await (await fetch(`${b.url}/__fulcrum/api/v1/events`, { headers: auth })).json()) as {
        events: { kind: string; subject: string; after: string; detail?: string }[];
      };
      const rolled = events.events.find((e) => e.kind === "canary" && e.subject === "rule 20" && e.after === "0 % rolled back");
      expect(rolled?.detail).toMatch(/canary \d+ requests, \d+\.\d+ % 5xx/);
    }, 30_000);

    test("a canary slower than maxP99 is rolled back", async () => {
      const v = await drive("slow", "30", (x) => x.state === "rolled back", 20_000);
      expect(v.state).toBe("rolled back");
      expect(v.reason).toMatch(/p99 \d+\.\d ms over maxP99 150\.0 ms/);
    }, 30_000);

    test("with too little traffic there is no verdict: the canary waits at its step", async () => {
      for (let i = 0; i < 3; i++) await (await fetch(`${b.url}/quiet/x`, { headers: cf })).arrayBuffer();
      await Bun.sleep(2500);
      // A request now and then, so a Worker runs its periodic work.
      for (let i = 0; i < 3; i++) await (await fetch(`${b.url}/quiet/x`, { headers: cf })).arrayBuffer();
      const v = await view("40");
      expect(v.state).toBe("progressing");
      expect(v.weight).toBe(20);
      expect(v.measured.canary.requests).toBeLessThan(10);
    }, 20_000);

    test("fulcrum canary prints where a canary stands, and pause, resume, promote and abort steer it", async () => {
      const admin = { admin: `${b.url}/__fulcrum/api`, token: TOKEN };
      const status = await fulcrumCommand(["canary", "status", "40"], admin);
      expect(status.code).toBe(0);
      expect(status.out).toContain("rule 40: canary quiet at 20 %, PROGRESSING (stable: stable)");
      expect(status.out).toMatch(/steps +\[20\] → 50 → 100 %/);
      const paused = await fulcrumCommand(["canary", "pause", "40"], admin);
      expect(paused.out).toContain("canary of rule 40: 20 % paused");
      const promoted = await fulcrumCommand(["canary", "promote", "40"], admin);
      expect(promoted.out).toContain("100 % promoted");
      const again = await fulcrumCommand(["canary", "promote", "40"], admin);
      expect([again.code, again.err.trim()]).toEqual([1, "fulcrum canary: the canary of rule 40 is already promoted"]);
      // An operator's route holds the rule: status says so, and says how to give it back.
      expect((await fulcrumCommand(["route", "40", "stable"], admin)).out).toContain("its canary is held until fulcrum route 40 --config");
      expect((await fulcrumCommand(["canary", "status", "40"], admin)).out).toContain("held      by fulcrum route 40");
      expect((await fulcrumCommand(["route", "40", "--config"], admin)).out).toContain("its canary's weights apply again");
      const aborted = await fulcrumCommand(["canary", "abort", "40"], admin);
      expect(aborted.out).toContain("0 % aborted");
      expect((await fulcrumCommand(["canary", "pause", "40"], admin)).err).toContain("is aborted, not progressing (fulcrum canary resume 40 starts it over)");
      const resumed = await fulcrumCommand(["canary", "resume", "40"], admin);
      expect(resumed.out).toContain("20 % progressing (started over by api");
      expect((await fulcrumCommand(["canary", "abort", "40"], admin)).code).toBe(0);
      const unknown = await fulcrumCommand(["canary", "abort", "99"], admin);
      expect(unknown.code).toBe(1);
      expect(unknown.err).toContain('no canary on rule "99"; canaries: 10, 20, 30, 40');
      const page = (await (await fetch(`${b.url}/__stats/status.json`, { headers: auth })).json()) as { canaries: View[] };
      expect(page.canaries.map((c) => `${c.rule} ${c.state}`)).toEqual(["10 promoted", "20 rolled back", "30 rolled back", "40 aborted"]);
    }, 30_000);
  });
}
