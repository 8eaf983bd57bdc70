/**
 * Which Node 20 server/client stack can carry Fulcrum's Node adapter? Measures the
 * ceiling of each candidate forwarder (no Fulcrum features) against the naive
 * forwarder (Hono + global fetch) in the same interleaved run, because only ratios
 * measured together mean anything on this shared, noisy machine (issue 8: Fulcrum
 * on Node must reach 5x the naive forwarder).
 *
 *   bun test/bench/node-stacks.ts [--rounds 3] [--duration 5] [--warmup 2] [--only naive,raw-dispatch]
 *
 * Pinning as in the harness: each contestant on CPU 0, wrk and one nginx backend
 * (worker_processes 1, a 13-byte 200 on three ports) on CPU 1. Every contestant
 * round-robins over the three ports with upstream keep-alive, and propagates a
 * client disconnect to its upstream request (a proxy that doesn't leaks upstream work).
 * Contestants that need no install are sources below, written to a temp dir whose
 * node_modules links to the repo's; srvx is npm-installed into node_modules/.cache
 * (it is a bench-only candidate, not a dependency) and skipped if that fails.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { BACKEND_HEADER, backendNginxConf } from "./harness/peers.ts";
import { freePort, installCleanup, start, type Started, stopAll } from "./harness/processes.ts";
import { bundleNaive } from "./harness/workerd.ts";
import { runWrk, type WrkResult } from "./harness/wrk.ts";

const ROOT = resolve(import.meta.dir, "../..");
const SRVX = "srvx@1.0.8";

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1]! : fallback;
}
const ROUNDS = Number(arg("rounds", "3"));
const DURATION_S = Number(arg("duration", "5"));
const WARMUP_S = Number(arg("warmup", "2"));
const ONLY = arg("only", "").split(",").filter((s) => s !== "");

/** Shared by the hand-written contestants so they differ only in their server/client stack. */
const COMMON = `
import { Pool } from "undici";
export const port = Number(process.env.PORT);
export const targets = process.env.TARGETS.split(",");
// RFC 9110 7.6.1 hop-by-hop fields, plus the ones undici manages itself.
const HOP = new Set(["connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer", "upgrade", "expect"]);
export const isHop = (name) => HOP.has(name.toLowerCase());
let turn = 0;
export const nextIndex = () => (turn = (turn + 1) % targets.length);
// Fulcrum's pool settings (src/runtimes/upstream/undici.ts).
export const poolOptions = (extra) => ({ connections: 256, keepAliveTimeout: 4000, keepAliveMaxTimeout: 60000, headersTimeout: 0, bodyTimeout: 0, ...extra });
export const makePools = (extra) => targets.map((t) => new Pool("http://" + t, poolOptions(extra)));
/** IncomingMessage.rawHeaders (flat [name, value, ...]) minus hop-by-hop. */
export function requestHeaders(raw) {
  const out = [];
  for (let i = 0; i < raw.length; i += 2) if (!isHop(raw[i])) out.push(raw[i], raw[i + 1]);
  return out;
}
/** undici's parsed header object minus hop-by-hop, as a plain object. */
export function responseHeaders(obj) {
  const out = {};
  for (const name in obj) if (!HOP.has(name)) out[name] = obj[name];
  return out;
}
/** Raw header list (Buffers or strings) minus hop-by-hop, as a flat string array for writeHead. */
export function responseRawHeaders(raw) {
  const out = [];
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i].toString("latin1");
    if (!isHop(name)) out.push(name, raw[i + 1].toString("latin1"));
  }
  return out;
}
export const hasBody = (method) => method !== "GET" && method !== "HEAD";
export function fail(res, error) {
  if (!res.headersSent) { res.writeHead(502); res.end(); } else res.destroy(error);
}
`;

const SMALL_BODY = 64 * 1024;

