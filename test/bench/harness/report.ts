/** BENCHMARKS.md, from what one run measured. */
import { type ConnectionsRow, renderConnections } from "./connections.ts";
import { fmt, ms, ratio, us } from "./format.ts";
import type { Options } from "./options.ts";
import type { ProfileSummary } from "./profile.ts";
import { bestJsPeerOf, checkBars, naiveOf, peerOf, type Summary } from "./stats.ts";
import { renderStreaming, streamingBars, type StreamingRow } from "./streaming.ts";
import type { Machine } from "./system.ts";
import { renderUneven, unevenBars, type UnevenRow } from "./uneven.ts";
import type { WorkersRow } from "./workers.ts";

export interface BundleSize {
  readonly config: string;
  readonly minified: number;
  readonly gzipped: number;
}

export interface Report {
  /** Hand-written investigation notes, kept across runs (the findings block of the previous BENCHMARKS.md). */
  readonly findings?: string;
  readonly options: Options;
  readonly machine: Machine;
  readonly versions: Record<string, string>;
  readonly durationS: number;
  readonly summaries: readonly Summary[];
  /** Contestants that could not be run, with why. */
  readonly failures: readonly { name: string; reason: string }[];
  readonly realistic: { runnable: boolean; reason: string };
  /** The phases after the throughput table; empty when not measured. */
  readonly uneven: readonly UnevenRow[];
  readonly streaming: readonly StreamingRow[];
  readonly connections: readonly ConnectionsRow[];
  /** Fulcrum with 1 and 2 worker processes beside nginx with 2; empty when not measured. */
  readonly workers: readonly WorkersRow[];
  readonly bundles: readonly BundleSize[];
  readonly profiles: readonly ProfileSummary[];
  readonly profileErrors: readonly string[];
  readonly micro: readonly { script: string; output: string | undefined; note?: string }[];
}

