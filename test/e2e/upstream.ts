/**
 * Real upstream servers for the e2e suite: node:http on loopback (raw request
 * line, exact control over response headers), one per target. Each answers
 * with its name so distribution and routing can be counted.
 */
import { createHash, randomBytes } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { gzipSync } from "node:zlib";

export const GZIP_BODY = gzipSync(Buffer.from("fulcrum passes gzip bytes through untouched. ".repeat(200)));
/** Over 64 KiB even compressed (random bytes do not compress): streamed, not read whole. */
export const GZIP_LARGE_BODY = gzipSync(randomBytes(200 * 1024));

export interface Upstream {
  readonly name: string;
  readonly port: number;
  readonly url: string;
  /** Requests seen, for distribution checks. */
  hits: number;
  /** Added before every response: a target that is slow for everything. */
  delayMs: number;
  /** What its own /health says: the app pattern (200 when healthy, 503 with a JSON body when not). */
  healthy: boolean;
  /** Health probes received. */
  probes: number;
  /** When set, every request but /health gets this status (a target returning 5xx). */
  failWith: number | undefined;
  /** When set, every n-th request but /health gets 500 (a target failing a share of its requests). */
  failEvery: number | undefined;
  /** Requests by method, for retry checks. */
  methods: Record<string, number>;
  /** /slow and /stream responses whose connection closed before they were complete (the balancer let go). */
  abandoned: number;
  close(): Promise<void>;
}

/** A deterministic byte pattern, so downloads can be verified without buffering them. */
export function pattern(size: number): Uint8Array {
  const b = new Uint8Array(size);
  for (let i = 0; i < size; i++) b[i] = (i * 31 + 7) & 0xff;
  return b;
}
const CHUNK = pattern(64 * 1024);

type State = {
  hits: number;
  delayMs: number;
  healthy: boolean;
  probes: number;
  failWith: number | undefined;
  failEvery: number | undefined;
  methods: Record<string, number>;
  abandoned: number;
};

function handle(name: string, up: State, req: http.IncomingMessage, res: http.ServerResponse): void {
  if (req.url === "/health") {
    up.probes++;
    res.writeHead(up.healthy ? 200 : 503, { "content-type": "application/json" });
    res.end(JSON.stringify(up.healthy ? { status: "ok" } : { status: "unhealthy", reason: "dependency down" }));
    return;
  }
  up.hits++;
  up.methods[req.method ?? "?"] = (up.methods[req.method ?? "?"] ?? 0) + 1;
  const failing = up.failWith ?? (up.failEvery !== undefined && up.hits % up.failEvery === 0 ? 500 : undefined);
  const answer = () => (failing === undefined ? serve(name, up, req, res) : fail(name, failing, req, res));
  if (up.delayMs > 0) {
    const timer = setTimeout(answer, up.delayMs);
    res.on("close", () => clearTimeout(timer));
    return;
  }
  answer();
}

function fail(name: string, status: number, req: http.IncomingMessage, res: http.ServerResponse): void {
  req.resume();
  res.writeHead(status, { "x-served-by": name, "content-type": "text/plain" });
  res.end(`failing with ${status}`);
}

