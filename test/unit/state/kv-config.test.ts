/**
 * The Worker's config from Workers KV (src/runtimes/workerd/kv-config.ts) on real
 * workerd through Miniflare, with a real KV namespace: a config put in KV
 * takes over without a redeploy, an invalid one is ignored (the config in use
 * stays), deleting the key brings back the bundled config.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Miniflare } from "miniflare";
import { buildWorker } from "../../../src/cli/build.ts";
import { COMPATIBILITY_DATE, COMPATIBILITY_FLAGS } from "../../../src/cli/serve-workerd.ts";
import { writeConfig } from "../../e2e/launch.ts";
import { startUpstream, type Upstream } from "../../e2e/upstream.ts";

const ROOT = join(import.meta.dir, "..", "..", "..");
let a: Upstream, b: Upstream;
let mf: Miniflare;
const lines: string[] = [];

const configFor = (u: Upstream) => ({ listen: { port: 0 }, targetGroups: { app: { targets: [{ url: u.url }] } }, defaultAction: { forward: "app" } });
/** The same, with the Durable Object store and active checks every second (the object's alarm probes). */
const probedConfigFor = (u: Upstream) => ({
  ...configFor(u),
  targetGroups: { app: { targets: [{ url: u.url }], healthCheck: { path: "/health", interval: 1, timeout: 0.5, jitter: 0 } } },
  state: { store: "cloudflare", cacheTtl: 0.5 },
});

async function miniflare(configPath: string, name: string): Promise<Miniflare> {
  const script = await buildWorker(ROOT, configPath, name);
  const m = new Miniflare({
    modules: [{ type: "ESModule", path: script, contents: readFileSync(script, "utf8") }],
    modulesRoot: "/",
    compatibilityDate: COMPATIBILITY_DATE,
    compatibilityFlags: COMPATIBILITY_FLAGS,
    kvNamespaces: ["FULCRUM_KV"],
    bindings: { FULCRUM_CONFIG_REFRESH: "0.2" },
    durableObjects: { FULCRUM_STATE: { className: "FulcrumState", useSQLite: true } },
    handleRuntimeStdio: (stdout: NodeJS.ReadableStream) => void stdout.on("data", (d: Buffer) => lines.push(...d.toString().split("\n"))),
  });
  await m.ready;
  return m;
}

beforeAll(async () => {
  [a, b] = await Promise.all([startUpstream("a"), startUpstream("b")]);
  mf = await miniflare(writeConfig(configFor(a)), "kv-config-test");
}, 60_000);

afterAll(async () => {
  await mf?.dispose();
  await Promise.all([a?.close(), b?.close()]);
});

async function servedBy(m = mf): Promise<string> {
  const r = await m.dispatchFetch("http://lb.test/x", { headers: { "cf-connecting-ip": "127.0.0.1" } });
  await r.arrayBuffer();
  return r.headers.get("x-served-by") ?? `status ${r.status}`;
}

/** Requests until one is served by `name` (a reload happens after a response, so it shows on a later request). */
async function until(name: string, ms = 5000): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if ((await servedBy()) === name) return true;
    await Bun.sleep(100);
  }
  return false;
}

test("the config in KV replaces the bundled one without a redeploy; an invalid one is ignored; deleting it restores the bundled one", async () => {
  expect(await servedBy()).toBe("a"); // nothing in KV: the bundled config
  const kv = (await mf.getKVNamespace("FULCRUM_KV")) as unknown as { put(k: string, v: string): Promise<void>; delete(k: string): Promise<void> };
  await kv.put("config", JSON.stringify(configFor(b)));
  expect(await until("b")).toBe(true);

  await kv.put("config", JSON.stringify({ listen: { port: 0 }, targetGroups: {}, defaultAction: { forward: "nope" } }));
  await Bun.sleep(600);
  for (let i = 0; i < 5; i++) expect(await servedBy()).toBe("b"); // kept
  const out = lines.join("\n");
  expect(out).toContain("config: ignoring FULCRUM_KV/config, keeping the config in use");
  expect(out).toContain('defaultAction.forward: unknown target group "nope", and targetGroups has none'); // the problems, by field path

  await kv.delete("config");
  expect(await until("a")).toBe(true);
}, 30_000);

test("the Durable Object follows the config in KV: its alarm probes the new targets, not the bundled ones", async () => {
  const m = await miniflare(writeConfig(probedConfigFor(a)), "kv-config-probes");
  try {
    expect(await servedBy(m)).toBe("a"); // starts the object and its alarm
    const kv = (await m.getKVNamespace("FULCRUM_KV")) as unknown as { put(k: string, v: string): Promise<void> };
    await kv.put("config", JSON.stringify(probedConfigFor(b)));
    for (let i = 0; i < 30 && (await servedBy(m)) !== "b"; i++) await Bun.sleep(100);
    await Bun.sleep(1500); // the object re-reads KV at its next alarm
    const [a0, b0] = [a.probes, b.probes];
    // The isolate is refused the probe lease while the object holds it, so b's probes come from the object.
    for (let i = 0; i < 6; i++) {
      await servedBy(m);
      await Bun.sleep(500);
    }
    expect(b.probes - b0).toBeGreaterThanOrEqual(2);
    expect(a.probes - a0).toBe(0);
  } finally {
    await m.dispose();
  }
}, 30_000);

test("a config swap keeps what the isolate knows of the targets it still lists: a target taken out stays out, a new one joins", async () => {
  const c = await startUpstream("c");
  // nginx passive checks: one failed attempt (here a 502) takes a target out for a minute.
  const configOf = (targets: Upstream[]) => ({
    listen: { port: 0 },
    targetGroups: {
      app: { targets: targets.map((u) => ({ url: u.url })), passive: { maxFails: 1, failTimeout: 60, failOn: ["connect", "reset", "timeout", 502] } },
    },
    defaultAction: { forward: "app" },
  });
  const m = await miniflare(writeConfig(configOf([a, b])), "kv-config-swap");
  try {
    a.failWith = 502;
    for (let i = 0; i < 4; i++) await servedBy(m); // round robin reaches a, which fails once (the retry answers from b)
    a.failWith = undefined;
    for (let i = 0; i < 4; i++) expect(await servedBy(m)).toBe("b");
    const kv = (await m.getKVNamespace("FULCRUM_KV")) as unknown as { put(k: string, v: string): Promise<void> };
    await kv.put("config", JSON.stringify(configOf([a, b, c])));
    let joined = false;
    for (let i = 0; i < 50 && !joined; i++) {
      joined = (await servedBy(m)) === "c";
      await Bun.sleep(100);
    }
    expect(joined).toBe(true);
    const seen = new Set<string>();
    for (let i = 0; i < 12; i++) seen.add(await servedBy(m));
    expect([...seen].sort()).toEqual(["b", "c"]); // a is still out under the new config
  } finally {
    await m.dispose();
    await c.close();
  }
}, 30_000);
