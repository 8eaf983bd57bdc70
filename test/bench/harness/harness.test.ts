/** The benchmark harness's parsing and arithmetic (no timing: numbers are never asserted). */
import { describe, expect, test } from "bun:test";
import { minimalConfig, realisticConfig } from "./configs.ts";
import { parseOptions } from "./options.ts";
import { readFileSync } from "node:fs";
import { parseCpuTicks } from "./cpu.ts";
import { summarizeProfile } from "./profile.ts";
import { FINDINGS_END, FINDINGS_START, findingsOf, nestHeadings } from "./report.ts";
import { checkBars, median, summarize } from "./stats.ts";
import { completeResponse, percentile } from "./openloop.ts";
import { FLAT_KB, streamingBars, type StreamingRow } from "./streaming.ts";
import { unevenBars, type UnevenRow } from "./uneven.ts";
import { parseDuration, parseWrk } from "./wrk.ts";

const WRK = `Running 10s test @ http://127.0.0.1:8080/
  1 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     2.10ms  500.00us  20.00ms   90.00%
    Req/Sec    30.00k     1.00k   32.00k    70.00%
  Latency Distribution
     50%  850.00us
     75%    2.00ms
     90%    3.00ms
     99%    1.20s
  300000 requests in 10.00s, 40.00MB read
  Socket errors: connect 1, read 2, write 0, timeout 3
  Non-2xx or 3xx responses: 4
Requests/sec:  29999.50
Transfer/sec:      4.00MB
`;

describe("wrk output", () => {
  test("durations in every unit wrk prints", () => {
    expect(parseDuration("850.00us")).toBeCloseTo(0.85);
    expect(parseDuration("2.00ms")).toBe(2);
    expect(parseDuration("1.20s")).toBe(1200);
    expect(parseDuration("1.50m")).toBe(90_000);
    expect(() => parseDuration("2.00h")).toThrow("cannot parse");
  });

  test("req/s, p50, p99, totals and errors", () => {
    expect(parseWrk(WRK)).toEqual({ requestsPerSec: 29999.5, p50: 0.85, p99: 1200, requests: 300000, errors: 10 });
  });

  test("no error lines means no errors; unexpected output throws", () => {
    const clean = WRK.replace(/^\s+Socket errors.*\n/m, "").replace(/^\s+Non-2xx.*\n/m, "");
    expect(parseWrk(clean).errors).toBe(0);
    expect(() => parseWrk("unable to connect to 127.0.0.1:1 Connection refused")).toThrow("unexpected output");
  });
});