const SOURCES: Record<string, string> = {
  // Fulcrum's current stack (src/runtimes/node/entry.ts + undici-upstream.ts) minus its features:
  // web Request in, Headers both ways, small bodies read whole into a lightweight Response.
  "hono-undici": `
import { Hono } from "hono";
import { serve } from "@hono/node-server";
import { port, makePools, nextIndex, isHop, hasBody } from "./common.mjs";
const pools = makePools();
const app = new Hono();
app.all("*", async (c) => {
  const req = c.req.raw;
  const url = new URL(req.url);
  const headers = {};
  req.headers.forEach((v, k) => { if (!isHop(k)) headers[k] = v; });
  const up = await pools[nextIndex()].request({ path: url.pathname + url.search, method: req.method, headers, body: hasBody(req.method) ? req.body : null, signal: req.signal });
  const out = new Headers();
  for (const [k, v] of Object.entries(up.headers)) { if (isHop(k)) continue; if (Array.isArray(v)) for (const x of v) out.append(k, x); else out.append(k, v); }
  const length = Number(up.headers["content-length"] ?? -1);
  if (length >= 0 && length <= ${SMALL_BODY}) return new Response(new Uint8Array(await up.body.arrayBuffer()), { status: up.statusCode, headers: out });
  return new Response(ReadableStream.from(up.body), { status: up.statusCode, headers: out });
});
serve({ fetch: app.fetch, port, hostname: "127.0.0.1" });
`,
  // @hono/node-server's fast paths: the raw IncomingMessage from c.env (no Headers, no URL
  // object, body streamed as a node Readable), and its lightweight Response (kept because
  // overrideGlobalObjects stays on) with a plain-object header record and a Uint8Array body,
  // which it writes with one writeHead + end (responseViaCache).
  "hono-fast": `
import { Hono } from "hono";
import { serve } from "@hono/node-server";
import { port, makePools, nextIndex, requestHeaders, responseHeaders, hasBody } from "./common.mjs";
const pools = makePools();
const app = new Hono();
app.all("*", async (c) => {
  const incoming = c.env.incoming;
  const up = await pools[nextIndex()].request({ path: incoming.url, method: incoming.method, headers: requestHeaders(incoming.rawHeaders), body: hasBody(incoming.method) ? incoming : null, signal: c.req.raw.signal });
  const headers = responseHeaders(up.headers);
  const length = Number(up.headers["content-length"] ?? -1);
  if (length >= 0 && length <= ${SMALL_BODY}) return new Response(new Uint8Array(await up.body.arrayBuffer()), { status: up.statusCode, headers });
  return new Response(ReadableStream.from(up.body), { status: up.statusCode, headers });
});
serve({ fetch: app.fetch, port, hostname: "127.0.0.1" });
`,
  // Raw node:http + undici Pool.request, response body piped as a node stream.
  "raw-request-pipe": `
import { createServer } from "node:http";
import { port, makePools, nextIndex, requestHeaders, responseHeaders, hasBody, fail } from "./common.mjs";
const pools = makePools();
createServer((req, res) => {
  const ac = new AbortController();
  res.once("close", () => { if (!res.writableFinished) ac.abort(); });
  pools[nextIndex()].request({ path: req.url, method: req.method, headers: requestHeaders(req.rawHeaders), body: hasBody(req.method) ? req : null, signal: ac.signal }).then((up) => {
    res.writeHead(up.statusCode, responseHeaders(up.headers));
    up.body.pipe(res);
  }, (e) => fail(res, e));
}).listen(port, "127.0.0.1");
`,
  // Same, small bodies of known length read whole and written with one end().
  "raw-request-whole": `
import { createServer } from "node:http";
import { port, makePools, nextIndex, requestHeaders, responseHeaders, hasBody, fail } from "./common.mjs";
const pools = makePools();
createServer((req, res) => {
  const ac = new AbortController();
  res.once("close", () => { if (!res.writableFinished) ac.abort(); });
  pools[nextIndex()].request({ path: req.url, method: req.method, headers: requestHeaders(req.rawHeaders), body: hasBody(req.method) ? req : null, signal: ac.signal }).then(async (up) => {
    res.writeHead(up.statusCode, responseHeaders(up.headers));
    const length = Number(up.headers["content-length"] ?? -1);
    if (length >= 0 && length <= ${SMALL_BODY}) res.end(Buffer.from(await up.body.arrayBuffer()));
    else up.body.pipe(res);
  }).catch((e) => fail(res, e));
}).listen(port, "127.0.0.1");
`,
  // Raw node:http server and client: keep-alive Agent, req.pipe / res.pipe.
  "raw-http-agent": `
import { createServer, request, Agent } from "node:http";
import { port, targets, nextIndex, requestHeaders, responseRawHeaders, hasBody, fail } from "./common.mjs";
const agent = new Agent({ keepAlive: true, keepAliveMsecs: 1000, scheduling: "lifo" });
const hosts = targets.map((t) => { const [host, p] = t.split(":"); return { host, port: Number(p) }; });
createServer((req, res) => {
  const t = hosts[nextIndex()];
  const up = request({ agent, host: t.host, port: t.port, method: req.method, path: req.url, headers: requestHeaders(req.rawHeaders) }, (ur) => {
    res.writeHead(ur.statusCode, responseRawHeaders(ur.rawHeaders));
    ur.pipe(res);
  });
  up.on("error", (e) => fail(res, e));
  res.once("close", () => { if (!res.writableFinished) up.destroy(); });
  if (hasBody(req.method)) req.pipe(up); else up.end();
}).listen(port, "127.0.0.1");
`,
  // Raw node:http + undici's lowest-level API: Pool.dispatch with a legacy handler
  // (raw Buffer headers, no parsed object, no Readable per response).
  "raw-dispatch": `
import { createServer } from "node:http";
import { port, makePools, nextIndex, requestHeaders, responseRawHeaders, hasBody, fail } from "./common.mjs";
const pools = makePools(process.env.PIPELINING ? { pipelining: Number(process.env.PIPELINING), connections: Number(process.env.CONNECTIONS) } : {});
class Forward {
  constructor(res) { this.res = res; this.abort = null; this.resume = null; }
  onConnect(abort) { this.abort = abort; }
  onHeaders(status, raw, resume) { this.resume = resume; this.res.writeHead(status, responseRawHeaders(raw)); return true; }
  onData(chunk) { const ok = this.res.write(chunk); if (!ok) this.res.once("drain", this.resume); return ok; }
  onComplete() { this.res.end(); }
  onError(e) { fail(this.res, e); }
}
createServer((req, res) => {
  const handler = new Forward(res);
  res.once("close", () => { if (!res.writableFinished && handler.abort) handler.abort(new Error("client closed")); });
  pools[nextIndex()].dispatch({ path: req.url, method: req.method, headers: requestHeaders(req.rawHeaders), body: hasBody(req.method) ? req : null }, handler);
}).listen(port, "127.0.0.1");
`,
  // Raw node:http + Pool.dispatch, but the request and response headers go through web
  // Headers objects, as they would if Fulcrum's core keeps its web-standard contract.
  "raw-dispatch-headers": `
import { createServer } from "node:http";
import { port, makePools, nextIndex, isHop, hasBody, fail } from "./common.mjs";
const pools = makePools();
class Forward {
  constructor(res) { this.res = res; this.abort = null; this.resume = null; }
  onConnect(abort) { this.abort = abort; }
  onHeaders(status, raw, resume) {
    this.resume = resume;
    const headers = new Headers();
    for (let i = 0; i < raw.length; i += 2) { const k = raw[i].toString("latin1"); if (!isHop(k)) headers.append(k, raw[i + 1].toString("latin1")); }
    const flat = [];
    headers.forEach((v, k) => flat.push(k, v));
    this.res.writeHead(status, flat);
    return true;
  }
  onData(chunk) { const ok = this.res.write(chunk); if (!ok) this.res.once("drain", this.resume); return ok; }
  onComplete() { this.res.end(); }
  onError(e) { fail(this.res, e); }
}
createServer((req, res) => {
  const headers = new Headers();
  const raw = req.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) if (!isHop(raw[i])) headers.append(raw[i], raw[i + 1]);
  const flat = [];
  headers.forEach((v, k) => flat.push(k, v));
  const handler = new Forward(res);
  res.once("close", () => { if (!res.writableFinished && handler.abort) handler.abort(new Error("client closed")); });
  pools[nextIndex()].dispatch({ path: req.url, method: req.method, headers: flat, body: hasBody(req.method) ? req : null }, handler);
}).listen(port, "127.0.0.1");
`,
  // Keeps Hono, @hono/node-server and a Response-returning handler (Fulcrum's core
  // contract) but fetches with Pool.dispatch: the handler collects the body and resolves a
  // lightweight Response (plain-object headers, Buffer body) that the server writes in one go.
  "hono-dispatch": `
import { Hono } from "hono";
import { serve } from "@hono/node-server";
import { port, makePools, nextIndex, isHop, requestHeaders, hasBody } from "./common.mjs";
const pools = makePools();
class Collect {
  constructor(resolve, reject) { this.resolve = resolve; this.reject = reject; this.abort = null; this.status = 0; this.headers = null; this.chunks = []; }
  onConnect(abort) { this.abort = abort; }
  onHeaders(status, raw) {
    this.status = status;
    const headers = {};
    for (let i = 0; i < raw.length; i += 2) {
      const k = raw[i].toString("latin1").toLowerCase();
      if (isHop(k)) continue;
      const v = raw[i + 1].toString("latin1");
      const had = headers[k];
      headers[k] = had === undefined ? v : Array.isArray(had) ? [...had, v] : [had, v];
    }
    this.headers = headers;
    return true;
  }
  onData(chunk) { this.chunks.push(chunk); return true; }
  onComplete() { const c = this.chunks; this.resolve(new Response(c.length === 1 ? c[0] : Buffer.concat(c), { status: this.status, headers: this.headers })); }
  onError(e) { this.reject(e); }
}
const app = new Hono();
app.all("*", (c) => {
  const incoming = c.env.incoming;
  const outgoing = c.env.outgoing;
  return new Promise((resolve, reject) => {
    const handler = new Collect(resolve, reject);
    outgoing.once("close", () => { if (!outgoing.writableFinished && handler.abort) handler.abort(new Error("client closed")); });
    pools[nextIndex()].dispatch({ path: incoming.url, method: incoming.method, headers: requestHeaders(incoming.rawHeaders), body: hasBody(incoming.method) ? incoming : null }, handler);
  });
});
serve({ fetch: app.fetch, port, hostname: "127.0.0.1" });
`,
  // srvx (unjs, h3's server): node:http with a lazy NodeRequest and FastResponse, which
  // pipes a node Readable body straight to the socket.
  srvx: `
import { serve, FastResponse } from "srvx";
import { port, makePools, nextIndex, requestHeaders, responseHeaders, hasBody } from "./common.mjs";
const pools = makePools();
serve({ port, hostname: "127.0.0.1", silent: true, fetch: async (request) => {
  const req = request.runtime.node.req;
  const up = await pools[nextIndex()].request({ path: req.url, method: req.method, headers: requestHeaders(req.rawHeaders), body: hasBody(req.method) ? req : null, signal: request.signal });
  return new FastResponse(up.body, { status: up.statusCode, headers: responseHeaders(up.headers) });
} });
`,
};

