/**
 * Streaming: a large download and a large upload through each balancer, one
 * at a time, with curl on the load core. Reported: MB/s, the balancer's CPU
 * seconds per GiB, and its memory: RSS when idle, peak RSS (VmHWM) after a
 * small transfer each way and after the large ones. Memory flat in the body
 * size means those two peaks are about the same.
 *
 * The backends (bun-backends.ts) serve a sparse file with sendfile and count
 * what an upload delivered; an upload whose count is not the file's size is
 * an error. "direct" is curl to a backend with no balancer: the ceiling.
 */
import { closeSync, ftruncateSync, openSync } from "node:fs";
import { join } from "node:path";
import { type Contestant, type Env, type Running, RUNTIMES, startContestant } from "./contestants.ts";
import { clockTicks, cpuSeconds } from "./cpu.ts";
import { fmt, mib, ratio } from "./format.ts";
import { memoryOf } from "./memory.ts";
import { type Options, wanted } from "./options.ts";
import { capture } from "./processes.ts";
import { type Bar, median } from "./stats.ts";
import { startBunBackends } from "./bun-backends.ts";

export interface StreamingRow {
  readonly name: string;
  /** Medians over rounds; NaN when not measured. */
  readonly downMBps: number;
  readonly upMBps: number;
  readonly downCpuSPerGiB: number;
  readonly upCpuSPerGiB: number;
  readonly idleKb: number;
  /** VmHWM after the small transfers, and after everything. */
  readonly smallPeakKb: number;
  readonly peakKb: number;
  readonly errors: readonly string[];
}

const GiB = 1024 ** 3;

export function streamingContestants(): Contestant[] {
  const tuning = { streaming: true };
  return [
    { kind: "peer", name: "nginx", peer: "nginx", tuning },
    { kind: "peer", name: "HAProxy", peer: "haproxy", tuning },
    { kind: "peer", name: "Caddy", peer: "caddy", tuning },
    ...RUNTIMES.flatMap((runtime): Contestant[] => [
      { kind: "fulcrum", name: `Fulcrum ${runtime} realistic`, runtime, config: "realistic" },
      { kind: "naive", name: `naive ${runtime}`, runtime },
    ]),
    { kind: "jspeer", name: "Hono proxy bun", runtime: "bun", script: "hono-proxy.ts" },
    { kind: "jspeer", name: "Hono proxy deno", runtime: "deno", script: "hono-proxy.ts" },
    { kind: "jspeer", name: "Fastify reply-from node", runtime: "node", script: "fastify-reply-from.mjs" },
    { kind: "jspeer", name: "http-proxy node", runtime: "node", script: "http-proxy.mjs" },
  ];
}

interface Transfer {
  readonly bytes: number;
  readonly seconds: number;
}

/** One transfer with curl on the load core; throws with what went wrong. */
async function curl(o: Options, direction: "down" | "up", base: string, file: string, bytes: number): Promise<Transfer> {
  const common = ["-s", "--max-time", "120", "-H", "Expect:"];
  const args = direction === "down"
    ? [...common, "-o", "/dev/null", "-w", "%{http_code} %{size_download} %{time_total}", `${base}/big?bytes=${bytes}`]
    : [...common, "-H", "Content-Type: application/octet-stream", "-T", file, "-w", "\n%{http_code} %{size_upload} %{time_total}", `${base}/sink`];
  const r = await capture("curl", args, { cpu: o.loadCpu, timeoutS: 150 });
  const lines = r.stdout.trim().split("\n");
  const [status, size, time] = lines.pop()!.split(" ");
  if (r.code !== 0 || status !== "200") {
    throw new Error(`${direction} ${bytes} bytes: curl ${r.code}, status ${status}: ${(r.stderr + lines.join(" ")).slice(0, 200)}`);
  }
  if (Number(size) !== bytes) throw new Error(`${direction}: ${size} of ${bytes} bytes`);
  if (direction === "up" && lines.join("").trim() !== String(bytes)) throw new Error(`upload: the backend counted ${lines.join("").trim()} of ${bytes} bytes`);
  return { bytes, seconds: Number(time) };
}

