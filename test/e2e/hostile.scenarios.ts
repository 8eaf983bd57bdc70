/**
 * Hostile clients: requests built to confuse the balancer, its runtime's
 * parser or its targets, sent on raw sockets so nothing rewrites them. None
 * may take a target out, slip past a rule, reach a target through the
 * balancer's own paths, or hold a connection for good; and configs that
 * `fulcrum check` accepts start, or fail in one plain line.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { type AddressInfo, connect, createServer } from "node:net";
import { type Balancer, type Runtime, serveExpectingExit, startBalancer } from "./launch.ts";
import { rawFraming, rawRequest } from "./raw-http.ts";
import { startUpstream, type Upstream } from "./upstream.ts";

/** CF-Connecting-IP on Workers (believed under `--trust-cf-connecting-ip`, as the edge's would be); nothing elsewhere. */
const cf = (runtime: Runtime) => (runtime === "workerd" ? "CF-Connecting-IP: 127.0.0.1\r\n" : "");

/** One upstream ("a") and one balancer in front of it for a describe block: started before its tests, stopped after. */
function balancerOverUpstream(
  runtime: Runtime,
  config: (upstream: string) => unknown,
  opts: { trustCfConnectingIp?: boolean; args?: readonly string[] } = {},
): { readonly up: Upstream; readonly lb: Balancer } {
  const fixture = {} as { up: Upstream; lb: Balancer };
  beforeAll(async () => {
    fixture.up = await startUpstream("a");
    fixture.lb = await startBalancer(runtime, config(fixture.up.url), opts);
  }, 120_000);
  afterAll(async () => {
    await fixture.lb?.stop();
    await fixture.up?.close();
  });
  return fixture;
}

/**
 * The statuses a malformed request may get: the balancer's 400, or, locally on workerd,
 * Miniflare's entry worker's 500, which fails to build the URL (or refuses CONNECT) before
 * the Worker runs (on Cloudflare the edge answers these).
 */
const refused = (runtime: Runtime, status: number) => (runtime === "workerd" ? [status, 500] : [status]);

/** Every scenario of this file, for test/e2e/<runtime>.test.ts. */
export function hostileScenarios(runtime: Runtime): void {
  malformedRequestScenarios(runtime);
  clientTimeoutScenarios(runtime);
  pipeliningScenarios(runtime);
  clientAddressScenarios(runtime);
  startupScenarios(runtime);
}