interface Contestant {
  readonly name: string;
  readonly what: string;
  readonly file: string;
  readonly env?: Record<string, string>;
}

/** npm-installs srvx into node_modules/.cache once; undefined if that fails (no registry). */
function srvxDir(): string | undefined {
  const dir = join(ROOT, "node_modules/.cache/node-stacks");
  if (existsSync(join(dir, "node_modules/srvx/package.json"))) return join(dir, "node_modules/srvx");
  mkdirSync(dir, { recursive: true });
  const r = spawnSync("npm", ["install", "--prefix", dir, "--no-audit", "--no-fund", "--no-save", SRVX], { stdio: "ignore", timeout: 120_000 });
  return r.status === 0 && existsSync(join(dir, "node_modules/srvx/package.json")) ? join(dir, "node_modules/srvx") : undefined;
}

async function prepare(dir: string): Promise<Contestant[]> {
  const modules = join(dir, "node_modules");
  mkdirSync(modules);
  for (const pkg of ["hono", "@hono", "undici"]) symlinkSync(join(ROOT, "node_modules", pkg), join(modules, pkg));
  const srvx = srvxDir();
  if (srvx) symlinkSync(srvx, join(modules, "srvx"));
  else console.error("node-stacks: could not install srvx, skipping it");
  writeFileSync(join(dir, "common.mjs"), COMMON);
  for (const [name, src] of Object.entries(SOURCES)) writeFileSync(join(dir, `${name}.mjs`), src);
  const f = (name: string) => join(dir, `${name}.mjs`);
  const all: Contestant[] = [
    { name: "naive", what: "Hono + @hono/node-server + global fetch (the harness's)", file: await bundleNaive(ROOT, "node", dir) },
    { name: "hono-undici", what: "@hono/node-server + undici Pool.request, web Headers both ways (today's adapter, no features)", file: f("hono-undici") },
    { name: "raw-request-pipe", what: "node:http + undici Pool.request, body piped", file: f("raw-request-pipe") },
    { name: "raw-http-agent", what: "node:http server + node:http client, keep-alive Agent, pipe", file: f("raw-http-agent") },
    { name: "raw-dispatch", what: "node:http + undici Pool.dispatch, legacy handler", file: f("raw-dispatch") },
    { name: "raw-dispatch-headers", what: "raw-dispatch with web Headers built and read on both sides", file: f("raw-dispatch-headers") },
    { name: "hono-dispatch", what: "Hono + @hono/node-server + Pool.dispatch collecting into a lightweight Response", file: f("hono-dispatch") },
    { name: "hono-fast", what: "@hono/node-server fast paths (raw incoming, lightweight Response, plain headers) + Pool.request", file: f("hono-fast") },
    { name: "srvx", what: "srvx (node:http, lazy NodeRequest, FastResponse piping a Readable) + Pool.request", file: f("srvx") },
    { name: "raw-request-whole", what: "node:http + undici Pool.request, small body read whole, one end()", file: f("raw-request-whole") },
    {
      name: "raw-dispatch-pipelined",
      what: "raw-dispatch with pipelining 8 over 8 connections per target",
      file: f("raw-dispatch"),
      env: { PIPELINING: "8", CONNECTIONS: "8" },
    },
  ];
  // Pipelining stalled (26 req/s, CPU idle) in one round of the first full run, and is no
  // option for a proxy anyway (head-of-line blocking, unsafe for non-idempotent requests):
  // measured only when named with --only.
  const optIn = new Set(["raw-dispatch-pipelined"]);
  return all.filter((c) => (c.name !== "srvx" || srvx) && (ONLY.length === 0 ? !optIn.has(c.name) : ONLY.includes(c.name)));
}

