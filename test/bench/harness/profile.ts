/**
 * A short CPU profile of Fulcrum's hot path under wrk load (`bun --cpu-prof`,
 * `node --cpu-prof`; Deno and workerd over the V8 inspector), summarised as
 * the functions and files with the most self time. All four give the Chrome
 * `.cpuprofile` format.
 */
import { mkdirSync, readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { buildDenoEntry, buildNodeEntry, buildWorker } from "../../../src/cli/build.ts";
import { type InspectorCpuProfile, inspectorTarget, profileOverInspector } from "./inspector-profile.ts";
import { workerdBinary } from "./system.ts";
import { writeWorkerdConfig } from "./workerd.ts";
import { type Env, fulcrumConfigFile } from "./contestants.ts";
import type { FulcrumConfigName } from "./configs.ts";
import { freePort, start } from "./processes.ts";
import { runWrk } from "./wrk.ts";

type CpuProfile = InspectorCpuProfile;
export type ProfiledRuntime = "bun" | "deno" | "node" | "workerd";

export interface ProfileSummary {
  readonly runtime: ProfiledRuntime;
  readonly config: FulcrumConfigName;
  readonly totalMs: number;
  readonly functions: readonly { name: string; where: string; selfPct: number }[];
  readonly files: readonly { file: string; selfPct: number }[];
  /** Fulcrum's own functions (src/, routes/, strategies/, also inside the Node and Deno bundles; the Worker bundle) by total time, callees included. */
  readonly own: readonly { name: string; where: string; totalPct: number }[];
}

export function summarizeProfile(
  profile: CpuProfile,
  root: string,
  top = 15,
  /** The text of a bundle the profile ran (for its module comments); undefined when unreadable. */
  readBundle: (path: string) => string | undefined = readIfThere,
): Omit<ProfileSummary, "runtime" | "config"> {
  const locate = frameLocator(root, readBundle);
  const selfUs = new Map<number, number>();
  profile.samples.forEach((id, i) => selfUs.set(id, (selfUs.get(id) ?? 0) + Math.max(0, profile.timeDeltas[i] ?? 0)));
  const total = [...selfUs.values()].reduce((a, b) => a + b, 0) || 1;
  const byFunction = new Map<string, { name: string; where: string; us: number }>();
  const byFile = new Map<string, number>();
  for (const node of profile.nodes) {
    const us = selfUs.get(node.id) ?? 0;
    if (us === 0) continue;
    const { functionName, url, lineNumber } = node.callFrame;
    const { file, where } = url === "" ? { file: "(native)", where: "" } : locate(url, lineNumber);
    const name = functionName || "(anonymous)";
    const key = `${name}@${where}`;
    const entry = byFunction.get(key) ?? { name, where, us: 0 };
    entry.us += us;
    byFunction.set(key, entry);
    byFile.set(file, (byFile.get(file) ?? 0) + us);
  }
  const pct = (us: number) => Math.round((us / total) * 1000) / 10;
  // Total time: each sample counts once for every distinct function on its stack.
  const parent = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
  const nodeById = new Map(profile.nodes.map((n) => [n.id, n]));
  const totalUs = new Map<string, { name: string; where: string; us: number }>();
  for (const [id, us] of selfUs) {
    const seen = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const { functionName, url, lineNumber } = nodeById.get(cur)!.callFrame;
      const { file, where } = locate(url, lineNumber);
      if (!/^(src|routes|strategies)\/|^\(worker bundle\)/.test(file)) continue;
      const key = `${functionName}@${where}`;
      if (seen.has(key)) continue;
      seen.add(key);
      const entry = totalUs.get(key) ?? { name: functionName || "(anonymous)", where, us: 0 };
      entry.us += us;
      totalUs.set(key, entry);
    }
  }
  return {
    own: [...totalUs.values()].sort((a, b) => b.us - a.us).slice(0, 12).map((f) => ({ name: f.name, where: f.where, totalPct: pct(f.us) })),
    totalMs: Math.round(total / 1000),
    functions: [...byFunction.values()].sort((a, b) => b.us - a.us).slice(0, top).map((f) => ({ name: f.name, where: f.where, selfPct: pct(f.us) })),
    files: [...byFile.entries()].sort((a, b) => b[1] - a[1]).slice(0, 10).map(([file, us]) => ({ file, selfPct: pct(us) })),
  };
}

function readIfThere(path: string): string | undefined {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return undefined;
  }
}

/**
 * In an unminified esbuild bundle each module starts with a `// path` comment
 * (relative to the build's working directory, the project root): the source
 * module of a bundle line is the last such comment above it.
 */
