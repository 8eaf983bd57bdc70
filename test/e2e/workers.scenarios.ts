/**
 * `fulcrum serve --workers 2` on Bun, Deno and Node: one balancer in two
 * worker processes under a primary. Requests reach both workers; the host
 * sends one probe per target per interval; a target that fails through one
 * worker is out on both, and a drain through the admin API applies to both;
 * a worker killed with SIGKILL under load is replaced, and the client loses
 * at most what was on it; a rolling restart under load loses nothing (on Bun
 * and Node with a code upgrade: workers-upgrade.test.ts).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { type Balancer, fulcrumCommand, type Runtime, startBalancer } from "./launch.ts";
import { startUpstream, type Upstream } from "./upstream.ts";

/** Each on a connection of its own, so that the kernel (or node:cluster) hands them to either worker. */
async function fresh(url: string): Promise<number> {
  const r = await fetch(url, { headers: { connection: "close" } });
  await r.arrayBuffer();
  return r.status;
}

/** `clients` keep-alive clients sending requests until `done` resolves (60 s at most); every failure (an error, a 5xx, no answer within `timeoutMs`) counted. */
async function load(url: string, clients: number, done: Promise<unknown>, timeoutMs = 10_000): Promise<{ ok: number; failed: number; errors: string[] }> {
  let over = false;
  void done.finally(() => (over = true));
  const until = Date.now() + 60_000;
  let ok = 0;
  let failed = 0;
  const errors: string[] = [];
  await Promise.all(
    Array.from({ length: clients }, async () => {
      for (let i = 0; i < 1_000_000 && !over && Date.now() < until; i++) {
        try {
          const r = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
          await r.arrayBuffer();
          if (r.status < 500) ok++;
          else (failed++, errors.push(`status ${r.status}`));
        } catch (error) {
          failed++;
          errors.push((error as Error).message);
        }
      }
    }),
  );
  return { ok, failed, errors };
}

/** Per worker slot: requests answered, from the host's /metrics (served by either worker). */
async function workerRequests(b: Balancer): Promise<Map<string, number>> {
  const text = await (await fetch(`${b.url}/__fulcrum/metrics`)).text();
  return new Map([...text.matchAll(/^fulcrum_worker_requests_total\{[^}]*worker="(\d+)"\} (\d+)/gm)].map((m) => [m[1]!, Number(m[2])]));
}

function workerPids(output: string): number[] {
  return [...output.matchAll(/worker \d+ \(pid (\d+)\) serving/g)].map((m) => Number(m[1]));
}