async function waitReady(url: string, proc: Started): Promise<void> {
  const until = Date.now() + 15_000;
  while (Date.now() < until) {
    if (proc.hasExited()) throw new Error(`${proc.name} exited:\n${proc.log()}`);
    try {
      const r = await fetch(url, { signal: AbortSignal.timeout(1000) });
      await r.arrayBuffer();
      return;
    } catch {
      // not answering yet
    }
    await Bun.sleep(100);
  }
  throw new Error(`${proc.name} not ready on ${url}:\n${proc.log()}`);
}

/** 200 with the backend's own body, all three backends reached, a POST body forwarded without hanging. */
async function checkCorrect(name: string, url: string, backends: readonly number[]): Promise<void> {
  const seen = new Set<number>();
  for (let i = 0; i < 6; i++) {
    const r = await fetch(`${url}/check?i=${i}`, { signal: AbortSignal.timeout(5000) });
    const body = await r.text();
    const port = Number(r.headers.get(BACKEND_HEADER));
    if (r.status !== 200 || body !== `ok ${port}\n` || !backends.includes(port)) {
      throw new Error(`${name}: got ${r.status} ${JSON.stringify(body)} from ${port}`);
    }
    seen.add(port);
  }
  if (seen.size !== backends.length) throw new Error(`${name}: reached only ${[...seen].join(", ")}`);
  const post = await fetch(`${url}/post`, { method: "POST", body: "x".repeat(100_000), signal: AbortSignal.timeout(5000) });
  if (post.status !== 200 || !(await post.text()).startsWith("ok ")) throw new Error(`${name}: POST got ${post.status}`);
}