describe("medians and bars", () => {
  test("median of odd and even counts", () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([])).toBeNaN();
  });

  const w = (requestsPerSec: number, p99: number, cpuUsPerRequest?: number) => ({ requestsPerSec, p50: 1, p99, requests: 1, errors: 0, cpuUsPerRequest });
  const summaries = [
    summarize({ kind: "peer", name: "nginx", peer: "nginx" }, [w(30000, 5)]),
    summarize({ kind: "peer", name: "Caddy", peer: "caddy" }, [w(10000, 20)]),
    summarize({ kind: "fulcrum", name: "Fulcrum bun realistic", runtime: "bun", config: "realistic" }, [w(25000, 12, 40), w(19000, 9, 44), w(21000, 8)]),
    summarize({ kind: "naive", name: "naive bun", runtime: "bun" }, [w(22000, 6)]),
    summarize({ kind: "fulcrum", name: "Fulcrum node realistic", runtime: "node", config: "realistic" }, [w(9000, 10)]),
    summarize({ kind: "naive", name: "naive node", runtime: "node" }, [w(2000, 40)]),
  ];

  test("summaries take the median of each metric separately", () => {
    const bun = summaries[2]!;
    expect(bun.rps).toBe(21000);
    expect(bun.p99).toBe(9);
    expect(bun.allRps).toEqual([25000, 19000, 21000]);
    expect(bun.cpuUs).toBe(42); // over the rounds that measured it
    expect(summaries[0]!.cpuUs).toBeNaN();
  });

  test("CPU ticks from /proc/<pid>/stat: utime + stime, whatever the command name holds", () => {
    const stat = "4242 (bun (x) y) S 1 4242 4242 0 -1 4194560 9000 0 0 0 1234 56 0 0 20 0 3 0 100 0 0";
    expect(parseCpuTicks(stat)).toBe(1290);
    expect(parseCpuTicks(readFileSync(`/proc/${process.pid}/stat`, "utf8"))).toBeGreaterThanOrEqual(0);
  });

  test("each bar is met, not met, or not measured", () => {
    const bars = Object.fromEntries(checkBars(summaries, 23_000, true).map((b) => [b.bar, b.met]));
    expect(bars["bun: realistic ≥ 0.9× naive forwarder"]).toBe(true); // 21000 ≥ 19800
    expect(bars["deno: realistic ≥ 0.9× naive forwarder"]).toBeUndefined();
    expect(bars["Bun ≥ 2× Caddy's throughput"]).toBe(true);
    expect(bars["Bun p99 within 2× of nginx's"]).toBe(true); // 9 ≤ 10
    expect(bars["Node ≥ 5× the naive fetch forwarder"]).toBe(false); // 4.5×
    expect(bars["Worker bundle < 100 KB gzipped"]).toBe(true);
    expect(checkBars(summaries, 100_000, true).at(-1)!.met).toBe(false);
  });

  test("without a runnable realistic config the bars use minimal and say so", () => {
    const bars = checkBars(summaries, undefined, false);
    expect(bars.every((b) => b.met === undefined)).toBe(true);
  });
});

describe("profiles", () => {
  test("self time per function and file, total time of Fulcrum's own functions", () => {
    const root = "/repo";
    const frame = (functionName: string, url: string, lineNumber = 0) => ({ functionName, url, lineNumber });
    const profile = {
      nodes: [
        { id: 1, callFrame: frame("(root)", ""), children: [2] },
        { id: 2, callFrame: frame("forward", "file:///repo/src/proxy/forward.ts", 26), children: [3, 4] },
        { id: 3, callFrame: frame("fetch", ""), children: [] },
        { id: 4, callFrame: frame("stripHopByHop", "/repo/src/proxy/headers.ts", 21), children: [] },
      ],
      samples: [3, 3, 3, 4, 2],
      timeDeltas: [1000, 1000, 1000, 1000, 1000],
    };
    const s = summarizeProfile(profile, root);
    expect(s.totalMs).toBe(5);
    expect(s.functions[0]).toEqual({ name: "fetch", where: "", selfPct: 60 });
    expect(s.files).toContainEqual({ file: "src/proxy/headers.ts", selfPct: 20 });
    expect(s.own[0]).toEqual({ name: "forward", where: "src/proxy/forward.ts:27", totalPct: 100 });
    expect(s.own[1]).toEqual({ name: "stripHopByHop", where: "src/proxy/headers.ts:22", totalPct: 20 });
  });

  test("workerd names the Worker bundle by its module name: counted as Fulcrum's own code", () => {
    const frame = (functionName: string, url: string, lineNumber = 0) => ({ functionName, url, lineNumber });
    const profile = {
      nodes: [
        { id: 1, callFrame: frame("(root)", ""), children: [2] },
        { id: 2, callFrame: frame("run", "profile-workerd-worker.mjs", 9625), children: [3] },
        { id: 3, callFrame: frame("fetch", ""), children: [] },
      ],
      samples: [2, 3, 3, 3],
      timeDeltas: [1000, 1000, 1000, 1000],
    };
    const s = summarizeProfile(profile, "/repo");
    expect(s.files).toEqual([
      { file: "(native)", selfPct: 75 },
      { file: "(worker bundle) worker.mjs", selfPct: 25 },
    ]);
    expect(s.own).toEqual([{ name: "run", where: "(worker bundle) worker.mjs:9626", totalPct: 100 }]);
  });
  test("frames in the Deno bundle are given their source module; its packages do not count as Fulcrum's", () => {
    const bundleText = [
      "var __require = () => {};", // esbuild's helpers, before any module
      "// node_modules/undici/lib/dispatcher/client-h1.js",
      "function writeH1() {}",
      "// src/proxy/forward.ts",
      "",
      "async function forward() {}",
      "// @__NO_SIDE_EFFECTS__",
      "function run() {}",
    ].join("\n");
    const bundle = "/repo/node_modules/.cache/fulcrum/deno.mjs";
    const frame = (functionName: string, lineNumber: number) => ({ functionName, url: `file://${bundle}`, lineNumber });
    const profile = {
      nodes: [
        { id: 1, callFrame: { functionName: "(root)", url: "", lineNumber: 0 }, children: [2] },
        { id: 2, callFrame: frame("forward", 5), children: [3, 4] },
        { id: 3, callFrame: frame("writeH1", 2), children: [5] },
        { id: 4, callFrame: frame("run", 7), children: [] },
        { id: 5, callFrame: frame("__require", 0), children: [] },
      ],
      samples: [3, 3, 4, 5],
      timeDeltas: [1000, 1000, 1000, 1000],
    };
    const s = summarizeProfile(profile, "/repo", 15, (path) => (path === bundle ? bundleText : undefined));
    expect(s.files).toEqual([
      { file: "node_modules/undici/lib/dispatcher/client-h1.js", selfPct: 50 },
      { file: "src/proxy/forward.ts", selfPct: 25 },
      { file: "(bundle) deno.mjs", selfPct: 25 },
    ]);
    expect(s.functions).toContainEqual({ name: "run", where: "src/proxy/forward.ts (deno.mjs:8)", selfPct: 25 });
    expect(s.own).toEqual([
      { name: "forward", where: "src/proxy/forward.ts (deno.mjs:6)", totalPct: 100 },
      { name: "run", where: "src/proxy/forward.ts (deno.mjs:8)", totalPct: 25 },
    ]);
  });
});