export function malformedRequestScenarios(runtime: Runtime): void {
  describe(`hostile clients on ${runtime}`, () => {
    const fixture = balancerOverUpstream(runtime, (upstream) => ({
      listen: { port: 0 },
      // One target, taken out by a single failure (nginx max_fails=1): any request blamed on it shows.
      targetGroups: { app: { targets: [{ url: upstream }], passive: { maxFails: 1, failTimeout: 30 } } },
      rules: [
        { priority: 1, conditions: [{ pathPattern: { values: ["/admin/*"] } }], action: { fixedResponse: { statusCode: 403, messageBody: "denied" } } },
        { priority: 2, conditions: [{ pathPattern: { values: ["/old/*"] } }], action: { redirect: { host: "new.example", statusCode: 301 } } },
      ],
      defaultAction: { forward: "app" },
      admin: {
        stats: { auth: { basic: { username: "ops", password: "secret" } } },
        metrics: { path: "/__fulcrum/metrics" },
      },
    }));

    /** The target is still in: a plain request is answered by it. */
    const targetServes = async () => {
      const r = await rawRequest(fixture.lb.port, `GET /still-up HTTP/1.1\r\nHost: lb.test\r\n${cf(runtime)}Connection: close`);
      expect(r.status).toBe(200);
    };
    const send = (head: string, body = "") => rawFraming(fixture.lb.port, head + "\r\n\r\n", { body: Buffer.from(body), waitMs: 5000 });

    test("a duplicated Content-Length, even identical, is 400 and never counted against the target", async () => {
      const hits = fixture.up.hits;
      for (let i = 0; i < 3; i++) {
        const r = await send(`POST /upload HTTP/1.1\r\nHost: lb.test\r\n${cf(runtime)}Content-Length: 5\r\nContent-Length: 5\r\nConnection: close`, "hello");
        expect(refused(runtime, 400)).toContain(r.status);
      }
      expect(fixture.up.hits).toBe(hits);
      await targetServes();
    });

    test("two Host fields, or a Host with / ? # @ or a bad port, is 400; the target never sees it", async () => {
      const hits = fixture.up.hits;
      for (
        const host of [
          "Host: a.example\r\nHost: b.example",
          "Host: a.example?",
          "Host: a.example/x",
          "Host: a.example#x",
          "Host: user@a.example",
          "Host: a.example:99999",
        ]
      ) {
        const r = await send(`GET /x HTTP/1.1\r\n${host}\r\n${cf(runtime)}Connection: close`);
        expect(refused(runtime, 400).map((status) => ({ host, status }))).toContainEqual({ host, status: r.status });
      }
      expect(fixture.up.hits).toBe(hits);
      await targetServes();
    });

    test("CONNECT is refused (501, or the runtime's own refusal) and never counted against the target", async () => {
      const r = await send(`CONNECT a.example:443 HTTP/1.1\r\nHost: a.example:443\r\n${cf(runtime)}Connection: close`);
      // Node's server hands CONNECT to a 'connect' listener and closes the socket when there is none.
      expect(runtime === "node" ? [0, 501] : refused(runtime, 501)).toContain(r.status);
      await targetServes();
    });

    test("a deny rule cannot be bypassed by spelling: // \\ %61 and dot segments all meet it", async () => {
      const hits = fixture.up.hits;
      for (const path of ["//admin/x", "/admin\\x", "/static\\..\\admin\\x", "/%61dmin/x", "/static/%2e%2e/admin/x", "/static/../admin/x"]) {
        const r = await send(`GET ${path} HTTP/1.1\r\nHost: lb.test\r\n${cf(runtime)}Connection: close`);
        // Node's parser refuses a `\` in the request target itself (400).
        const expected = runtime === "node" && path.includes("\\") ? 400 : 403;
        expect({ path, status: r.status }).toEqual({ path, status: expected });
      }
      expect(fixture.up.hits).toBe(hits);
    });

    test("a path that means different things to different targets is 400; a malformed Host on a redirect rule is 400, not 500", async () => {
      // `/a//../admin/x` is /admin/x to nginx or Go and /a/admin/x to WHATWG parsers. Bun, Node and
      // workerd resolve it (WHATWG) before the balancer sees it, and the target gets that one
      // reading; Deno passes it on raw, and the balancer refuses it.
      const ambiguous = await rawRequest(fixture.lb.port, `GET /a//../admin/x HTTP/1.1\r\nHost: lb.test\r\n${cf(runtime)}Connection: close`);
      if (runtime === "deno") expect(ambiguous.status).toBe(400);
      else expect([ambiguous.status, JSON.parse(ambiguous.body.toString()).url]).toEqual([200, "/a/admin/x"]);
      const hits = fixture.up.hits;
      expect(refused(runtime, 400)).toContain((await send(`GET /app/admin-panel/x HTTP/1.1\r\nHost: a.example?\r\n${cf(runtime)}Connection: close`)).status);
      expect(refused(runtime, 400)).toContain((await send(`GET /old/page HTTP/1.1\r\nHost: a.example?\r\n${cf(runtime)}Connection: close`)).status);
      expect(fixture.up.hits).toBe(hits);
      // The nearest honest request goes through, with its path as sent.
      const r = await rawRequest(fixture.lb.port, `GET /app/admin-panel/x HTTP/1.1\r\nHost: lb.test\r\n${cf(runtime)}Connection: close`);
      expect(r.status).toBe(200);
      expect(JSON.parse(r.body.toString()).url).toBe("/app/admin-panel/x");
    });

    test("no spelling or method of the admin paths reaches a target, and the credentials with it", async () => {
      const hits = fixture.up.hits;
      const auth = `Authorization: Basic ${btoa("ops:secret")}`;
      const cases: [string, string, number][] = [
        ["GET", "/__fulcrum/stats/", 404],
        ["GET", "//__fulcrum/stats", 404],
        ["GET", "/__FULCRUM/stats", 404],
        ["GET", "/__fulcrum/stats;x", 404],
        ["GET", "/__fulcrum%2fstats", 404],
        ["GET", "/__fulcrum/nothing-here", 404],
        ["POST", "/__fulcrum/stats", 405],
        ["PUT", "/__fulcrum/stats", 405],
        ["OPTIONS", "/__fulcrum/stats", 405],
        ["POST", "/__fulcrum/health", 405],
        ["DELETE", "/__fulcrum/metrics", 405],
      ];
      for (const [method, path, status] of cases) {
        const r = await send(`${method} ${path} HTTP/1.1\r\nHost: lb.test\r\n${auth}\r\n${cf(runtime)}Content-Length: 0\r\nConnection: close`);
        expect({ method, path, status: r.status }).toEqual({ method, path, status });
      }
      expect(fixture.up.hits).toBe(hits);
      // The page itself still answers with the credentials, and asks for them without.
      expect((await send(`GET /__fulcrum/stats HTTP/1.1\r\nHost: lb.test\r\n${auth}\r\n${cf(runtime)}Connection: close`)).status).toBe(200);
      expect((await send(`GET /__fulcrum/stats HTTP/1.1\r\nHost: lb.test\r\n${cf(runtime)}Connection: close`)).status).toBe(401);
    });
  });
}

