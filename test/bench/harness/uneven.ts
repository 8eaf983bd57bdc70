/**
 * Balancing quality under uneven backends, the case a load balancer exists
 * for: three backends (bun-backends.ts) of which one is slow, a fixed offered
 * load well below every contestant's capacity (openloop.ts), and the latency
 * clients see through each peer's least-connections policy and each of
 * Fulcrum's strategies. Fulcrum runs on Bun: the strategies are the same code
 * on every runtime.
 */
import { type BackendSpec, startBunBackends } from "./bun-backends.ts";
import { type Contestant, type Env, type Running, startContestant } from "./contestants.ts";
import { ms } from "./format.ts";
import { type Options, wanted } from "./options.ts";
import type { Bar } from "./stats.ts";
import { errorCell, type OpenLoopResult, runOpenLoop } from "./openloop.ts";

export interface UnevenCase {
  readonly id: string;
  readonly label: string;
  /** The third backend's behaviour; the other two answer at once. */
  readonly slow: Omit<BackendSpec, "port">;
}

export const UNEVEN_CASES: readonly UnevenCase[] = [
  { id: "slow", label: "one backend 50 ms slower on every response", slow: { delayMs: 50 } },
  { id: "tail", label: "one backend answers 10 % of its requests in 500 ms", slow: { slowFraction: 0.1, slowMs: 500 } },
];

export interface UnevenRow {
  readonly caseId: string;
  readonly name: string;
  readonly result: OpenLoopResult | undefined;
  readonly error?: string;
}

export function unevenContestants(): Contestant[] {
  const tuning = { leastConn: true };
  const fulcrum = (strategy: string): Contestant => ({ kind: "fulcrum", name: `Fulcrum bun ${strategy}`, runtime: "bun", config: "minimal", strategy });
  return [
    { kind: "peer", name: "nginx least_conn", peer: "nginx", tuning },
    { kind: "peer", name: "HAProxy leastconn", peer: "haproxy", tuning },
    { kind: "peer", name: "Caddy least_conn", peer: "caddy", tuning },
    fulcrum("round_robin"),
    fulcrum("least_connections"),
    fulcrum("least_request"),
    fulcrum("latency_aware"),
  ];
}

export async function measureUneven(env: Env, o: Options, say: (line: string) => void): Promise<UnevenRow[]> {
  const rows: UnevenRow[] = [];
  for (const c of UNEVEN_CASES) {
    const backends = await startBunBackends(env, o, c.id, [{}, {}, c.slow]);
    const caseEnv: Env = { ...env, backends: backends.ports };
    try {
      const contestants = unevenContestants().filter((x) => wanted(o, x.name));
      for (const contestant of contestants) {
        let running: Running | undefined;
        try {
          running = await startContestant(contestant, caseEnv);
          const result = await runOpenLoop(env.root, o.loadCpu, `${running.url}/`, o.unevenConnections, o.unevenRate, o.unevenWarmupS, o.unevenS);
          say(
            `uneven ${c.id} ${contestant.name}: p50 ${result.p50.toFixed(2)} p99 ${result.p99.toFixed(2)} p99.9 ${
              result.p999.toFixed(2)
            } ms, errors ${result.errors}`,
          );
          rows.push({ caseId: c.id, name: contestant.name, result });
        } catch (e) {
          const error = (e as Error).message.replace(/\s+/g, " ").slice(0, 300);
          say(`uneven ${c.id} ${contestant.name}: ${error}`);
          rows.push({ caseId: c.id, name: contestant.name, result: undefined, error });
        } finally {
          await running?.proc.stop();
        }
      }
    } finally {
      await backends.stop();
    }
  }
  return rows;
}

export function renderUneven(rows: readonly UnevenRow[], o: Options): string[] {
  const out = [
    "## Balancing quality: uneven backends",
    "",
    `Three backends (\`test/bench/harness/bun-backends.ts\`, one Bun process on CPU ${o.loadCpu}), two answering at once and the third slow; ` +
    `a fixed offered load of ${
      o.unevenRate.toLocaleString("en-US")
    } req/s over ${o.unevenConnections} keep-alive connections (\`test/bench/harness/openloop.ts\`, open loop: ` +
    "each latency counts from when the request was due, so a request that waited for a free connection counts its wait), " +
    `${o.unevenWarmupS} s of warm-up then ${o.unevenS} s timed, each balancer started fresh, one run each. ` +
    "The peers use their own least-connections policy; Fulcrum (on Bun: the strategies are the same code on every runtime) each of its strategies, " +
    "round robin as the baseline. The load generator's 1 ms tick puts ~0.5 ms of its own into every latency.",
    "",
  ];
  for (const c of UNEVEN_CASES) {
    out.push(
      `### ${c.label[0]!.toUpperCase()}${c.label.slice(1)}`,
      "",
      "| balancer | p50 | p99 | p99.9 | max | requests | errors |",
      "|---|---:|---:|---:|---:|---:|---:|",
    );
    for (const r of rows.filter((r) => r.caseId === c.id)) {
      const x = r.result;
      out.push(
        x
          ? `| ${r.name} | ${ms(x.p50)} | ${ms(x.p99)} | ${ms(x.p999)} | ${ms(x.max)} | ${x.requests.toLocaleString("en-US")} | ${errorCell(x)} |`
          : `| ${r.name} | not run: ${r.error} | | | | | |`,
      );
    }
    out.push("");
  }
  return out;
}

/** Issue 25: Fulcrum's best strategy's p99 ≤ 0.5× nginx least_conn's and ≤ HAProxy leastconn's, per case. */
export function unevenBars(rows: readonly UnevenRow[]): Bar[] {
  const bars: Bar[] = [];
  for (const c of UNEVEN_CASES) {
    const of = (name: string) => rows.find((r) => r.caseId === c.id && r.name === name)?.result;
    const best = rows
      .filter((r) => r.caseId === c.id && r.name.startsWith("Fulcrum") && !r.name.endsWith("round_robin") && r.result && r.result.errors === 0)
      .sort((a, b) => a.result!.p99 - b.result!.p99)[0];
    const nginx = of("nginx least_conn");
    const haproxy = of("HAProxy leastconn");
    const bar = `uneven (${c.id}): Fulcrum's best p99 ≤ 0.5× nginx least_conn's and ≤ HAProxy's`;
    if (!best || !nginx || !haproxy) {
      bars.push({ bar, met: undefined, measured: "not measured" });
      continue;
    }
    const p = best.result!.p99;
    bars.push({
      bar,
      met: p <= 0.5 * nginx.p99 && p <= haproxy.p99,
      measured: `${best.name.replace("Fulcrum bun ", "")} ${ms(p)} vs nginx ${ms(nginx.p99)} (${(p / nginx.p99).toFixed(2)}×), HAProxy ${ms(haproxy.p99)} (${
        (p / haproxy.p99).toFixed(2)
      }×)`,
    });
  }
  return bars;
}
