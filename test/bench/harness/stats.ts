/** Medians over rounds, and the bars from the issue checked against them. */
import type { Contestant, Runtime } from "./contestants.ts";
import type { WrkResult } from "./wrk.ts";

/** One timed wrk run, with the balancer's CPU time per request over the same window when it was read. */
export interface RoundSample extends WrkResult {
  readonly cpuUsPerRequest?: number;
}

export interface Summary {
  readonly contestant: Contestant;
  readonly rounds: number;
  readonly rps: number;
  readonly p50: number;
  readonly p99: number;
  readonly errors: number;
  /** Every round's req/s, to show the spread. */
  readonly allRps: readonly number[];
  /** Median CPU microseconds per request (NaN when not measured). */
  readonly cpuUs: number;
}

export function median(xs: readonly number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

export function summarize(contestant: Contestant, samples: readonly RoundSample[]): Summary {
  const cpu = samples.flatMap((s) => (s.cpuUsPerRequest === undefined ? [] : [s.cpuUsPerRequest]));
  return {
    contestant,
    rounds: samples.length,
    rps: median(samples.map((s) => s.requestsPerSec)),
    p50: median(samples.map((s) => s.p50)),
    p99: median(samples.map((s) => s.p99)),
    errors: samples.reduce((a, s) => a + s.errors, 0),
    allRps: samples.map((s) => s.requestsPerSec),
    cpuUs: median(cpu),
  };
}

export function find(summaries: readonly Summary[], pred: (c: Contestant) => boolean): Summary | undefined {
  return summaries.find((s) => pred(s.contestant));
}

export const naiveOf = (summaries: readonly Summary[], runtime: Runtime) => find(summaries, (c) => c.kind === "naive" && c.runtime === runtime);
export const fulcrumOf = (summaries: readonly Summary[], runtime: Runtime, config: string) =>
  find(summaries, (c) => c.kind === "fulcrum" && c.runtime === runtime && c.config === config);
export const peerOf = (summaries: readonly Summary[], peer: string) => find(summaries, (c) => c.kind === "peer" && c.peer === peer);
/** A JavaScript peer by its script (jspeers/) on one runtime. */
export const jsPeerOf = (summaries: readonly Summary[], runtime: Runtime, script: string) =>
  find(summaries, (c) => c.kind === "jspeer" && c.runtime === runtime && c.script === script);
/** The JavaScript peer with the most req/s on a runtime. */
export function bestJsPeerOf(summaries: readonly Summary[], runtime: Runtime): Summary | undefined {
  const peers = summaries.filter((s) => s.contestant.kind === "jspeer" && s.contestant.runtime === runtime && Number.isFinite(s.rps));
  return peers.sort((a, b) => b.rps - a.rps)[0];
}

export interface Bar {
  readonly bar: string;
  /** undefined = could not be measured this run. */
  readonly met: boolean | undefined;
  readonly measured: string;
}

const x = (n: number) => `${n.toFixed(2)}×`;
const rps = (n: number) => Math.round(n).toLocaleString("en-US");

export function checkBars(summaries: readonly Summary[], bundleGzipBytes: number | undefined, realisticRunnable: boolean): Bar[] {
  const bars: Bar[] = [];
  // The bars are about the realistic config; when it cannot run yet, minimal stands in (said so).
  const cfg = realisticRunnable ? "realistic" : "minimal";
  const note = realisticRunnable ? "" : " (minimal config: realistic not yet runnable)";
  for (const runtime of ["bun", "deno", "node", "workerd"] as const) {
    const f = fulcrumOf(summaries, runtime, cfg);
    const n = naiveOf(summaries, runtime);
    bars.push(
      f && n
        ? {
          bar: `${runtime}: ${cfg} ≥ 0.9× naive forwarder`,
          met: f.rps >= 0.9 * n.rps,
          measured: `${rps(f.rps)} vs ${rps(n.rps)} req/s = ${x(f.rps / n.rps)}${note}`,
        }
        : { bar: `${runtime}: realistic ≥ 0.9× naive forwarder`, met: undefined, measured: "not measured" },
    );
  }
  const bun = fulcrumOf(summaries, "bun", cfg);
  const caddy = peerOf(summaries, "caddy");
  const nginx = peerOf(summaries, "nginx");
  bars.push(
    bun && caddy
      ? {
        bar: "Bun ≥ 2× Caddy's throughput",
        met: bun.rps >= 2 * caddy.rps,
        measured: `${rps(bun.rps)} vs ${rps(caddy.rps)} req/s = ${x(bun.rps / caddy.rps)}${note}`,
      }
      : { bar: "Bun ≥ 2× Caddy's throughput", met: undefined, measured: "not measured" },
  );
  bars.push(
    bun && nginx
      ? {
        bar: "Bun p99 within 2× of nginx's",
        met: bun.p99 <= 2 * nginx.p99,
        measured: `${bun.p99.toFixed(2)} vs ${nginx.p99.toFixed(2)} ms = ${x(bun.p99 / nginx.p99)}${note}`,
      }
      : { bar: "Bun p99 within 2× of nginx's", met: undefined, measured: "not measured" },
  );
  const node = fulcrumOf(summaries, "node", cfg);
  const naiveNode = naiveOf(summaries, "node");
  bars.push(
    node && naiveNode
      ? {
        bar: "Node ≥ 5× the naive fetch forwarder",
        met: node.rps >= 5 * naiveNode.rps,
        measured: `${rps(node.rps)} vs ${rps(naiveNode.rps)} req/s = ${x(node.rps / naiveNode.rps)}${note}`,
      }
      : { bar: "Node ≥ 5× the naive fetch forwarder", met: undefined, measured: "not measured" },
  );
  // Issue 25's bars against the JavaScript proxies on the same runtime.
  for (
    const [runtime, script, peer, factor] of [
      ["bun", "hono-proxy.ts", "Hono's proxy helper", 0.9],
      ["node", "fastify-reply-from.mjs", "@fastify/reply-from", 1.0],
      ["deno", "hono-proxy.ts", "Hono's proxy helper", 1.0],
    ] as const
  ) {
    const f = fulcrumOf(summaries, runtime, cfg);
    const p = jsPeerOf(summaries, runtime, script);
    const bar = `${runtime}: ${cfg} ≥ ${factor.toFixed(1)}× ${peer}`;
    bars.push(
      f && p
        ? { bar, met: f.rps >= factor * p.rps, measured: `${rps(f.rps)} vs ${rps(p.rps)} req/s = ${x(f.rps / p.rps)}${note}` }
        : { bar, met: undefined, measured: "not measured" },
    );
  }
  // Issue 25's bars against the naive forwarder on Deno and workerd.
  for (const [runtime, factor] of [["deno", 1.0], ["workerd", 0.8]] as const) {
    const f = fulcrumOf(summaries, runtime, cfg);
    const n = naiveOf(summaries, runtime);
    const bar = `${runtime}: ${cfg} ≥ ${factor.toFixed(1)}× naive forwarder`;
    bars.push(
      f && n
        ? { bar, met: f.rps >= factor * n.rps, measured: `${rps(f.rps)} vs ${rps(n.rps)} req/s = ${x(f.rps / n.rps)}${note}` }
        : { bar, met: undefined, measured: "not measured" },
    );
  }
  bars.push(
    bundleGzipBytes === undefined ? { bar: "Worker bundle < 100 KB gzipped", met: undefined, measured: "not measured" } : {
      bar: "Worker bundle < 100 KB gzipped",
      met: bundleGzipBytes < 100_000,
      measured: `${bundleGzipBytes.toLocaleString("en-US")} bytes (${(bundleGzipBytes / 1000).toFixed(1)} KB)`,
    },
  );
  return bars;
}