export function startupScenarios(runtime: Runtime): void {
  describe(`what check passes and serve must not trip on, on ${runtime}`, () => {
    test("a port in use is one plain line and exit 1, no stack trace", async () => {
      const busy = createServer();
      await new Promise<void>((ok) => busy.listen(0, "127.0.0.1", ok));
      const port = (busy.address() as AddressInfo).port;
      try {
        const r = await serveExpectingExit(runtime, {
          listen: { port, host: "127.0.0.1" },
          targetGroups: { app: { targets: [{ url: "http://127.0.0.1:1" }] } },
          defaultAction: { forward: "app" },
        }, port);
        expect(r.code).toBe(1);
        expect(r.output.trim()).toBe(`fulcrum: listen 127.0.0.1:${port}: address already in use`);
      } finally {
        busy.close();
      }
    }, 90_000);

    test.skipIf(runtime === "workerd")("certificate files that cannot be read are named, one line each, before anything starts (as nginx -t)", async () => {
      const config = {
        listen: [{ port: 0 }, { port: 0, protocol: "HTTPS", certificate: { certFile: "/nonexistent/cert.pem", keyFile: "/nonexistent/key.pem" } }],
        targetGroups: { app: { targets: [{ url: "http://127.0.0.1:1" }] } },
        defaultAction: { forward: "app" },
      };
      const r = await serveExpectingExit(runtime, config, 0);
      expect(r.code).toBe(1);
      expect(r.output.trim().split("\n").slice(1)).toEqual([
        "  listen[1].certificate.certFile: cannot read /nonexistent/cert.pem: no such file or directory",
        "  listen[1].certificate.keyFile: cannot read /nonexistent/key.pem: no such file or directory",
      ]);
      expect(r.output).toMatch(/fulcrum\.json: 2 problems\n/);
    }, 90_000);

    test("a target group named like an Object.prototype member (toString) serves", async () => {
      const up = await startUpstream("t");
      const lb = await startBalancer(runtime, {
        listen: { port: 0 },
        targetGroups: { toString: { targets: [{ url: up.url }] }, valueOf: { targets: [{ url: up.url }] } },
        defaultAction: { forward: "toString" },
      });
      try {
        const r = await fetch(`${lb.url}/x`, { headers: runtime === "workerd" ? { "cf-connecting-ip": "127.0.0.1" } : {} });
        expect(r.status).toBe(200);
        expect(r.headers.get("x-served-by")).toBe("t");
      } finally {
        await lb.stop();
        await up.close();
      }
    }, 90_000);
  });
}

/**
 * Opens a connection, writes `data` (if any) in one go, and collects everything until the server
 * closes it (or `capMs` passes): what came back, and after how long the connection ended.
 */
function exchange(port: number, data: string | undefined, capMs: number): Promise<{ got: string; ms: number }> {
  return new Promise((done) => {
    const started = Date.now();
    const socket = connect(port, "127.0.0.1", () => {
      if (data !== undefined) socket.write(data);
    });
    let got = "";
    const finish = () => {
      clearTimeout(cap);
      socket.destroy();
      done({ got, ms: Date.now() - started });
    };
    const cap = setTimeout(finish, capMs);
    socket.on("data", (d) => (got += d.toString("latin1")));
    socket.on("close", finish);
    socket.on("error", finish);
  });
}

const closedAfter = async (port: number, data: string | undefined, capMs: number) => (await exchange(port, data, capMs)).ms;