export async function measureStreaming(env: Env, o: Options, say: (line: string) => void): Promise<StreamingRow[]> {
  const ticks = clockTicks();
  const big = Math.round(o.streamingMiB * 1024 * 1024);
  const small = Math.min(big, 64 * 1024 * 1024);
  const bigFile = join(env.dir, "stream-big.bin");
  const smallFile = join(env.dir, "stream-small.bin");
  for (const [f, size] of [[bigFile, big], [smallFile, small]] as const) {
    const fd = openSync(f, "w"); // sparse: no disk, reads as zeros
    ftruncateSync(fd, size);
    closeSync(fd);
  }
  const backends = await startBunBackends(env, o, "stream", [{}, {}, {}], bigFile);
  const streamEnv: Env = { ...env, backends: backends.ports };
  const running: { r: Running; idleKb: number; smallPeakKb: number; down: Transfer[]; up: Transfer[]; downCpu: number[]; upCpu: number[]; errors: string[] }[] =
    [];
  const rows: StreamingRow[] = [];
  const failed: StreamingRow[] = [];
  const chosen = streamingContestants().filter((x) => wanted(o, x.name));
  try {
    const direct = { down: [] as Transfer[], up: [] as Transfer[], errors: [] as string[] };
    for (const c of chosen) {
      let r: Running | undefined;
      try {
        r = await startContestant(c, streamEnv);
        const idleKb = memoryOf(r.runtimePids()).rssKb;
        await curl(o, "down", r.url, smallFile, small);
        await curl(o, "up", r.url, smallFile, small);
        running.push({ r, idleKb, smallPeakKb: memoryOf(r.runtimePids()).hwmKb, down: [], up: [], downCpu: [], upCpu: [], errors: [] });
      } catch (e) {
        await r?.proc.stop();
        failed.push({
          name: c.name,
          downMBps: NaN,
          upMBps: NaN,
          downCpuSPerGiB: NaN,
          upCpuSPerGiB: NaN,
          idleKb: NaN,
          smallPeakKb: NaN,
          peakKb: NaN,
          errors: [(e as Error).message.slice(0, 300)],
        });
      }
    }
    const origin = `http://127.0.0.1:${backends.ports[0]}`;
    await curl(o, "down", origin, smallFile, small).catch(() => {});
    for (let round = 0; round < o.rounds; round++) {
      try {
        direct.down.push(await curl(o, "down", origin, bigFile, big));
        direct.up.push(await curl(o, "up", origin, bigFile, big));
      } catch (e) {
        direct.errors.push((e as Error).message);
      }
      for (let i = 0; i < running.length; i++) {
        const x = running[(i + round) % running.length]!;
        for (const direction of ["down", "up"] as const) {
          const pids = x.r.runtimePids();
          const before = cpuSeconds(pids, ticks);
          try {
            const t = await curl(o, direction, x.r.url, bigFile, big);
            x[direction].push(t);
            x[direction === "down" ? "downCpu" : "upCpu"].push((cpuSeconds(pids, ticks) - before) / (big / GiB));
            say(`streaming round ${round + 1} ${x.r.contestant.name} ${direction}: ${(big / t.seconds / 1e6).toFixed(0)} MB/s`);
          } catch (e) {
            x.errors.push((e as Error).message);
            say(`streaming ${x.r.contestant.name}: ${(e as Error).message}`);
          }
        }
      }
    }
    const mbps = (ts: readonly Transfer[]) => median(ts.map((t) => t.bytes / t.seconds / 1e6));
    rows.push({
      name: "direct (no balancer)",
      downMBps: mbps(direct.down),
      upMBps: mbps(direct.up),
      downCpuSPerGiB: NaN,
      upCpuSPerGiB: NaN,
      idleKb: NaN,
      smallPeakKb: NaN,
      peakKb: NaN,
      errors: direct.errors,
    });
    for (const x of running) {
      rows.push({
        name: x.r.contestant.name,
        downMBps: mbps(x.down),
        upMBps: mbps(x.up),
        downCpuSPerGiB: median(x.downCpu),
        upCpuSPerGiB: median(x.upCpu),
        idleKb: x.idleKb,
        smallPeakKb: x.smallPeakKb,
        peakKb: memoryOf(x.r.runtimePids()).hwmKb,
        errors: x.errors,
      });
    }
  } finally {
    await Promise.all(running.map((x) => x.r.proc.stop()));
    await backends.stop();
  }
  return [...rows, ...failed];
}