export function bundleModuleAt(text: string): (line: number) => string | undefined {
  const starts: { line: number; module: string }[] = [];
  text.split("\n").forEach((l, line) => {
    const m = /^\/\/ ((?:src|routes|strategies|node_modules)\/\S+)$/.exec(l);
    if (m) starts.push({ line, module: m[1]! });
  });
  return (line) => {
    let lo = 0;
    let hi = starts.length - 1;
    let found: string | undefined;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (starts[mid]!.line <= line) {
        found = starts[mid]!.module;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return found;
  };
}

/**
 * Where a frame is, as a file for the tables. Frames in the Node and Deno
 * bundles (src/cli/build.ts) are given their source module; the Deno bundle
 * also holds the packages (undici, hono), which must not count as Fulcrum's.
 */
function frameLocator(root: string, readBundle: (path: string) => string | undefined) {
  const bundles = new Map<string, ((line: number) => string | undefined) | undefined>();
  return (url: string, lineNumber: number): { file: string; where: string } => {
    const path = url.replace(/^file:\/\//, "");
    // workerd names a module by its capnp name (`profile-workerd-worker.mjs`), not a path.
    if (/^[^/]*worker\.mjs$/.test(path)) return { file: "(worker bundle) worker.mjs", where: `(worker bundle) worker.mjs:${lineNumber + 1}` };
    if (!path.startsWith(root)) return { file: path, where: `${path}:${lineNumber + 1}` };
    const file = relative(root, path);
    const bundle = /^node_modules\/\.cache\/fulcrum\/([^/]+\.mjs)$/.exec(file)?.[1];
    if (bundle === undefined) return { file, where: `${file}:${lineNumber + 1}` };
    if (!bundles.has(path)) {
      const text = readBundle(path);
      bundles.set(path, text === undefined ? undefined : bundleModuleAt(text));
    }
    const module = bundles.get(path)?.(lineNumber) ?? `(bundle) ${bundle}`;
    return { file: module, where: `${module} (${bundle}:${lineNumber + 1})` };
  };
}

/** Profile Fulcrum on `runtime` (the runtime entry itself, no launcher) for `seconds` of wrk load. */
export async function profileFulcrum(
  env: Env,
  runtime: ProfiledRuntime,
  config: FulcrumConfigName,
  o: { seconds: number; connections: number; loadCpu: string },
): Promise<ProfileSummary> {
  const port = await freePort();
  const configFile = fulcrumConfigFile(env, config, port);
  const dir = join(env.dir, `profile-${runtime}-${config}`);
  mkdirSync(dir, { recursive: true });
  const args = ["--config", configFile, "--port", String(port)];
  const spawn = { logDir: env.dir, cpu: env.balancerCpu, cwd: env.root };
  const inspectorPort = runtime === "deno" || runtime === "workerd" ? await freePort() : 0;
  const name = `profile-${runtime}`;
  const proc = runtime === "bun"
    ? start(name, join(env.root, "node_modules/.bin/bun"), ["--cpu-prof", `--cpu-prof-dir=${dir}`, join(env.root, "src/runtimes/bun/entry.ts"), ...args], spawn)
    : runtime === "node"
    ? start(name, "node", ["--cpu-prof", `--cpu-prof-dir=${dir}`, await buildNodeEntry(env.root), ...args], spawn)
    : runtime === "deno"
    // The flags `fulcrum serve --runtime deno` passes (src/cli/main.ts), plus the inspector.
    ? start(name, join(env.root, "node_modules/.bin/deno"), [
      "run",
      "--quiet",
      "-A",
      "--unstable-kv",
      "--unstable-no-legacy-abort",
      `--inspect=127.0.0.1:${inspectorPort}`,
      await buildDenoEntry(env.root),
      ...args,
    ], spawn)
    : start(name, workerdBinary(env.root), [
      "serve",
      writeWorkerdConfig(dir, name, { bundle: await buildWorker(env.root, configFile, `profile-${config}`, false), port }),
      `--inspector-addr=127.0.0.1:${inspectorPort}`,
    ], spawn);
  try {
    const url = `http://127.0.0.1:${port}/`;
    const deadline = Date.now() + 30_000;
    for (;;) {
      if (proc.hasExited() || Date.now() > deadline) throw new Error(`profile ${runtime}: did not start:\n${proc.log()}`);
      const ok = await fetch(url, { signal: AbortSignal.timeout(1000) }).then((r) => r.arrayBuffer().then(() => r.ok), () => false);
      if (ok) break;
      await Bun.sleep(150);
    }
    const load = () => runWrk({ url, threads: 1, connections: o.connections, durationS: o.seconds, cpu: o.loadCpu });
    if (inspectorPort !== 0) {
      const { profile } = await profileOverInspector(await inspectorTarget(inspectorPort), load);
      return { runtime, config, ...summarizeProfile(profile, env.root) };
    }
    await load();
    // SIGINT: the entry's graceful stop ends in process.exit, which writes the profile.
    proc.child.kill("SIGINT");
    const timer = setTimeout(() => proc.child.kill("SIGKILL"), 20_000);
    await proc.exited;
    clearTimeout(timer);
    const file = readdirSync(dir).find((f) => f.endsWith(".cpuprofile"));
    if (!file) throw new Error(`profile ${runtime}: no .cpuprofile written in ${dir}:\n${proc.log().slice(-2000)}`);
    const profile = JSON.parse(readFileSync(join(dir, file), "utf8")) as CpuProfile;
    return { runtime, config, ...summarizeProfile(profile, env.root) };
  } finally {
    await proc.stop();
  }
}