/** utime + stime of a process, in seconds (USER_HZ = 100 on Linux). */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

interface Run extends WrkResult {
  /** CPU-seconds the contestant used per wall second: well under 1 means something else had CPU 0 (shared machine), so the run understates it. */
  readonly cpu: number;
}

async function main(): Promise<void> {
  installCleanup(120 + ROUNDS * 12 * (WARMUP_S + DURATION_S + 6) + 60);
  const dir = mkdtempSync(join(tmpdir(), "node-stacks-"));
  const contestants = await prepare(dir);
  const backends = [await freePort(), await freePort(), await freePort()];
  const nginx = start("backends", "nginx", ["-c", backendNginxConf(dir, backends)], { cpu: "1", logDir: dir });
  await waitReady(`http://127.0.0.1:${backends[0]}/`, nginx);
  const targets = backends.map((p) => `127.0.0.1:${p}`).join(",");
  const live: { c: Contestant; url: string; proc: Started }[] = [];
  for (const c of contestants) {
    const port = await freePort();
    const env = {
      ...c.env,
      PORT: String(port),
      TARGETS: targets,
      NAIVE_PORT: String(port),
      NAIVE_TARGETS: backends.map((p) => `http://127.0.0.1:${p}`).join(","),
    };
    const proc = start(c.name, "node", [c.file], { cpu: "0", logDir: dir, env, cwd: dir });
    const url = `http://127.0.0.1:${port}`;
    await waitReady(url, proc);
    await checkCorrect(c.name, url, backends);
    live.push({ c, url, proc });
  }
  console.error(`node-stacks: ${live.length} contestants correct; ${ROUNDS} rounds of ${WARMUP_S} s warm-up + ${DURATION_S} s`);
  const runs = new Map<string, Run[]>(live.map((l) => [l.c.name, []]));
  for (let round = 1; round <= ROUNDS; round++) {
    for (const { c, url, proc } of live) {
      await runWrk({ url: `${url}/`, threads: 1, connections: 64, durationS: WARMUP_S, cpu: "1" });
      const before = cpuSeconds(proc.pid);
      const t0 = performance.now();
      const r = await runWrk({ url: `${url}/`, threads: 1, connections: 64, durationS: DURATION_S, cpu: "1" });
      const cpu = (cpuSeconds(proc.pid) - before) / ((performance.now() - t0) / 1000);
      if (r.errors > 0) console.error(`node-stacks: ${c.name} had ${r.errors} errors in round ${round}`);
      runs.get(c.name)!.push({ ...r, cpu });
      console.error(`round ${round} ${c.name}: ${Math.round(r.requestsPerSec)} req/s, p99 ${r.p99.toFixed(2)} ms, cpu ${(cpu * 100).toFixed(0)} %`);
    }
  }
  report(live.map((l) => l.c), runs);
  await stopAll();
}