export function workerScenarios(runtime: Exclude<Runtime, "workerd">): void {
  describe(`--workers 2 on ${runtime}`, () => {
    let ups: Upstream[] = [];
    let b: Balancer;
    /** Probes target a had received when the tests began, and when. */
    const probing = { since: 0, probes: 0 };

    beforeAll(async () => {
      ups = await Promise.all(["a", "b", "c", "d", "e", "f"].map((n) => startUpstream(n)));
      const [a, bb, c, d, e, f] = ups as [Upstream, Upstream, Upstream, Upstream, Upstream, Upstream];
      b = await startBalancer(
        runtime,
        {
          listen: { port: 0 },
          targetGroups: {
            app: { targets: [{ url: a.url }, { url: bb.url, name: "b" }], healthCheck: { path: "/health", interval: 1, jitter: 0 } },
            flaky: { targets: [{ url: c.url }, { url: d.url }], passive: { maxFails: 1, failTimeout: 120, failOn: ["connect", "reset", "timeout", 502] } },
            least: { strategy: "least_connections", targets: [{ url: e.url }, { url: f.url }] },
          },
          rules: [
            { priority: 1, conditions: [{ pathPattern: { values: ["/flaky/*"] } }], action: { forward: "flaky" } },
            { priority: 2, conditions: [{ pathPattern: { values: ["/least/*", "/slow"] } }], action: { forward: "least" } },
          ],
          defaultAction: { forward: "app" },
          admin: { metrics: { path: "/__fulcrum/metrics" } },
        },
        { args: ["--workers", "2"] },
      );
      // After the first round of probes (sent at once at start).
      await Bun.sleep(300);
      Object.assign(probing, { since: Date.now(), probes: ups[0]!.probes });
    }, 120_000);
    afterAll(async () => {
      await b?.stop();
      await Promise.all(ups.map((u) => u.close()));
    }, 30_000);

    test("requests reach both workers, and /metrics counts the host's", async () => {
      for (let i = 0; i < 40; i++) expect(await fresh(`${b.url}/spread/${i}`)).toBe(200);
      const served = await workerRequests(b);
      expect([...served.keys()].sort()).toEqual(["1", "2"]);
      for (const n of served.values()) expect(n).toBeGreaterThan(0);
      // Whichever worker answers the scrape, the counters are both workers' together.
      const text = await (await fetch(`${b.url}/__fulcrum/metrics`)).text();
      const twoxx = [...text.matchAll(/^fulcrum_group_requests_total\{[^}]*group="app",class="2xx"\} (\d+)/gm)].map((m) => Number(m[1]));
      expect(twoxx.reduce((s, n) => s + n, 0)).toBe(ups[0]!.hits + ups[1]!.hits);
      expect(text).toMatch(/^fulcrum_workers\{[^}]*\} 2$/m);
    });

    test("a target that fails through one worker is out on both", async () => {
      const [c, d] = [ups[2]!, ups[3]!];
      c.failWith = 502;
      // Until one request has met c's 502 (retried on d: the client sees 200).
      for (let i = 0; i < 20 && c.hits === 0; i++) expect(await fresh(`${b.url}/flaky/${i}`)).toBe(200);
      expect(c.hits).toBe(1);
      const before = await workerRequests(b);
      for (let i = 0; i < 30; i++) expect(await fresh(`${b.url}/flaky/after/${i}`)).toBe(200);
      const after = await workerRequests(b);
      expect(c.hits).toBe(1);
      expect(d.hits).toBeGreaterThanOrEqual(31);
      // Both workers answered some of those 30.
      for (const slot of ["1", "2"]) expect(after.get(slot)! - before.get(slot)!).toBeGreaterThan(0);
    });

    test("a drain through the admin API applies to both workers", async () => {
      const t = ups[1]!;
      const drained = await fulcrumCommand(["drain", "app", "b"], { admin: b.adminUrl! });
      expect(drained.code).toBe(0);
      // The primary's status shows the host: its workers, and their requests in flight.
      const status = await fulcrumCommand(["status"], { admin: b.adminUrl! });
      expect(status.out).toMatch(/^workers 2: 1 pid \d+, 2 pid \d+$/m);
      const hits = t.hits;
      for (let i = 0; i < 30; i++) expect(await fresh(`${b.url}/drained/${i}`)).toBe(200);
      expect(t.hits).toBe(hits);
      expect((await fulcrumCommand(["ready", "app", "b"], { admin: b.adminUrl! })).code).toBe(0);
    });

    test("least_connections counts what the other worker has in flight", async () => {
      const [e, f] = [ups[4]!, ups[5]!];
      const long = fetch(`${b.url}/slow?ms=1500`, { headers: { connection: "close" } });
      // Reported by its worker and passed on by the primary: 250 ms each way.
      await Bun.sleep(800);
      expect(e.hits + f.hits).toBe(1);
      const busy = e.hits === 1 ? e : f;
      // Fresh connections land on both workers; the one without the long request knows of it too.
      for (let i = 0; i < 20; i++) expect(await fresh(`${b.url}/least/${i}`)).toBe(200);
      expect(busy.hits).toBe(1);
      expect((await long).status).toBe(200);
    }, 15_000);

    test("one probe per target per interval for the whole host, over the tests above", () => {
      const seconds = (Date.now() - probing.since) / 1000;
      const sent = ups[0]!.probes - probing.probes;
      // Three processes probing for themselves would send three per interval.
      expect(seconds).toBeGreaterThan(2);
      expect(sent).toBeGreaterThanOrEqual(1);
      expect(sent).toBeLessThanOrEqual(Math.ceil(seconds) + 1);
    });

    test("a worker killed with SIGKILL under load is replaced; only what was on it fails", async () => {
      const clients = 8;
      const victim = workerPids(b.output())[0]!;
      const counted = async () => {
        const text = await (await fetch(`${b.url}/__fulcrum/metrics`)).text();
        return [...text.matchAll(/^fulcrum_group_requests_total\{[^}]*class="2xx"\} (\d+)/gm)].reduce((n, m) => n + Number(m[1]), 0);
      };
      // A request on the killed worker may never be answered (node:cluster had handed it over): 2 s, then it counts as failed.
      const running = load(`${b.url}/load`, clients, Bun.sleep(1500), 2000);
      await Bun.sleep(500);
      process.kill(victim, "SIGKILL");
      const r = await running;
      const before = await counted();
      // At most one request per client was in flight, or about to use a connection to the dead worker.
      expect(r.failed).toBeLessThanOrEqual(clients);
      expect(r.ok).toBeGreaterThan(50);
      let text = "";
      for (let i = 0; i < 50; i++) {
        text = await (await fetch(`${b.url}/__fulcrum/metrics`)).text();
        if (/^fulcrum_workers\{[^}]*\} 2$/m.test(text)) break;
        await Bun.sleep(100);
      }
      expect(text).toMatch(/^fulcrum_workers\{[^}]*\} 2$/m);
      expect(text).toMatch(/^fulcrum_worker_crashes_total\{[^}]*\} 1$/m);
      expect(b.output()).toContain(`(pid ${victim}) was killed by SIGKILL`);
      // The dead worker's counts stay in the host's totals: a counter never goes down.
      expect(await counted()).toBeGreaterThanOrEqual(before);
      console.log(`${runtime}: SIGKILL of one of 2 workers under ${clients} clients: ${r.failed} failed of ${r.ok + r.failed}`);
    }, 30_000);

    test("the host serves the primary's config: a replaced worker does not read an edited file; a reload reaches every worker", async () => {
      const config = JSON.parse(readFileSync(b.configFile, "utf8")) as { rules: unknown[] };
      const teapot = { priority: 3, conditions: [{ pathPattern: { values: ["/teapot"] } }], action: { fixedResponse: { statusCode: 418 } } };
      writeFileSync(b.configFile, JSON.stringify({ ...config, rules: [...config.rules, teapot] }));
      const statuses = async () => {
        const seen = new Set<number>();
        for (let i = 0; i < 20; i++) seen.add(await fresh(`${b.url}/teapot`));
        return [...seen].sort();
      };
      // Edited but not reloaded: a worker started now (a crash's replacement) serves what the host serves.
      const victim = workerPids(b.output()).at(-1)!;
      process.kill(victim, "SIGKILL");
      for (let i = 0; i < 50 && workerPids(b.output()).length < 4; i++) await Bun.sleep(100);
      expect(await statuses()).toEqual([200]);
      const reloaded = await fulcrumCommand(["reload"], { admin: b.adminUrl! });
      expect(reloaded.code).toBe(0);
      expect(await statuses()).toEqual([418]);
      // A port that something else holds: refused before anything changes, on the primary or the workers.
      const holder = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
      try {
        writeFileSync(b.configFile, JSON.stringify({ ...config, listen: [{ port: b.port }, { port: holder.port, host: "127.0.0.1" }] }));
        const refused = await fulcrumCommand(["reload"], { admin: b.adminUrl! });
        expect(refused.code).toBe(1);
        expect(refused.err).toContain(`listen 127.0.0.1:${holder.port}: address already in use; nothing changed`);
        expect(await statuses()).toEqual([418]);
      } finally {
        holder.stop(true);
      }
    }, 30_000);

    // On Bun and Node the same restart runs with new code on disk: workers-upgrade.test.ts.
    if (runtime !== "deno") return;
    test("a rolling restart under load fails no request", async () => {
      const restarting = Bun.sleep(300).then(() => fulcrumCommand(["restart"], { admin: b.adminUrl! }));
      // Until the last old worker has had time to stop accepting and finish.
      const r = await load(`${b.url}/roll`, 8, restarting.then(() => Bun.sleep(500)));
      const restarted = await restarting;
      expect(restarted.err).toBe("");
      expect(restarted.out.trim()).toBe("restarted 2 worker(s) one by one");
      expect(r.errors.slice(0, 3)).toEqual([]);
      expect(r.ok).toBeGreaterThan(100);
    }, 60_000);
  });
}
