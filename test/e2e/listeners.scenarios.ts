/**
 * Several listeners and TLS termination on the server runtimes (Bun, Deno,
 * Node): a plain HTTP listener and an HTTPS one with a self-signed
 * certificate made by openssl for the test. (On Workers TLS ends at
 * Cloudflare's edge.)
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { execFileSync } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Balancer, freePort, type Runtime, startBalancer } from "./launch.ts";
import { startUpstream, type Upstream } from "./upstream.ts";

export function selfSignedCertificate(): { certFile: string; keyFile: string } {
  const dir = mkdtempSync(join(tmpdir(), "fulcrum-tls-"));
  const certFile = join(dir, "cert.pem");
  const keyFile = join(dir, "key.pem");
  execFileSync("openssl", [
    "req",
    "-x509",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-keyout",
    keyFile,
    "-out",
    certFile,
    "-days",
    "1",
    "-subj",
    "/CN=localhost",
    "-addext",
    "subjectAltName=IP:127.0.0.1,DNS:localhost",
  ], { stdio: "ignore" });
  return { certFile, keyFile };
}

export function listenerScenarios(runtime: Exclude<Runtime, "workerd">): void {
  describe(`listeners on ${runtime}`, () => {
    let up: Upstream;
    let b: Balancer;
    let httpsPort: number;
    let redirectPort: number;
    beforeAll(async () => {
      up = await startUpstream("a");
      httpsPort = await freePort();
      redirectPort = await freePort();
      b = await startBalancer(runtime, {
        listen: [
          { port: 0 },
          { port: httpsPort, protocol: "HTTPS", certificate: selfSignedCertificate() },
          // The classic :80 -> :443: this listener's own default action.
          { port: redirectPort, defaultAction: { redirect: { protocol: "HTTPS", port: String(httpsPort), statusCode: 301 } } },
        ],
        targetGroups: { app: { targets: [{ url: up.url }] } },
        // The config's rules: the redirecting listener must not run them (it once served /api/* over plain HTTP).
        rules: [{ priority: 10, conditions: [{ pathPattern: { values: ["/api/*"] } }], action: { forward: "app" } }],
        defaultAction: { forward: "app" },
      });
    }, 60_000);
    afterAll(async () => {
      await b?.stop();
      await up.close();
    });

    test("HTTP and HTTPS listeners serve the same balancer; X-Forwarded-Proto tells the scheme", async () => {
      // startBalancer waited for the first listener only; give the second one a moment (bounded).
      for (let i = 0; i < 50; i++) {
        const up = await fetch(`https://127.0.0.1:${httpsPort}/__fulcrum/health`, { tls: { rejectUnauthorized: false } } as RequestInit).then(
          (r) => r.ok,
          () => false,
        );
        if (up) break;
        await Bun.sleep(100);
      }
      const plain = (await (await fetch(`${b.url}/x`)).json()) as { headers: Record<string, string> };
      expect(plain.headers["x-forwarded-proto"]).toBe("http");
      const res = await fetch(`https://127.0.0.1:${httpsPort}/x`, { tls: { rejectUnauthorized: false } } as RequestInit);
      expect(res.status).toBe(200);
      const secure = (await res.json()) as { headers: Record<string, string> };
      expect(secure.headers["x-forwarded-proto"]).toBe("https");
    });

    test("an HTTP listener answers 301 to the HTTPS listener, keeping path and query", async () => {
      const r = await fetch(`http://127.0.0.1:${redirectPort}/a/b?c=1`, { redirect: "manual" });
      expect(r.status).toBe(301);
      expect(r.headers.get("location")).toBe(`https://127.0.0.1:${httpsPort}/a/b?c=1`);
      const followed = await fetch(r.headers.get("location")!, { tls: { rejectUnauthorized: false } } as RequestInit);
      expect(followed.status).toBe(200);
      // Every path, those the config's rules match included: only the other listeners run those.
      const api = await fetch(`http://127.0.0.1:${redirectPort}/api/orders`, { redirect: "manual" });
      expect([api.status, api.headers.get("location")]).toEqual([301, `https://127.0.0.1:${httpsPort}/api/orders`]);
      expect((await fetch(`${b.url}/api/orders`)).status).toBe(200);
    });
  });
}
