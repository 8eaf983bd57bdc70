/**
 * `fulcrum build workers`: a wrangler project for the user's own config in
 * the user's own folder, that `wrangler deploy --dry-run` accepts; a bad
 * config fails the build with its field paths and writes nothing.
 */
import { expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT } from "./launch.ts";

const fulcrum = (args: string[], cwd: string) =>
  spawnSync("node", [join(ROOT, "src/cli/fulcrum.mjs"), ...args], { cwd, encoding: "utf8", env: { ...process.env, NO_COLOR: "1" } });

test("a valid config becomes a wrangler project that wrangler accepts; literal secrets are named", () => {
  const dir = mkdtempSync(join(tmpdir(), "fulcrum-build-"));
  writeFileSync(
    join(dir, "fulcrum.json"),
    JSON.stringify({
      listen: { port: 8080 },
      targetGroups: { app: { targets: [{ url: "https://example.com" }], stickiness: { type: "lb_cookie", secret: "0123456789abcdef0123456789abcdef" } } },
      defaultAction: { forward: "app" },
      state: { store: "cloudflare" },
      admin: { api: { path: "/__fulcrum/api", auth: { bearer: { tokenEnv: "FULCRUM_ADMIN_TOKEN" } } } },
    }),
  );
  const r = fulcrum(["build", "workers", "--out", "deploy", "--name", "lb-test"], dir);
  expect(r.status).toBe(0);
  expect(r.stdout).toContain("npx wrangler secret put FULCRUM_ADMIN_TOKEN");
  expect(r.stderr).toContain("targetGroups.app.stickiness.secret: a literal secret goes into the Worker bundle; use secretEnv");
  const toml = readFileSync(join(dir, "deploy", "wrangler.toml"), "utf8");
  expect(toml).toContain('name = "lb-test"');
  expect(toml).toContain('class_name = "FulcrumState"');
  const deploy = spawnSync(join(ROOT, "node_modules/.bin/wrangler"), ["deploy", "--dry-run", "--outdir", "out"], {
    cwd: join(dir, "deploy"),
    encoding: "utf8",
    env: { ...process.env, WRANGLER_SEND_METRICS: "false", CLOUDFLARE_CF_FETCH_ENABLED: "false", NO_COLOR: "1" },
    timeout: 120_000,
  });
  expect([deploy.status, deploy.stdout]).toEqual([0, expect.stringContaining("env.FULCRUM_STATE (FulcrumState)")]);
}, 150_000);

test("a bad config fails the build with every problem by field path, and writes nothing", () => {
  const dir = mkdtempSync(join(tmpdir(), "fulcrum-build-"));
  writeFileSync(
    join(dir, "bad.json"),
    JSON.stringify({ listen: { port: 8080 }, targetGroups: { app: { strategy: "fastest", targets: [{ url: "foo" }] } }, defaultAction: { forward: "web" } }),
  );
  const r = fulcrum(["build", "workers", "--config", "bad.json", "--out", "deploy"], dir);
  expect(r.status).toBe(1);
  expect(r.stderr).toContain("targetGroups.app.strategy: expected one of round_robin");
  expect(r.stderr).toContain('defaultAction.forward: unknown target group "web", expected one of app');
  expect(existsSync(join(dir, "deploy"))).toBe(false);
}, 60_000);
