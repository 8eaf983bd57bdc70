/**
 * DNS discovery through the real balancer on Bun, Deno and Node, against a
 * real DNS server on loopback (test/dns-server.ts): a name's A records at a
 * port and a service's SRV records become targets; health checks apply to
 * them; a record that goes away takes its target out at its TTL, one that
 * comes back brings it back, and the change log says so. (Workers have no
 * DNS client: `check --runtime workerd` refuses `discover`.)
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { type DnsServer, startDnsServer } from "../dns-server.ts";
import { type Balancer, fulcrumCommand, type Runtime, startBalancer } from "./launch.ts";
import { startUpstream, type Upstream } from "./upstream.ts";

export function discoveryScenarios(runtime: Runtime): void {
  describe(`dns discovery on ${runtime}`, () => {
    let dns: DnsServer;
    let ups: Upstream[] = [];
    let b: Balancer;

    beforeAll(async () => {
      dns = await startDnsServer();
      const a = await startUpstream("a");
      // The same port on another loopback address: one name, one port, two targets.
      const b2 = await startUpstream("b", { host: "127.0.0.2", port: a.port });
      const [c, d] = await Promise.all([startUpstream("c"), startUpstream("d")]);
      ups = [a, b2, c, d];
      dns.zone.set("app.test", { a: [{ address: "127.0.0.1", ttl: 1 }, { address: "127.0.0.2", ttl: 1 }] });
      dns.zone.set("_http._tcp.svc.test", {
        srv: [{ priority: 1, weight: 1, port: c.port, target: "one.test", ttl: 1 }, { priority: 1, weight: 1, port: d.port, target: "two.test", ttl: 1 }],
      });
      dns.zone.set("one.test", { a: [{ address: "127.0.0.1", ttl: 1 }] });
      dns.zone.set("two.test", { a: [{ address: "127.0.0.1", ttl: 1 }] });
      b = await startBalancer(runtime, {
        listen: { port: 0 },
        resolver: { servers: [dns.address], minTtl: 0.2 },
        targetGroups: {
          app: {
            // A name listed among the targets (and the group-level discover block below): the same discovery.
            targets: [{ dns: "app.test", port: a.port }],
            healthCheck: { path: "/health", interval: 1, timeout: 0.5, unhealthyThreshold: 1, healthyThreshold: 1, jitter: 0 },
          },
          svc: { discover: { srv: "_http._tcp.svc.test" } },
        },
        rules: [{ priority: 10, conditions: [{ pathPattern: { values: ["/svc/*"] } }], action: { forward: "svc" } }],
        defaultAction: { forward: "app" },
      });
    }, 60_000);

    afterAll(async () => {
      await b?.stop();
      await Promise.all(ups.map((u) => u.close()));
      await dns?.close();
    }, 30_000);

    const seen = async (path: string, n = 12) => {
      const out = new Set<string>();
      for (let i = 0; i < n; i++) {
        const r = await fetch(`${b.url}${path}`);
        await r.arrayBuffer();
        out.add(r.headers.get("x-served-by") ?? `status ${r.status}`);
      }
      return [...out].sort();
    };
    const until = async (path: string, want: string[], ms: number) => {
      const end = Date.now() + ms;
      let got = await seen(path);
      while (JSON.stringify(got) !== JSON.stringify(want) && Date.now() < end) {
        await Bun.sleep(200);
        got = await seen(path);
      }
      return got;
    };

    test("a name's addresses at the port, and a service's SRV hosts and ports, are the groups' targets", async () => {
      expect(await seen("/x")).toEqual(["a", "b"]);
      expect(await seen("/svc/x")).toEqual(["c", "d"]);
    });

    test("health checks apply to discovered targets", async () => {
      ups[1]!.healthy = false;
      expect(await until("/x", ["a"], 5000)).toEqual(["a"]);
      ups[1]!.healthy = true;
      expect(await until("/x", ["a", "b"], 5000)).toEqual(["a", "b"]);
    }, 15_000);

    test("a record that goes away takes its target out at its TTL, one that comes back brings it back, and the change log says so", async () => {
      dns.zone.set("app.test", { a: [{ address: "127.0.0.1", ttl: 1 }] });
      expect(await until("/x", ["a"], 5000)).toEqual(["a"]);
      dns.zone.set("app.test", { a: [{ address: "127.0.0.1", ttl: 1 }, { address: "127.0.0.2", ttl: 1 }] });
      expect(await until("/x", ["a", "b"], 5000)).toEqual(["a", "b"]);
      const events = await fulcrumCommand(["events"], { admin: b.adminUrl! });
      expect(events.out).toMatch(new RegExp(`target remove +app/http://127\\.0\\.0\\.2:${ups[0]!.port} .*dns app\\.test`));
      expect(events.out).toMatch(new RegExp(`target add +app/http://127\\.0\\.0\\.2:${ups[0]!.port} .*dns app\\.test`));
      // Resolved at its TTL (1 s), not at every request.
      expect(dns.queries.get("app.test a")!).toBeLessThan(40);
    }, 20_000);
  });
}