export function clientTimeoutScenarios(runtime: Runtime): void {
  // On Workers, client connections are Cloudflare's edge's (and, locally, Miniflare's). Deno.serve
  // has no client timeouts (denoland/deno#34172): Deno keeps them only on its node:http server.
  describe.skipIf(runtime === "workerd")(`client timeouts on ${runtime}${runtime === "deno" ? " (--deno-server node)" : ""}`, () => {
    const fixture = balancerOverUpstream(runtime, (upstream) => ({
      listen: { port: 0 },
      // The target may stay silent for 6 s (connect + response): Bun's one idle timer is kept at least that long.
      targetGroups: { app: { targets: [{ url: upstream }], timeouts: { connect: 1, response: 5 } } },
      defaultAction: { forward: "app" },
      timeouts: { clientHeader: 2, clientIdle: 2 },
    }), { args: runtime === "deno" ? ["--deno-server", "node"] : [] });

    test("half a request, nothing at all, or an idle keep-alive connection is closed, not held for good", async () => {
      // Bun gives a connection's first request a fixed 10 s for its headers; its timer ticks every 4 s.
      const headerLimit = runtime === "bun" ? 14_000 : 5_000;
      const [partial, nothing, idle] = await Promise.all([
        closedAfter(fixture.lb.port, "GET / HTTP/1.1\r\nHost: lb.test\r\nX-Slow: ", 30_000),
        closedAfter(fixture.lb.port, undefined, 30_000),
        closedAfter(fixture.lb.port, "GET / HTTP/1.1\r\nHost: lb.test\r\n\r\n", 30_000),
      ]);
      expect(partial).toBeLessThan(headerLimit);
      expect(nothing).toBeLessThan(headerLimit);
      expect(idle).toBeLessThan(runtime === "bun" ? 10_000 : 5_000);
      expect(idle).toBeGreaterThanOrEqual(1_500);
    }, 60_000);

    test("a request that waits on a slow target longer than the client timeouts is not cut", async () => {
      fixture.up.delayMs = 4_500;
      try {
        const r = await fetch(`${fixture.lb.url}/waits`);
        expect(r.status).toBe(200);
      } finally {
        fixture.up.delayMs = 0;
      }
    }, 30_000);
  });
}

export function pipeliningScenarios(runtime: Runtime): void {
  describe(`pipelined requests on ${runtime}`, () => {
    const fixture = balancerOverUpstream(
      runtime,
      (upstream) => ({ listen: { port: 0 }, targetGroups: { app: { targets: [{ url: upstream }] } }, defaultAction: { forward: "app" } }),
    );

    test("two requests in one write: both answered in order (Bun: none, oven-sh/bun#38128)", async () => {
      const posts = fixture.up.methods.POST ?? 0;
      const { got } = await exchange(
        fixture.lb.port,
        `POST /a HTTP/1.1\r\nHost: lb.test\r\n${cf(runtime)}Content-Length: 5\r\n\r\nhelloGET /b HTTP/1.1\r\nHost: lb.test\r\n${
          cf(runtime)
        }Connection: close\r\n\r\n`,
        3_000,
      );
      if (runtime === "bun") {
        // Bun.serve closes a connection whose next request arrives while an async handler is still
        // running, and drops the answer it was writing: the POST ran at the target, the client got
        // nothing. A plain Bun.serve does the same; the fix is oven-sh/bun#38128. When this fails,
        // Bun has fixed it: update the README's runtime notes.
        expect(got).toBe("");
        // Whether the POST reached the target first depends on timing (it did, in the report).
        expect(fixture.up.methods.POST ?? 0).toBeLessThanOrEqual(posts + 1);
      } else {
        // A response's head may follow the previous body directly (no newline in between).
        const statuses = [...got.matchAll(/HTTP\/1\.1 (\d{3}) /g)].map((m) => m[1]);
        expect(statuses).toEqual(["200", "200"]);
        expect(got.indexOf('"url":"/a"')).toBeLessThan(got.indexOf('"url":"/b"'));
      }
    }, 10_000);
  });
}

/** Workers: a client's own CF-Connecting-IP is believed only where the edge sets it, or when a local run is told to. */
export function clientAddressScenarios(runtime: Runtime): void {
  describe.skipIf(runtime !== "workerd")(`client address on ${runtime}`, () => {
    const fixture = balancerOverUpstream(runtime, (upstream) => ({
      listen: { port: 0 },
      targetGroups: { app: { targets: [{ url: upstream }] } },
      rules: [{ priority: 1, conditions: [{ sourceIp: { values: ["6.6.6.6/32"] } }], action: { fixedResponse: { statusCode: 418, messageBody: "steered" } } }],
      defaultAction: { forward: "app" },
    }), { trustCfConnectingIp: false });

    test("under `fulcrum serve --runtime workerd` a spoofed CF-Connecting-IP matches no sourceIp rule and reaches no forwarding header", async () => {
      const r = await fetch(`${fixture.lb.url}/x`, { headers: { "cf-connecting-ip": "6.6.6.6" } });
      expect(r.status).toBe(200);
      const seen = (await r.json()) as { headers: Record<string, string> };
      expect(seen.headers["x-forwarded-for"]).toBeUndefined();
      expect(seen.headers["x-real-ip"]).toBeUndefined();
    });
  });
}