function serve(name: string, up: State, req: http.IncomingMessage, res: http.ServerResponse): void {
  const url = new URL(req.url ?? "/", "http://x");
  const path = url.pathname;
  if (path === "/download") {
    const total = Number(url.searchParams.get("bytes") ?? 0);
    const headers: http.OutgoingHttpHeaders = { "content-type": "application/octet-stream", "x-served-by": name };
    if (url.searchParams.has("length")) headers["content-length"] = total;
    res.writeHead(200, headers);
    let sent = 0;
    const pump = () => {
      while (sent < total) {
        const n = Math.min(CHUNK.length, total - sent);
        sent += n;
        if (!res.write(n === CHUNK.length ? CHUNK : CHUNK.subarray(0, n))) return void res.once("drain", pump);
      }
      res.end();
    };
    pump();
    return;
  }
  if (path === "/gzip" || path === "/gzip-large") {
    const body = path === "/gzip" ? GZIP_BODY : GZIP_LARGE_BODY;
    res.writeHead(200, { "content-type": "text/plain", "content-encoding": "gzip", "content-length": body.length, "x-served-by": name });
    res.end(body);
    return;
  }
  if (path === "/raw205") {
    // A misbehaving target: 205 with a body, written on the socket (node:http would drop it).
    req.resume();
    req.socket.end(`HTTP/1.1 205 Reset Content\r\nContent-Length: 5\r\nx-served-by: ${name}\r\nConnection: close\r\n\r\nhello`);
    return;
  }
  if (path === "/app-login") {
    // The application starts a session: the balancer's app_cookie stickiness follows this cookie.
    res.setHeader("set-cookie", `SESSION=${name}-session; Path=/`);
    res.setHeader("x-served-by", name);
    res.end("logged in");
    return;
  }
  if (path === "/cookies") {
    res.setHeader("set-cookie", ["a=1; Path=/", "b=2; Path=/; HttpOnly"]);
    res.setHeader("x-served-by", name);
    res.end("cookies");
    return;
  }
  if (path.startsWith("/status/")) {
    const status = Number(path.slice(8));
    res.writeHead(status, { "x-served-by": name, ...(status === 302 ? { location: "/elsewhere" } : {}) });
    res.end(status === 204 || status === 304 ? undefined : `status ${status}`);
    return;
  }
  if (path === "/hop") {
    // A response carrying hop-by-hop headers, one of them named by Connection.
    res.writeHead(200, { connection: "keep-alive, x-hop-secret", "x-hop-secret": "1", "keep-alive": "timeout=42", "x-served-by": name });
    res.end("hop");
    return;
  }
  if (path === "/stream") {
    // Headers and a first chunk at once, the rest of the body `ms` later (no Content-Length): a
    // download or event stream that keeps its target busy after the headers.
    const ms = Number(url.searchParams.get("ms") ?? 1000);
    res.writeHead(200, { "content-type": "text/plain", "x-served-by": name });
    res.write(`stream ${name} `);
    const timer = setTimeout(() => res.end("done"), ms);
    res.on("close", () => {
      clearTimeout(timer);
      if (!res.writableFinished) up.abandoned++;
    });
    return;
  }
  if (path === "/slow") {
    const ms = Number(url.searchParams.get("ms") ?? 1000);
    const timer = setTimeout(() => {
      res.setHeader("x-served-by", name);
      res.end(`slow ${name}`);
    }, ms);
    res.on("close", () => {
      clearTimeout(timer);
      if (!res.writableFinished) up.abandoned++;
    });
    return;
  }
  // Default: echo the request as the target saw it, hashing the body while it streams.
  const hash = createHash("sha256");
  let bytes = 0;
  req.on("data", (chunk: Buffer) => {
    bytes += chunk.length;
    hash.update(chunk);
  });
  req.on("end", () => {
    const body = JSON.stringify({
      server: name,
      method: req.method,
      url: req.url,
      headers: req.headers,
      rawHeaders: req.rawHeaders,
      bytes,
      sha256: hash.digest("hex"),
    });
    res.writeHead(200, { "content-type": "application/json", "x-served-by": name });
    res.end(req.method === "HEAD" ? undefined : body);
  });
}

export async function startUpstream(name: string, opts: { port?: number; delayMs?: number; host?: string } = {}): Promise<Upstream> {
  const port = opts.port ?? 0;
  const up: State = { hits: 0, delayMs: opts.delayMs ?? 0, healthy: true, probes: 0, failWith: undefined, failEvery: undefined, methods: {}, abandoned: 0 };
  const server = http.createServer((req, res) => handle(name, up, req, res));
  server.keepAliveTimeout = 10_000;
  const host = opts.host ?? "127.0.0.1";
  await new Promise<void>((ok) => server.listen(port, host, ok));
  const actual = (server.address() as AddressInfo).port;
  return Object.assign(up, {
    name,
    port: actual,
    url: `http://${host}:${actual}`,
    close: () =>
      new Promise<void>((ok) => {
        server.closeAllConnections();
        server.close(() => ok());
      }),
  });
}