describe("options and report pieces", () => {
  test("defaults, --quick, flags over env, bad values", () => {
    const full = parseOptions([], {}, "/repo");
    expect([full.rounds, full.durationS, full.connections, full.out]).toEqual([3, 10, 64, "/repo/BENCHMARKS.md"]);
    const quick = parseOptions(["--quick", "--rounds=2"], { BENCH_ROUNDS: "5", BENCH_DURATION: "7" }, "/repo");
    expect([quick.rounds, quick.durationS]).toEqual([2, 7]);
    expect(quick.out).not.toBe("/repo/BENCHMARKS.md");
    expect(parseOptions(["--only", "nginx, Bun"], {}, "/repo").only).toEqual(["nginx", "bun"]);
    expect(() => parseOptions(["--rounds", "0"], {}, "/repo")).toThrow("expected a positive number");
    expect(() => parseOptions(["--fast"], {}, "/repo")).toThrow("unknown flag --fast");
  });

  test("the hand-written findings block of BENCHMARKS.md is carried over by a run, markers aside", () => {
    const previous = ["# Benchmarks", "numbers", FINDINGS_START, "", "## Investigating", "by hand", "", FINDINGS_END, "## Profiles"].join("\n");
    expect(findingsOf(previous)).toBe("## Investigating\nby hand");
    expect(findingsOf("# Benchmarks\nno block")).toBeUndefined();
  });

  test("pasted markdown's headings nest under ours", () => {
    expect(nestHeadings("## A\ntext\n### B", 4)).toBe("#### A\ntext\n##### B");
    expect(nestHeadings("#### A", 4)).toBe("#### A");
    expect(nestHeadings("no headings", 4)).toBe("no headings");
  });

  test("both configs listen on loopback and forward to every backend", () => {
    for (const config of [minimalConfig(8080, [1, 2, 3]), realisticConfig(8080, [1, 2, 3])]) {
      expect(config.listen).toEqual({ port: 8080, host: "127.0.0.1" });
      const app = (config.targetGroups as Record<string, { targets: { url: string }[] }>).app!;
      expect(app.targets.map((t) => t.url)).toEqual(["http://127.0.0.1:1", "http://127.0.0.1:2", "http://127.0.0.1:3"]);
    }
  });
});