/** Flat in the body size: the peak after the large transfers within this much of the peak after the small ones. */
export const FLAT_KB = 32 * 1024;

export function renderStreaming(rows: readonly StreamingRow[], o: Options): string[] {
  const nginx = rows.find((r) => r.name === "nginx");
  const size = o.streamingMiB >= 1024 ? `${o.streamingMiB / 1024} GiB` : `${o.streamingMiB} MiB`;
  const out = [
    "## Streaming",
    "",
    `A ${size} download (\`GET\`, the backend sends a file with sendfile) and a ${size} upload (\`PUT\` with Content-Length, the backend counts the bytes and answers the count, which must match) ` +
    `through each balancer, curl on CPU ${o.loadCpu}, ${o.rounds} interleaved round(s), medians. CPU s/GiB = the balancer's processes' CPU time over the transfer ÷ GiB moved. ` +
    "Memory: RSS at idle, then peak RSS (VmHWM) after a 64 MiB transfer each way and after every large one: flat in the body size means the two peaks are close. " +
    "nginx takes uploads of any size and streams them (`client_max_body_size 0`, `proxy_request_buffering off`: by default it refuses bodies over 1 MiB and writes a whole upload to disk before sending it on); its response buffering stays at the default (`proxy_buffering on`, which may spill to a temp file). " +
    "Fulcrum realistic config; the JavaScript peers as in the throughput table (Hono's helper on Bun with `maxRequestBodySize` raised: Bun.serve refuses bodies over 128 MiB by default).",
    "",
    "| balancer | download MB/s | ×nginx | CPU s/GiB | upload MB/s | ×nginx | CPU s/GiB | idle RSS | peak after 64 MiB | peak after all | errors |",
    "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
  ];
  for (const r of rows) {
    out.push(
      `| ${r.name} | ${fmt(r.downMBps)} | ${ratio(r.downMBps, nginx?.downMBps)} | ${fmt(r.downCpuSPerGiB, 2)} | ${fmt(r.upMBps)} | ${
        ratio(r.upMBps, nginx?.upMBps)
      } | ${fmt(r.upCpuSPerGiB, 2)} | ${mib(r.idleKb)} | ${mib(r.smallPeakKb)} | ${mib(r.peakKb)} | ${
        r.errors.length ? r.errors.join("; ").replace(/\|/g, "\\|").slice(0, 300) : "0"
      } |`,
    );
  }
  out.push("");
  return out;
}

/** Issue 25: on Bun ≥ 0.5× nginx's MB/s (each way); memory flat in the body size on every runtime. */
export function streamingBars(rows: readonly StreamingRow[]): Bar[] {
  const nginx = rows.find((r) => r.name === "nginx");
  const bun = rows.find((r) => r.name === "Fulcrum bun realistic");
  const bars: Bar[] = [];
  for (const [dir, key] of [["download", "downMBps"], ["upload", "upMBps"]] as const) {
    const bar = `streaming ${dir}: Bun ≥ 0.5× nginx's MB/s`;
    const a = bun?.[key];
    const b = nginx?.[key];
    bars.push(
      a !== undefined && b !== undefined && Number.isFinite(a) && Number.isFinite(b)
        ? { bar, met: a >= 0.5 * b, measured: `${fmt(a)} vs ${fmt(b)} MB/s = ${(a / b).toFixed(2)}×` }
        : { bar, met: undefined, measured: "not measured" },
    );
  }
  for (const runtime of RUNTIMES) {
    const r = rows.find((x) => x.name === `Fulcrum ${runtime} realistic`);
    const bar = `streaming memory flat in the body size: ${runtime}`;
    bars.push(
      r && Number.isFinite(r.peakKb) && Number.isFinite(r.smallPeakKb)
        ? {
          bar,
          met: r.peakKb - r.smallPeakKb <= FLAT_KB && r.errors.length === 0,
          measured: `peak ${mib(r.smallPeakKb)} after 64 MiB, ${mib(r.peakKb)} after the large transfers (within ${FLAT_KB / 1024} MiB = flat)`,
        }
        : { bar, met: undefined, measured: "not measured" },
    );
  }
  return bars;
}
