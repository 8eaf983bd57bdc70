/**
 * `npm run bench`: Fulcrum side by side with nginx, HAProxy and Caddy (and a
 * naive Hono + fetch forwarder on each runtime), same machine, same run;
 * writes BENCHMARKS.md. `--quick` for a short development run (report to a
 * temp file). See test/bench/harness/options.ts for every flag.
 *
 * Nothing here is asserted by `npm test`: performance numbers are reported,
 * never tested.
 */
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { buildWorker } from "../../src/cli/build.ts";
import { fulcrumConfig, type FulcrumConfigName } from "./harness/configs.ts";
import { checkReachesAll, contestantList, type Env, type Running, startContestant } from "./harness/contestants.ts";
import { measureConnections } from "./harness/connections.ts";
import { type Options, parseOptions, wanted } from "./harness/options.ts";
import { backendNginxConf } from "./harness/peers.ts";
import { capture, distinctPorts, installCleanup, start, stopAll, waitAnswering } from "./harness/processes.ts";
import { profileFulcrum, type ProfileSummary } from "./harness/profile.ts";
import { type BundleSize, findingsOf, renderReport } from "./harness/report.ts";
import { clockTicks, cpuSeconds } from "./harness/cpu.ts";
import { checkBars, type RoundSample, summarize } from "./harness/stats.ts";
import { ensurePackages, machine, versions } from "./harness/system.ts";
import { measureStreaming } from "./harness/streaming.ts";
import { measureUneven } from "./harness/uneven.ts";
import { runWrk } from "./harness/wrk.ts";
import { measureWorkers } from "./harness/workers.ts";

const ROOT = join(import.meta.dir, "..", "..");
const MICRO = ["test/bench/strategies-pick.ts", "test/bench/rules-match.ts", "test/bench/metrics-cost.ts"];

const say = (line: string) => console.error(`bench: ${line}`);

async function startBackends(dir: string, o: Options): Promise<number[]> {
  const ports = await distinctPorts(3);
  const proc = start("backends", "nginx", ["-p", dir, "-e", join(dir, "backends-startup.log"), "-c", backendNginxConf(dir, ports)], {
    logDir: dir,
    cpu: o.loadCpu,
  });
  await waitAnswering(proc, ports);
  return ports;
}

/** `fulcrum check` on the realistic config: features still being built make it fail, which is reported, not fatal. */
async function realisticStatus(env: Env): Promise<{ runnable: boolean; reason: string }> {
  const file = join(env.dir, "fulcrum-realistic-check.json");
  writeFileSync(file, JSON.stringify(fulcrumConfig("realistic", 8080, env.backends), null, 2));
  const r = await capture("node", [join(ROOT, "src/cli/fulcrum.mjs"), "check", "--config", file], { timeoutS: 60, cwd: ROOT });
  if (r.code === 0) return { runnable: true, reason: r.stdout.trim() };
  const problems = (r.stderr + r.stdout).trim().split("\n").slice(1).map((l) => l.trim()).filter((l) => l !== "");
  return { runnable: false, reason: `\`fulcrum check\` rejects it: ${problems.join("; ") || (r.stderr + r.stdout).trim()}` };
}

async function bundleSizes(env: Env, configs: readonly FulcrumConfigName[]): Promise<BundleSize[]> {
  const out: BundleSize[] = [];
  for (const config of configs) {
    const file = join(env.dir, `fulcrum-${config}-size.json`);
    writeFileSync(file, JSON.stringify(fulcrumConfig(config, 8080, env.backends), null, 2));
    const bundle = readFileSync(await buildWorker(ROOT, file, `bench-size-${config}`, true));
    out.push({ config, minified: bundle.length, gzipped: gzipSync(bundle, { level: 9 }).length });
  }
  return out;
}

async function micro(o: Options): Promise<{ script: string; output: string | undefined; note?: string }[]> {
  const out: { script: string; output: string | undefined; note?: string }[] = [];
  for (const script of MICRO) {
    if (!existsSync(join(ROOT, script))) {
      out.push({ script, output: undefined, note: "the script does not exist yet" });
      continue;
    }
    say(`micro-benchmark ${script}`);
    const r = await capture(join(ROOT, "node_modules/.bin/bun"), [join(ROOT, script)], { cpu: o.balancerCpu, timeoutS: 600, cwd: ROOT });
    if (r.code === 0) out.push({ script, output: r.stdout });
    else out.push({ script, output: undefined, note: `it exited with ${r.code}: ${(r.stderr || r.stdout).trim().split("\n").slice(-3).join(" / ")}` });
  }
  return out;
}

