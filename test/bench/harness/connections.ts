/**
 * Many keep-alive clients: 1,000 and then 10,000 connections open at once,
 * carrying a fixed total rate (openloop.ts), so that each client is mostly
 * idle, as at an edge. Reported: p99 from when each request was due, and
 * memory: RSS when idle, the highest sample under load, and what each
 * connection added. Each balancer starts fresh on the nginx backends,
 * beside nginx and HAProxy set up for that many clients.
 */
import { type Contestant, type Env, type Running, RUNTIMES, startContestant } from "./contestants.ts";
import { mib, ms } from "./format.ts";
import { memoryOf } from "./memory.ts";
import { type Options, wanted } from "./options.ts";
import { errorCell, type OpenLoopResult, runOpenLoop } from "./openloop.ts";

export interface ConnectionsRow {
  readonly name: string;
  readonly connections: number;
  readonly result: OpenLoopResult | undefined;
  readonly idleKb: number;
  /** The highest RSS sample while the connections were open. */
  readonly loadedKb: number;
  readonly error?: string;
}

export function connectionsContestants(maxClients: number): Contestant[] {
  return [
    { kind: "peer", name: "nginx", peer: "nginx", tuning: { maxClients } },
    { kind: "peer", name: "HAProxy", peer: "haproxy", tuning: { maxClients } },
    ...RUNTIMES.map((runtime): Contestant => ({ kind: "fulcrum", name: `Fulcrum ${runtime} realistic`, runtime, config: "realistic" })),
  ];
}

/** Samples the RSS of `r` every 200 ms until `work` settles; resolves with the highest sample. */
async function peakRssDuring<T>(r: Running, work: Promise<T>): Promise<{ value: T; peakKb: number }> {
  let peakKb = 0;
  let done = false;
  const sampler = (async () => {
    while (!done) {
      peakKb = Math.max(peakKb, memoryOf(r.runtimePids()).rssKb);
      await Bun.sleep(200);
    }
  })();
  try {
    return { value: await work, peakKb };
  } finally {
    done = true;
    await sampler;
  }
}

export async function measureConnections(env: Env, o: Options, say: (line: string) => void): Promise<ConnectionsRow[]> {
  const rows: ConnectionsRow[] = [];
  const max = Math.max(...o.connectionCounts);
  const chosen = connectionsContestants(max).filter((x) => wanted(o, x.name));
  // A fresh process for each count: what one count grew (heap, buffers) must not count for the next.
  for (const c of chosen) {
    for (const n of o.connectionCounts) {
      let r: Running | undefined;
      try {
        r = await startContestant(c, env);
        await Bun.sleep(500);
        const idleKb = memoryOf(r.runtimePids()).rssKb;
        const { value, peakKb } = await peakRssDuring(
          r,
          runOpenLoop(env.root, o.loadCpu, `${r.url}/`, n, o.connectionsRate, o.connectionsWarmupS, o.connectionsS),
        );
        say(
          `connections ${c.name} ×${n}: p99 ${value.p99.toFixed(2)} ms, RSS ${(peakKb / 1024).toFixed(0)} MiB, errors ${
            errorCell(value)
          }, closed ${value.reconnects}`,
        );
        rows.push({ name: c.name, connections: n, result: value, idleKb, loadedKb: peakKb });
      } catch (e) {
        rows.push({
          name: c.name,
          connections: n,
          result: undefined,
          idleKb: NaN,
          loadedKb: NaN,
          error: (e as Error).message.replace(/\s+/g, " ").slice(0, 300),
        });
      } finally {
        await r?.proc.stop();
      }
    }
  }
  return rows;
}

export function renderConnections(rows: readonly ConnectionsRow[], o: Options): string[] {
  const out = [
    "## Many keep-alive clients",
    "",
    `${o.connectionCounts.map((n) => n.toLocaleString("en-US")).join(" and then ")} keep-alive connections held open at once, together carrying ` +
    `${
      o.connectionsRate.toLocaleString("en-US")
    } req/s (open loop, \`test/bench/harness/openloop.ts\` on CPU ${o.loadCpu}: each connection asks every connections ÷ rate seconds, ` +
    `the longest-idle first), ${o.connectionsWarmupS} s of warm-up then ${o.connectionsS} s timed, on the nginx backends. Each balancer starts fresh for each count; ` +
    "RSS is sampled every 200 ms over its process tree (Fulcrum: the runtime, not the launcher). Per connection = (highest sample − idle) ÷ connections. " +
    "Closed by the balancer = idle keep-alive connections the balancer closed during the run (the client reconnects); a request sent as one closed is lost, as it would be for wrk. " +
    "nginx and HAProxy are given room for that many clients (`worker_connections 16384`; `maxconn`). Fulcrum realistic config.",
    "",
    "| balancer | connections | p50 | p99 | p99.9 | idle RSS | RSS under load | per connection | closed by the balancer | errors |",
    "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
  ];
  for (const r of rows) {
    const x = r.result;
    if (!x) {
      out.push(`| ${r.name} | ${r.connections || ""} | not run: ${(r.error ?? "").replace(/\|/g, "\\|")} | | | | | | | |`);
      continue;
    }
    const perConn = ((r.loadedKb - r.idleKb) * 1024) / x.connected;
    out.push(
      `| ${r.name} | ${x.connected.toLocaleString("en-US")} | ${ms(x.p50)} | ${ms(x.p99)} | ${ms(x.p999)} | ${mib(r.idleKb)} | ${mib(r.loadedKb)} | ${
        (perConn / 1024).toFixed(1)
      } KiB | ${x.reconnects} | ${errorCell(x)} |`,
    );
  }
  out.push("");
  return out;
}