describe("the open-loop client's framing and percentiles", () => {
  test("a response is complete by Content-Length, by the chunked terminator, or at the head when it has no body", () => {
    const head = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n";
    expect(completeResponse(head + "ok")).toBeUndefined();
    expect(completeResponse(head + "ok 1\nHTTP/1.1")).toEqual({ length: head.length + 5, status: 200 });
    const chunked = "HTTP/1.1 502 Bad Gateway\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n";
    expect(completeResponse(chunked)).toBeUndefined();
    expect(completeResponse(chunked + "0\r\n\r\n")).toEqual({ length: chunked.length + 5, status: 502 });
    expect(completeResponse("HTTP/1.1 204 No Content\r\n\r\n")).toEqual({ length: 27, status: 204 });
    expect(completeResponse("HTTP/1.1 200 OK\r\nContent-Le")).toBeUndefined();
  });

  test("percentiles by rank: p99 of 1..1000 is 990, p99.9 999", () => {
    const xs = Float64Array.from({ length: 1000 }, (_, i) => i + 1);
    expect([percentile(xs, 0.5), percentile(xs, 0.99), percentile(xs, 0.999)]).toEqual([500, 990, 999]);
    expect(percentile(new Float64Array(0), 0.99)).toBeNaN();
  });
});

describe("issue 25's bars", () => {
  const result = (p99: number, errors = 0) => ({
    connected: 64,
    requests: 1000,
    completed: 1000,
    errors,
    non200: 0,
    p50: 1,
    p99,
    p999: p99,
    max: p99,
    reconnects: 0,
    reconnectFailures: 0,
  });
  const row = (caseId: string, name: string, p99: number, errors = 0): UnevenRow => ({ caseId, name, result: result(p99, errors) });

  test("uneven: Fulcrum's best strategy (not round robin, no errors) against half of nginx's p99 and all of HAProxy's", () => {
    const rows = [
      row("slow", "nginx least_conn", 50),
      row("slow", "HAProxy leastconn", 50),
      row("slow", "Fulcrum bun round_robin", 1),
      row("slow", "Fulcrum bun latency_aware", 2, 3),
      row("slow", "Fulcrum bun least_request", 20),
      row("tail", "nginx least_conn", 1.4),
      row("tail", "HAProxy leastconn", 1.4),
      row("tail", "Fulcrum bun latency_aware", 3),
    ];
    const [slow, tail] = unevenBars(rows);
    expect(slow!.met).toBe(true);
    expect(slow!.measured).toStartWith("least_request 20.0 ms");
    expect(tail!.met).toBe(false);
    expect(unevenBars([]).map((b) => b.met)).toEqual([undefined, undefined]);
  });

  test("streaming: Bun against half of nginx's MB/s each way; flat memory within FLAT_KB", () => {
    const base = { downCpuSPerGiB: 1, upCpuSPerGiB: 1, idleKb: 50_000, errors: [] };
    const rows: StreamingRow[] = [
      { ...base, name: "nginx", downMBps: 1000, upMBps: 1000, smallPeakKb: 1, peakKb: 1 },
      { ...base, name: "Fulcrum bun realistic", downMBps: 600, upMBps: 400, smallPeakKb: 90_000, peakKb: 90_000 + FLAT_KB },
      { ...base, name: "Fulcrum node realistic", downMBps: 1, upMBps: 1, smallPeakKb: 90_000, peakKb: 90_001 + FLAT_KB },
    ];
    const bars = streamingBars(rows);
    expect(bars.map((b) => [b.bar.replace(/^streaming /, ""), b.met])).toEqual([
      ["download: Bun ≥ 0.5× nginx's MB/s", true],
      ["upload: Bun ≥ 0.5× nginx's MB/s", false],
      ["memory flat in the body size: bun", true],
      ["memory flat in the body size: deno", undefined],
      ["memory flat in the body size: node", false],
      ["memory flat in the body size: workerd", undefined],
    ]);
  });
});
