/**
 * `fulcrum check` beyond the schema, as `nginx -t` opens the certificate
 * files: what would stop `serve` at start (an unreadable or mismatched
 * certificate, a secret's environment variable unset) and keys a Worker
 * ignores. Real files from openssl.
 */
import { describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { validateConfig } from "../../../src/config/load.ts";
import { preflight } from "../../../src/cli/preflight.ts";
import { selfSignedCertificate } from "../../e2e/listeners.scenarios.ts";

const target = { targets: [{ url: "http://127.0.0.1:9001" }] };
const check = (raw: Record<string, unknown>, runtime: "bun" | "workerd" = "bun", env: Record<string, string> = {}) =>
  preflight(validateConfig(raw), raw, runtime, env);

describe("preflight", () => {
  test("certificates: missing, not PEM, and a key of another certificate are each one line with the field path; a good pair passes", () => {
    const good = selfSignedCertificate();
    const other = selfSignedCertificate();
    const https = (certFile: string, keyFile: string) => ({
      listen: [{ port: 8080 }, { port: 8443, protocol: "HTTPS", certificate: { certFile, keyFile } }],
      targetGroups: { app: target },
      defaultAction: { forward: "app" },
    });
    expect(check(https(good.certFile, good.keyFile)).problems).toEqual([]);
    expect(check(https("/nonexistent/cert.pem", good.keyFile)).problems).toEqual([
      "listen[1].certificate.certFile: cannot read /nonexistent/cert.pem: no such file or directory",
    ]);
    const garbage = `${good.certFile}.txt`;
    writeFileSync(garbage, "not a certificate");
    expect(check(https(garbage, garbage)).problems).toEqual([
      `listen[1].certificate.certFile: ${garbage} is not a PEM certificate`,
      `listen[1].certificate.keyFile: ${garbage} is not a PEM private key (or it is encrypted)`,
    ]);
    expect(check(https(good.certFile, other.keyFile)).problems).toEqual([`listen[1].certificate.keyFile: ${other.keyFile} is not the key of ${good.certFile}`]);
  });

  test("every secret read from the environment must be set: stickiness, stats page and admin API credentials", () => {
    const raw = {
      listen: { port: 8080 },
      targetGroups: { app: { ...target, stickiness: { type: "lb_cookie", secretEnv: "STICKY" } } },
      defaultAction: { forward: "app" },
      admin: {
        stats: { auth: { basic: { username: "ops", passwordEnv: "STATS_PW" } } },
        api: { auth: { bearer: [{ name: "ci", tokenEnv: "CI_TOKEN" }, { name: "ops", token: "literal-token-1234" }] } },
      },
    };
    expect(check(raw).problems).toEqual([
      "targetGroups.app.stickiness.secretEnv: environment variable STICKY is not set (or is empty)",
      "admin.stats.auth.basic.passwordEnv: environment variable STATS_PW is not set (or is empty)",
      "admin.api.auth.bearer[0].tokenEnv: environment variable CI_TOKEN is not set (or is empty)",
    ]);
    expect(check(raw, "bun", { STICKY: "s".repeat(32), STATS_PW: "pw", CI_TOKEN: "t" }).problems).toEqual([]);
    // On Workers secrets are bindings (wrangler secret put), not this shell's environment.
    expect(check(raw, "workerd").problems).toEqual([]);
  });

  test("on Workers, listen keys that would do nothing are named; a plain port is tolerated with a note", () => {
    const plain = { listen: { port: 8080 }, targetGroups: { app: target }, defaultAction: { forward: "app" } };
    expect(check(plain, "workerd")).toEqual({ problems: [], notes: ["listen.port is not used on Workers"] });
    const cert = selfSignedCertificate();
    const two = {
      listen: [{ port: 80, host: "0.0.0.0" }, { port: 443, protocol: "HTTPS", certificate: cert }],
      targetGroups: { app: target },
      defaultAction: { forward: "app" },
    };
    expect(check(two, "workerd").problems).toEqual([
      "listen: a Worker has one listener, Cloudflare's; the other listeners would do nothing (use the first's defaultAction, or rules)",
      "listen[0].host: does nothing on Workers (Cloudflare's edge owns addresses, ports and TLS); remove it",
      "listen[1].protocol: does nothing on Workers (Cloudflare's edge owns addresses, ports and TLS); remove it",
      "listen[1].certificate: does nothing on Workers (Cloudflare's edge owns addresses, ports and TLS); remove it",
    ]);
  });

  test("on Workers, workers is named: Cloudflare runs the isolates; on a server it passes", () => {
    const config = { listen: { port: 8080 }, targetGroups: { app: target }, defaultAction: { forward: "app" }, workers: "auto" };
    expect(check(config, "workerd").problems).toEqual(["workers: does nothing on Workers (Cloudflare runs as many isolates as it needs); remove it"]);
    expect(check(config, "bun").problems).toEqual([]);
  });
});
