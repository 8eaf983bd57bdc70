/**
 * Same-run A/B of Fulcrum variants (two checkouts, or one with a setting changed):
 * `bun test/bench/ab.ts ROUNDS SECONDS name=command ...`, where each command starts one
 * balancer with CONFIG and PORT in it substituted, e.g.
 *
 *   bun test/bench/ab.ts 10 4 "old=bun /tmp/old/src/runtimes/bun/entry.ts --config CONFIG --port PORT" \
 *                             "new=bun src/runtimes/bun/entry.ts --config CONFIG --port PORT"
 *
 * Every variant runs the realistic config (test/bench/harness/configs.ts) over three nginx
 * backends, pinned to CPU 0 (wrk and nginx on CPU 1, as `npm run bench` pins them); rounds are
 * interleaved, alternating the order, so that the shared machine's drift reaches every variant
 * alike. Prints req/s and the variant's CPU time per request (its process tree, from /proc) for
 * each round and the medians. For Node and Deno, build each checkout's bundle to a distinct file
 * first: checkouts that share node_modules share its build cache. `name=workerd:ROOT` runs the
 * Worker of the checkout at ROOT on bare `workerd serve`, as `npm run bench` does.
 */
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fulcrumConfig } from "./harness/configs.ts";
import { workerdBinary } from "./harness/system.ts";
import { writeWorkerdConfig } from "./harness/workerd.ts";

const ROOT = join(import.meta.dir, "..", "..");

const [roundsArg, secondsArg, ...specs] = process.argv.slice(2);
const rounds = Number(roundsArg);
const seconds = Number(secondsArg);
if (!(rounds > 0 && seconds > 0 && specs.length > 0 && specs.every((s) => s.includes("=")))) {
  console.error('usage: bun test/bench/ab.ts ROUNDS SECONDS name="command with CONFIG and PORT" ...');
  process.exit(2);
}
const dir = mkdtempSync(join(tmpdir(), "fulcrum-ab-"));
const backends = [19101, 19102, 19103];
writeFileSync(
  join(dir, "nginx.conf"),
  `worker_processes 1; daemon off; pid ${dir}/nginx.pid; error_log ${dir}/error.log;
events { worker_connections 4096; }
http { access_log off; ${backends.map((p) => `server { listen 127.0.0.1:${p}; location / { return 200 "hello from ${p}\\n"; } }`).join("\n")} }`,
);
const nginx = spawn("taskset", ["-c", "1", "nginx", "-p", dir, "-c", join(dir, "nginx.conf")], { stdio: "ignore" });
await Bun.sleep(500);

/** The command line of a `workerd:ROOT` variant: that checkout's Worker, built with its own build.ts, under a name of its own in the build cache. */
async function workerdVariant(name: string, root: string, config: string, port: number): Promise<string[]> {
  const { buildWorker } = (await import(join(root, "src/cli/build.ts"))) as { buildWorker(root: string, config: string, name: string): Promise<string> };
  const bundle = await buildWorker(root, config, `ab-${name}-${port}`);
  return [workerdBinary(ROOT), "serve", writeWorkerdConfig(dir, name, { bundle, port })];
}

const variants = await Promise.all(specs.map(async (spec, i) => {
  const name = spec.slice(0, spec.indexOf("="));
  const port = 19200 + i;
  const config = join(dir, `${name}.json`);
  // Each variant's admin API on a port of its own, as in production (they cannot share 9901).
  writeFileSync(config, JSON.stringify(fulcrumConfig("realistic", port, backends, 19300 + i)));
  const command = spec.slice(spec.indexOf("=") + 1);
  const argv = command.startsWith("workerd:")
    ? await workerdVariant(name, command.slice("workerd:".length), config, port)
    : command.replace("CONFIG", config).replace("PORT", String(port)).split(" ");
  const child = spawn("taskset", ["-c", "0", ...argv], { stdio: ["ignore", "ignore", "pipe"] });
  let log = "";
  child.stderr!.on("data", (d) => (log += d));
  return { name, port, child, log: () => log };
}));

/** utime + stime of a process and its descendants, in clock ticks (100 per second). */
function ticks(pid: number): number {
  let total = 0;
  const visit = (p: number) => {
    try {
      const fields = readFileSync(`/proc/${p}/stat`, "utf8").split(") ")[1]!.split(" ");
      total += Number(fields[11]) + Number(fields[12]);
      for (const child of readFileSync(`/proc/${p}/task/${p}/children`, "utf8").trim().split(/\s+/).filter(Boolean)) visit(Number(child));
    } catch {
      // the process ended meanwhile
    }
  };
  visit(pid);
  return total;
}

const wrk = (port: number, s: number) =>
  spawnSync("taskset", ["-c", "1", "wrk", "-t1", "-c64", `-d${s}s`, `http://127.0.0.1:${port}/`], { encoding: "utf8" }).stdout;

const stopAll = () => {
  for (const v of variants) v.child.kill("SIGKILL");
  nginx.kill("SIGTERM");
};
for (const v of variants) {
  for (let i = 0; !(await fetch(`http://127.0.0.1:${v.port}/`).then((r) => r.ok, () => false)); i++) {
    if (v.child.exitCode !== null || i > 300) {
      // A variant that did not start must not leave the others listening (the next run would measure them).
      stopAll();
      throw new Error(`${v.name} did not start:\n${v.log()}`);
    }
    await Bun.sleep(100);
  }
  wrk(v.port, 2); // warm-up
}
const results = new Map<string, { rps: number; cpuUs: number }[]>();
for (let r = 0; r < rounds; r++) {
  for (const v of r % 2 === 0 ? variants : [...variants].reverse()) {
    const before = ticks(v.child.pid!);
    const out = wrk(v.port, seconds);
    const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? 0);
    const cpuUs = (((ticks(v.child.pid!) - before) / 100) * 1e6) / (rps * seconds);
    results.set(v.name, [...(results.get(v.name) ?? []), { rps, cpuUs }]);
    console.log(`round ${r + 1} ${v.name}: ${rps.toFixed(0)} req/s, ${cpuUs.toFixed(1)} µs CPU/req`);
  }
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
for (const [name, rs] of results) {
  console.log(`median ${name}: ${median(rs.map((x) => x.rps)).toFixed(0)} req/s, ${median(rs.map((x) => x.cpuUs)).toFixed(1)} µs CPU/req`);
}
stopAll();
process.exit(0);
