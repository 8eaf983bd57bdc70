/**
 * @datadog/sketches-js lazily `require`s "protobufjs/minimal" (only for
 * toProto/fromProto, which Fulcrum never calls) and does not depend on it,
 * so esbuild/wrangler cannot resolve it. The Worker build must mark it
 * external; this pins both facts with the Worker build's esbuild options.
 */
import { describe, expect, test } from "bun:test";
import { build } from "esbuild";
import { join } from "node:path";
import { appHealth, fedMetrics } from "./fixtures.ts";

const root = join(import.meta.dir, "../../..");
const options = (external: string[]) => ({
  entryPoints: [join(root, "routes/stats.ts")],
  bundle: true,
  write: false,
  format: "esm" as const,
  platform: "neutral" as const,
  target: "es2022",
  conditions: ["workerd", "worker", "browser"],
  mainFields: ["module", "main"],
  logLevel: "silent" as const,
  external,
});

describe("worker bundle of the metrics and stats code", () => {
  test("fails without protobufjs/minimal external", async () => {
    await expect(build(options([]))).rejects.toThrow('Could not resolve "protobufjs/minimal"');
  });

  test("builds with it external, and the bundle renders metrics", async () => {
    const out = await build(options(["protobufjs/minimal"]));
    const code = out.outputFiles![0]!.text;
    expect(code).not.toMatch(/from\s*["']node:/);
    const url = `data:text/javascript;base64,${Buffer.from(code).toString("base64")}`;
    const mod = (await import(url)) as typeof import("../../../routes/stats.ts");
    const app = mod.statsRoutes({ metrics: fedMetrics(), health: () => appHealth(), config: { metrics: { path: "/m" } }, env: {} });
    const res = await app.request("/m");
    expect(res.status).toBe(200);
    expect(await res.text()).toContain('fulcrum_target_requests_total{balancer="edge",group="app",target="http://10.0.0.1:9001",class="2xx"} 100');
  });
});