/** Shift a pasted document's headings so that its top level becomes `level` (under our own `###`). */
export function nestHeadings(markdown: string, level: number): string {
  const levels = [...markdown.matchAll(/^(#{1,6}) /gm)].map((m) => m[1]!.length);
  if (levels.length === 0) return markdown;
  const shift = level - Math.min(...levels);
  if (shift <= 0) return markdown;
  return markdown.replace(/^(#{1,6}) /gm, (_, h: string) => `${"#".repeat(Math.min(6, h.length + shift))} `);
}

/** The hand-written part of BENCHMARKS.md lies between these lines; a run keeps it as it is. */
export const FINDINGS_START = "<!-- findings: written by hand, kept by `npm run bench` when it rewrites this file -->";
export const FINDINGS_END = "<!-- /findings -->";

/** The findings block of a BENCHMARKS.md, without its marker lines; undefined when it has none. */
export function findingsOf(report: string): string | undefined {
  const start = report.indexOf(FINDINGS_START);
  const end = report.indexOf(FINDINGS_END);
  return start < 0 || end < start ? undefined : report.slice(start + FINDINGS_START.length, end).trim();
}

export function renderReport(r: Report): string {
  const o = r.options;
  const out: string[] = [];
  const nginx = peerOf(r.summaries, "nginx");
  out.push(
    "# Benchmarks",
    "",
    `Measured by \`npm run bench\` (\`bun test/bench/run.ts${o.argvShown}\`) on ${r.machine.date}; the run took ${Math.round(r.durationS / 60)} min. ` +
      "Every number below was measured in that one run, on the machine described; nothing is asserted by `npm test`.",
    "",
    "> **Noise.** This machine is shared: other engineers were running test suites while it ran " +
      `(load average at start ${r.machine.loadAtStart} on ${r.machine.cpus} CPUs). Rounds are interleaved so that noise spreads over every contestant, ` +
      "and medians are reported, but differences of ~10 % between contestants are within the noise. The per-round req/s are listed to show the spread.",
    "",
    "## Method",
    "",
    `- Three backends: one nginx worker answering a 13-byte \`200\` on three loopback ports (upstream keep-alive never cut by the backend). Everything on 127.0.0.1.`,
    `- Each balancer does round robin over the three with upstream keep-alive and is pinned to CPU ${o.balancerCpu} (\`taskset -c ${o.balancerCpu}\`); wrk and the backends run on CPU ${o.loadCpu}.`,
    '  nginx: `worker_processes 1`, `upstream { keepalive 64; }`, `proxy_http_version 1.1`, `proxy_set_header Connection ""`. ' +
      "HAProxy: `nbthread 1`, `balance roundrobin`, `http-reuse always`. Caddy: `GOMAXPROCS=1`, `reverse_proxy … { lb_policy round_robin }`, admin off.",
    "- Fulcrum on Bun, Deno and Node is started as a user would, `node src/cli/fulcrum.mjs serve --config F --runtime R --port P` (the runtime inherits the pinning). " +
      "On workerd it is the Worker bundle (config inlined, `buildWorker`) on bare `workerd serve` with a generated capnp config (an `internet` network service that allows loopback as the global outbound), not `wrangler dev`.",
    "- The **naive forwarder** (`test/bench/harness/naive/`) is Hono + `fetch` with round robin and no features, on each runtime (Node: @hono/node-server + global `fetch`; workerd: bare `workerd serve`). Fulcrum ÷ naive on the same runtime is what Fulcrum's features cost (or save).",
    "- The **JavaScript peers** (`test/bench/harness/jspeers/`, devDependencies only) are what a TypeScript team would otherwise pick: Hono's proxy helper (`hono/proxy`, round robin) on Bun and Deno, `@fastify/reply-from` given the three backends (an undici BalancedPool) and `http-proxy` with a keep-alive agent on Node. ×best JS peer = Fulcrum's req/s ÷ the fastest of them on the same runtime.",
    "- Fulcrum **minimal** = round robin and defaults (which include X-Forwarded-*, a generated X-Request-Id, hop-by-hop cleanup, timeouts). " +
      "**realistic** = `test/bench/harness/configs.ts`: three listener rules the request falls through, cookie stickiness (wrk sends no cookie, so every response sets one), active health checks, metrics.",
    `- Correctness first: 30 requests through each contestant must all be 200 and reach all three backends (they echo their port). Then ${o.rounds} interleaved round(s) of every contestant: ` +
      `warm-up \`wrk -t${o.threads} -c${o.connections} -d${o.warmupS}s\`, then \`wrk -t${o.threads} -c${o.connections} -d${o.durationS}s --latency\`. Medians over rounds are reported.`,
    "- Then three phases with their own method, below: uneven backends, streaming, many keep-alive clients.",
    "",
    "## Machine and versions",
    "",
    "| | |",
    "|---|---|",
    `| CPU | ${r.machine.cpuModel}, ${r.machine.cpus} CPUs (nproc) |`,
    `| memory | ${r.machine.memory} |`,
    `| kernel | ${r.machine.kernel} |`,
    `| load average at start | ${r.machine.loadAtStart} |`,
    `| date | ${r.machine.date} |`,
    ...Object.entries(r.versions).map(([k, v]) => `| ${k} | ${v.replace(/\|/g, "\\|")} |`),
    "",
    "## Throughput and latency",
    "",
    `wrk \`-t${o.threads} -c${o.connections} -d${o.durationS}s\`, median of ${o.rounds} round(s). ×nginx = req/s ÷ nginx's; ×naive = req/s ÷ the naive forwarder's on the same runtime.`,
    "CPU/req = the balancer's processes' CPU time (utime + stime from /proc) over the timed run ÷ requests served, median over rounds; " +
      "CPU ×naive = the naive forwarder's CPU/req ÷ Fulcrum's on the same runtime. req/s × CPU/req near 1 s per second means the " +
      "contestant was CPU-bound on its core: its req/s is what its per-request cost allows.",
    "",
    "| contestant | req/s (median) | p50 | p99 | ×nginx | ×naive | ×best JS peer | CPU/req | CPU ×naive | errors | req/s per round |",
    "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
  );
  for (const s of r.summaries) {
    const c = s.contestant;
    const naive = c.kind === "fulcrum" ? naiveOf(r.summaries, c.runtime) : undefined;
    const js = c.kind === "fulcrum" ? bestJsPeerOf(r.summaries, c.runtime) : undefined;
    out.push(
      `| ${c.name} | ${fmt(s.rps)} | ${ms(s.p50)} | ${ms(s.p99)} | ${ratio(s.rps, nginx?.rps)} | ${c.kind === "fulcrum" ? ratio(s.rps, naive?.rps) : ""} | ${
        c.kind === "fulcrum" ? ratio(s.rps, js?.rps) : ""
      } | ${us(s.cpuUs)} | ${c.kind === "fulcrum" && naive ? ratio(naive.cpuUs, s.cpuUs) : ""} | ${s.errors} | ${s.allRps.map((x) => fmt(x)).join(", ")} |`,
    );
  }
  for (const f of r.failures) out.push(`| ${f.name} | not run: ${f.reason.replace(/\n/g, " ").replace(/\|/g, "\\|").slice(0, 300)} | | | | | | | | | |`);
  out.push("", `**Realistic config:** ${r.realistic.runnable ? "runnable, measured above." : `not yet runnable (${r.realistic.reason}).`}`, "");

  const phase = (rendered: string[], measured: boolean, title: string) => out.push(...(measured ? rendered : [title, "", "Not measured in this run.", ""]));
  phase(renderUneven(r.uneven, o), r.uneven.length > 0, "## Balancing quality: uneven backends");
  phase(renderStreaming(r.streaming, o), r.streaming.length > 0, "## Streaming");
  phase(renderConnections(r.connections, o), r.connections.length > 0, "## Many keep-alive clients");

  out.push("## Every core: `--workers`", "");
  if (r.workers.length === 0) out.push("Not measured in this run.", "");
  else {
    out.push(
      `Realistic config, wrk \`-t${o.threads} -c${o.connections} -d${o.durationS}s\`, median of ${o.rounds} interleaved round(s). Nothing pinned: ` +
        "the balancer may use both cores, and wrk and the backends share them with it, so req/s shows what a second worker gains when the load generator " +
        "competes for the same two cores, not what two cores of its own would give. CPU/req (every process of the balancer, Fulcrum's primary included) " +
        "does not depend on that: 1 s ÷ CPU/req is what one core serves, and a machine with N cores for the balancer serves about N times that " +
        "(the primary only answers the workers' state calls, the admin API and the probes).",
      "",
      "| balancer | workers | req/s | p99 | CPU/req | one core at that CPU/req | errors |",
      "|---|---:|---:|---:|---:|---:|---:|",
    );
    for (const w of r.workers) {
      out.push(`| ${w.name} | ${w.workers} | ${fmt(w.rps)} | ${ms(w.p99)} | ${us(w.cpuUsPerRequest)} | ${fmt(1e6 / w.cpuUsPerRequest)} req/s | ${w.errors} |`);
    }
    out.push("");
  }

  out.push(
    "## Worker bundle size",
    "",
    "`buildWorker(root, config, name, minify = true)`, gzipped in-process (zlib level 9); the config is part of the bundle.",
    "",
  );
  if (r.bundles.length === 0) out.push("Not measured in this run.", "");
  else {
    out.push("| config | minified | gzipped |", "|---|---:|---:|");
    for (const b of r.bundles) out.push(`| ${b.config} | ${fmt(b.minified)} bytes | ${fmt(b.gzipped)} bytes (${(b.gzipped / 1000).toFixed(1)} KB) |`);
    out.push("");
  }

  const bars = [...checkBars(r.summaries, r.bundles[0]?.gzipped, r.realistic.runnable), ...unevenBars(r.uneven), ...streamingBars(r.streaming)];
  out.push("## The bar", "", "The bars set in issues 8 and 25, against this run's numbers.", "", "| bar | result | measured |", "|---|---|---|");
  for (const b of bars) out.push(`| ${b.bar} | ${b.met === undefined ? "not measured" : b.met ? "**met**" : "**not met**"} | ${b.measured} |`);
  out.push("");
  if (r.findings) out.push(FINDINGS_START, "", r.findings.trim(), "", FINDINGS_END, "");

  if (r.profiles.length || r.profileErrors.length) {
    out.push(
      "## Profiles",
      "",
      `${
        o.profile === "always" ? "Requested with `--profile`" : "A bar was missed"
      }, so Fulcrum's hot path was profiled under the same load (Bun and Node \`--cpu-prof\`; Deno \`--inspect\` and workerd \`--inspector-addr\` with the V8 profiler driven over the inspector protocol at a 1 ms interval; ${o.profileS} s of \`wrk -c${o.connections}\`, runtime entry started directly, Node and Deno on the bundles \`fulcrum serve\` runs; a frame in a bundle is listed under its source module, with the bundle line). ` +
        "Self time: the share of samples in which that function was the one on the CPU. `(idle)` is time the runtime's thread waited (on workerd that includes waits for its I/O threads).",
      "",
    );
    for (const p of r.profiles) {
      out.push(`### ${p.runtime}, ${p.config} config (${fmt(p.totalMs)} ms sampled)`, "", "| function | where | self % |", "|---|---|---:|");
      for (const f of p.functions) out.push(`| \`${f.name}\` | ${f.where} | ${f.selfPct} |`);
      out.push("", "By file:", "", "| file | self % |", "|---|---:|");
      for (const f of p.files) out.push(`| ${f.file} | ${f.selfPct} |`);
      out.push("", "Fulcrum's own functions by total time (callees included):", "", "| function | where | total % |", "|---|---|---:|");
      for (const f of p.own) out.push(`| \`${f.name}\` | ${f.where} | ${f.totalPct} |`);
      out.push("");
    }
    for (const e of r.profileErrors) out.push(`- profile failed: ${e}`);
    if (r.profileErrors.length) out.push("");
  }

  out.push("## Micro-benchmarks", "", "Run as subprocesses on the balancer CPU after the load tests; their own markdown, unedited.", "");
  for (const m of r.micro) {
    out.push(`### \`bun ${m.script}\``, "");
    out.push(m.output === undefined ? `Skipped: ${m.note}.` : nestHeadings(m.output.trim(), 4));
    out.push("");
  }
  return out.join("\n");
}