async function main(): Promise<void> {
  const began = Date.now();
  const o = parseOptions(Bun.argv.slice(2), process.env, ROOT);
  installCleanup(o.deadlineS);
  ensurePackages();
  const mach = machine();
  const vers = versions(ROOT);
  const dir = mkdtempSync(join(tmpdir(), "fulcrum-bench-"));
  say(`work dir ${dir}; load average ${mach.loadAtStart}; ${o.rounds} round(s) × ${o.durationS} s`);
  const backends = await startBackends(dir, o);
  const env: Env = { root: ROOT, dir, backends, balancerCpu: o.balancerCpu };

  const realistic = await realisticStatus(env);
  say(realistic.runnable ? "realistic config accepted" : `realistic: not yet runnable (${realistic.reason})`);
  const failures: { name: string; reason: string }[] = [];
  const running: Running[] = [];
  for (const c of contestantList((c) => wanted(o, c.name), realistic.runnable)) {
    try {
      say(`starting ${c.name}`);
      const r = await startContestant(c, env);
      const problem = await checkReachesAll(r, backends);
      if (problem) {
        failures.push({ name: c.name, reason: `correctness check failed: ${problem}` });
        await r.proc.stop();
      } else running.push(r);
    } catch (e) {
      failures.push({ name: c.name, reason: (e as Error).message.replace(/\s+/g, " ").slice(0, 400) });
      say(`${c.name} failed: ${(e as Error).message.slice(0, 1000)}`);
    }
  }

  const samples = new Map<Running, RoundSample[]>(running.map((r) => [r, []]));
  const ticks = clockTicks();
  for (let round = 0; round < o.rounds; round++) {
    // Rotate the order each round so that no contestant always follows the same neighbour.
    const order = running.map((_, i) => running[(i + round) % running.length]!);
    for (const r of order) {
      const url = `${r.url}/`;
      try {
        await runWrk({ url, threads: o.threads, connections: o.connections, durationS: o.warmupS, cpu: o.loadCpu });
        const pids = r.runtimePids();
        const cpuBefore = cpuSeconds(pids, ticks);
        const w = await runWrk({ url, threads: o.threads, connections: o.connections, durationS: o.durationS, cpu: o.loadCpu });
        const cpuUsPerRequest = w.requests > 0 ? ((cpuSeconds(pids, ticks) - cpuBefore) * 1e6) / w.requests : undefined;
        samples.get(r)!.push({ ...w, cpuUsPerRequest });
        say(
          `round ${round + 1}/${o.rounds} ${r.contestant.name}: ${Math.round(w.requestsPerSec)} req/s, p50 ${w.p50} ms, p99 ${w.p99} ms, ${
            cpuUsPerRequest?.toFixed(1)
          } µs CPU/request, errors ${w.errors}`,
        );
      } catch (e) {
        say(`round ${round + 1} ${r.contestant.name}: ${(e as Error).message.slice(0, 500)}`);
      }
    }
  }
  const summaries = running.filter((r) => samples.get(r)!.length > 0).map((r) => summarize(r.contestant, samples.get(r)!));

  // The backends stay up for the phases, the profiles and the workers comparison.
  await Promise.all(running.map((r) => r.proc.stop()));
  const uneven = o.uneven ? await measureUneven(env, o, say) : [];
  const streaming = o.streaming ? await measureStreaming(env, o, say) : [];
  const connections = o.connectionsPhase ? await measureConnections(env, o, say) : [];
  const workers = o.workers ? await measureWorkers(env, o, ticks, say) : [];

  const bundles = await bundleSizes(env, realistic.runnable ? ["minimal", "realistic"] : ["minimal"]);
  const bars = checkBars(summaries, bundles[0]?.gzipped, realistic.runnable);
  const profiles: ProfileSummary[] = [];
  const profileErrors: string[] = [];
  if (o.profile === "always" || (o.profile === "auto" && bars.some((b) => b.met === false))) {
    const config: FulcrumConfigName = realistic.runnable ? "realistic" : "minimal";
    for (const runtime of ["bun", "deno", "node", "workerd"] as const) {
      say(`profiling ${runtime} (${config})`);
      try {
        profiles.push(await profileFulcrum(env, runtime, config, { seconds: o.profileS, connections: o.connections, loadCpu: o.loadCpu }));
      } catch (e) {
        profileErrors.push(`${runtime}: ${(e as Error).message.split("\n")[0]}`);
      }
    }
  }
  await stopAll();
  const microResults = o.micro ? await micro(o) : [];

  // The hand-written findings live in BENCHMARKS.md itself; a run (a --quick one included) carries them over.
  const previous = join(ROOT, "BENCHMARKS.md");
  const report = renderReport({
    findings: existsSync(previous) ? findingsOf(readFileSync(previous, "utf8")) : undefined,
    options: o,
    machine: mach,
    versions: vers,
    durationS: (Date.now() - began) / 1000,
    summaries,
    failures,
    realistic,
    uneven,
    streaming,
    connections,
    workers,
    bundles,
    profiles,
    profileErrors,
    micro: microResults,
  });
  writeFileSync(o.out, report + "\n");
  say(`wrote ${o.out}`);
  await stopAll();
}

await main();
process.exit(0);