function report(contestants: readonly Contestant[], runs: Map<string, Run[]>): void {
  const naive = runs.get("naive");
  const fmt = (n: number) => Math.round(n).toLocaleString("en-US");
  const out = [
    `Node ${
      spawnSync("node", ["-v"], { encoding: "utf8" }).stdout.trim()
    }, ${ROUNDS} interleaved rounds, wrk -t1 -c64 -d${DURATION_S}s after ${WARMUP_S} s warm-up; contestant on CPU 0, wrk + nginx backends on CPU 1.`,
    "",
    "| stack | req/s (median) | p50 ms | p99 ms | CPU 0 busy | req per CPU-s | x naive (medians) | x naive (per round) | per-round req/s |",
    "|---|---:|---:|---:|---:|---:|---:|---:|---|",
  ];
  for (const c of contestants) {
    const rs = runs.get(c.name)!;
    const rps = median(rs.map((r) => r.requestsPerSec));
    const ratio = naive ? rps / median(naive.map((r) => r.requestsPerSec)) : NaN;
    const perRound = naive ? rs.map((r, i) => r.requestsPerSec / naive[i]!.requestsPerSec) : [];
    out.push(
      `| ${c.name}: ${c.what} | ${fmt(rps)} | ${median(rs.map((r) => r.p50)).toFixed(2)} | ${median(rs.map((r) => r.p99)).toFixed(2)} | ${
        (median(rs.map((r) => r.cpu)) * 100).toFixed(0)
      } % | ${fmt(median(rs.map((r) => r.requestsPerSec / Math.max(r.cpu, 0.01))))} | ${ratio.toFixed(2)} | ${
        perRound.length ? `${median(perRound).toFixed(2)} (${Math.min(...perRound).toFixed(2)}–${Math.max(...perRound).toFixed(2)})` : "-"
      } | ${rs.map((r) => fmt(r.requestsPerSec)).join(" / ")} |`,
    );
  }
  console.log(out.join("\n"));
}

await main().catch(async (e) => {
  console.error("node-stacks: failed:", e);
  await stopAll();
  process.exit(1);
});
process.exit(0);
