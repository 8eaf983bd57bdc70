/**
 * The undici upstream client against real node:http servers on loopback. Bun's
 * built-in `undici` is a stub, so these run inside Node and Deno (driver.ts),
 * the runtimes that use the client; undici-upstream.test.ts runs them there.
 * Each case throws (node:assert) when the contract of Platform.upstream breaks.
 */
import assert from "node:assert/strict";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { gzipSync } from "node:zlib";
import { UpstreamError, type UpstreamRequest } from "../../../src/platform.ts";
import { AttemptCancellation } from "../../../src/cancellation.ts";

export type Upstream = (req: UpstreamRequest) => Promise<Response>;
export interface Env {
  /** A loopback port whose listen queue is full (python3, see the test): connects there never complete. */
  readonly blackholePort: number;
}
type Case = (upstream: Upstream, env: Env) => Promise<void>;

const MB = 1024 * 1024;

async function withServer(handle: (req: IncomingMessage, res: ServerResponse) => void, run: (origin: string) => Promise<void>): Promise<void> {
  const server = createServer(handle);
  await new Promise<void>((ok) => server.listen(0, "127.0.0.1", ok));
  try {
    await run(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
  } finally {
    server.closeAllConnections();
    await new Promise<void>((ok) => server.close(() => ok()));
  }
}

function request(origin: string, init: Partial<UpstreamRequest> = {}): UpstreamRequest {
  return {
    origin,
    path: "/",
    method: "GET",
    headers: new Headers({ host: "app.example" }),
    body: null,
    cancellation: new AttemptCancellation(),
    connectTimeoutMs: 2_000,
    ...init,
  };
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error("expected a rejection");
}

/** Resolves when the server side of an exchange ends without having finished its response. */
function serverSawClose(res: ServerResponse): Promise<boolean> {
  return new Promise((ok) => res.once("close", () => ok(!res.writableFinished)));
}

function deferred<T>(): { promise: Promise<T>; resolve: (v: T) => void } {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

const tick = (ms: number) => new Promise((ok) => setTimeout(ok, ms));

/** Polls `count` until it stops moving (3 polls alike) or `done()`; returns whether it stalled. */
async function stalls(count: () => number, done: () => boolean): Promise<boolean> {
  let last = -1;
  let same = 0;
  while (!done()) {
    await tick(100);
    const now = count();
    same = now === last ? same + 1 : 0;
    last = now;
    if (same >= 3) return true;
  }
  return false;
}

/** Writes `total` bytes in 64 KiB chunks honouring drain; `written` counts what the socket accepted. */
function pump(res: ServerResponse, total: number): { written: () => number; finished: () => boolean } {
  let written = 0;
  let finished = false;
  const chunk = new Uint8Array(64 * 1024).fill(120);
  const next = () => {
    while (written < total) {
      written += chunk.byteLength;
      if (!res.write(chunk)) return void res.once("drain", next);
    }
    res.end(() => (finished = true));
  };
  next();
  return { written: () => written, finished: () => finished };
}

async function drain(body: ReadableStream<Uint8Array>): Promise<number> {
  let n = 0;
  for await (const c of body as unknown as AsyncIterable<Uint8Array>) n += c.byteLength;
  return n;
}

export const cases: Record<string, Case> = {
  async "status, headers as sent, every Set-Cookie kept, headers mutable"(upstream) {
    await withServer(
      (req, res) => {
        res.setHeader("set-cookie", ["a=1; Path=/", "b=2, with comma; Path=/"]);
        res.writeHead(201, { "x-seen-host": req.headers.host ?? "", "x-seen-custom": String(req.headers["x-custom"]), "content-type": "text/plain" });
        res.end("created");
      },
      async (origin) => {
        const headers = new Headers({ host: "app.example", "x-custom": "yes" });
        const res = await upstream(request(origin, { path: "/p?q=1", headers }));
        assert.equal(res.status, 201);
        assert.equal(res.headers.get("x-seen-host"), "app.example");
        assert.equal(res.headers.get("x-seen-custom"), "yes");
        assert.deepEqual(res.headers.getSetCookie(), ["a=1; Path=/", "b=2, with comma; Path=/"]);
        res.headers.set("x-request-id", "r1");
        res.headers.delete("content-type");
        assert.equal(res.headers.get("x-request-id"), "r1");
        assert.equal(await res.text(), "created");
      },
    );
  },

  async "path and query are sent byte for byte"(upstream) {
    await withServer(
      (req, res) => res.end(req.url),
      async (origin) => {
        const res = await upstream(request(origin, { path: "/a/../b%2F?x=%20&y" }));
        assert.equal(await res.text(), "/a/../b%2F?x=%20&y");
      },
    );
  },

  async "gzip bodies arrive compressed, byte for byte"(upstream) {
    const gz = gzipSync(new TextEncoder().encode("hello ".repeat(1000)));
    await withServer(
      (_req, res) => {
        res.writeHead(200, { "content-encoding": "gzip", "content-length": gz.byteLength });
        res.end(gz);
      },
      async (origin) => {
        const res = await upstream(request(origin, { headers: new Headers({ host: "h", "accept-encoding": "gzip" }) }));
        assert.equal(res.headers.get("content-encoding"), "gzip");
        assert.deepEqual(new Uint8Array(await res.arrayBuffer()), new Uint8Array(gz));
      },
    );
  },

  async "redirects are passed through, not followed"(upstream) {
    let hits = 0;
    await withServer(
      (_req, res) => {
        hits++;
        res.writeHead(302, { location: "/elsewhere" });
        res.end();
      },
      async (origin) => {
        const res = await upstream(request(origin));
        assert.equal(res.status, 302);
        assert.equal(res.headers.get("location"), "/elsewhere");
        await res.arrayBuffer();
        assert.equal(hits, 1);
      },
    );
  },

  async "204, 304 and HEAD answers have a null body"(upstream) {
    await withServer(
      (req, res) => {
        const status = Number(req.url!.slice(1));
        res.writeHead(status, req.method === "HEAD" ? { etag: '"x"', "content-length": "5" } : { etag: '"x"' });
        res.end();
      },
      async (origin) => {
        for (const [path, method, status] of [["/204", "GET", 204], ["/304", "GET", 304], ["/200", "HEAD", 200]] as const) {
          const res = await upstream(request(origin, { path, method }));
          assert.equal(res.status, status);
          assert.equal(res.body, null, `${method} ${path}`);
        }
      },
    );
  },

  async "large and chunked bodies stream whole"(upstream) {
    await withServer(
      (req, res) => {
        if (req.url === "/chunked") res.writeHead(200);
        else res.writeHead(200, { "content-length": 3 * MB });
        pump(res, 3 * MB);
      },
      async (origin) => {
        for (const path of ["/length", "/chunked"]) {
          const res = await upstream(request(origin, { path }));
          assert.notEqual(res.body, null);
          assert.equal(await drain(res.body!), 3 * MB, path);
        }
      },
    );
  },

  async "request bodies: bytes and web streams"(upstream) {
    await withServer(
      async (req, res) => {
        let n = 0;
        let sum = 0;
        for await (const c of req as AsyncIterable<Uint8Array>) {
          n += c.byteLength;
          for (const b of c) sum = (sum + b) % 65521;
        }
        res.end(`${n}:${sum}:${req.headers["content-length"] ?? "chunked"}`);
      },
      async (origin) => {
        const bytes = new Uint8Array(100_000).map((_, i) => i % 251);
        const a = await upstream(
          request(origin, {
            method: "POST",
            headers: new Headers({ host: "h", "content-length": "100000" }),
            body: bytes as unknown as ReadableStream<Uint8Array>,
          }),
        );
        const expected = bytes.reduce((s, b) => (s + b) % 65521, 0);
        assert.equal(await a.text(), `100000:${expected}:100000`);
        let sent = 0;
        const stream = new ReadableStream<Uint8Array>({
          pull(c) {
            if (sent >= 100_000) return c.close();
            c.enqueue(bytes.subarray(sent, sent + 10_000));
            sent += 10_000;
          },
        });
        const b = await upstream(request(origin, { method: "PUT", body: stream }));
        assert.equal(await b.text(), `100000:${expected}:chunked`);
      },
    );
  },

  async "connect refused rejects as connect"(upstream) {
    const server = createServer();
    await new Promise<void>((ok) => server.listen(0, "127.0.0.1", ok));
    const port = (server.address() as AddressInfo).port;
    await new Promise<void>((ok) => server.close(() => ok()));
    const error = await rejection(
      upstream(request(`http://127.0.0.1:${port}`, { method: "POST", body: new Uint8Array([1]) as unknown as ReadableStream<Uint8Array> })),
    );
    assert.ok(error instanceof UpstreamError, String(error));
    assert.equal(error.kind, "connect");
  },

  async "connect timeout rejects as timeout"(upstream, env) {
    const error = await rejection(upstream(request(`http://127.0.0.1:${env.blackholePort}`, { connectTimeoutMs: 300 })));
    assert.ok(error instanceof UpstreamError, String(error));
    assert.equal(error.kind, "timeout");
  },

  async "abort before the answer rejects and closes the upstream request"(upstream) {
    const closed = deferred<boolean>();
    await withServer(
      (_req, res) => void serverSawClose(res).then(closed.resolve),
      async (origin) => {
        const abort = new AttemptCancellation();
        const pending = upstream(request(origin, { cancellation: abort }));
        setTimeout(() => abort.abort("gone"), 50);
        const error = await rejection(pending);
        assert.ok(!(error instanceof UpstreamError), "an abort is the core's decision, not a target failure");
        assert.equal(await closed.promise, true);
      },
    );
  },

  async "abort mid-body errors the body and closes the upstream request"(upstream) {
    const closed = deferred<boolean>();
    await withServer(
      (_req, res) => {
        void serverSawClose(res).then(closed.resolve);
        res.writeHead(200);
        res.write("first");
      },
      async (origin) => {
        const abort = new AttemptCancellation();
        const res = await upstream(request(origin, { cancellation: abort }));
        const reader = res.body!.getReader();
        assert.equal(new TextDecoder().decode((await reader.read()).value), "first");
        abort.abort("gone");
        await rejection(reader.read());
        assert.equal(await closed.promise, true);
      },
    );
  },

  async "cancelling the body closes the upstream request"(upstream) {
    const closed = deferred<boolean>();
    await withServer(
      (_req, res) => {
        void serverSawClose(res).then(closed.resolve);
        res.writeHead(200, { "content-length": 10 * MB });
        res.write("first");
      },
      async (origin) => {
        const res = await upstream(request(origin));
        const reader = res.body!.getReader();
        await reader.read();
        await reader.cancel("client went away");
        assert.equal(await closed.promise, true);
      },
    );
  },

  async "a reset after headers errors the stream, before the body ends rejects as reset"(upstream) {
    await withServer(
      (req, res) => {
        res.writeHead(200, { "content-length": req.url === "/small" ? 1000 : MB });
        res.write("partial", () => setTimeout(() => res.socket?.destroy(), 20));
      },
      async (origin) => {
        const big = await upstream(request(origin, { path: "/big" }));
        assert.equal(big.status, 200);
        const error = await rejection(drain(big.body!));
        assert.ok(error instanceof UpstreamError && error.kind === "reset", String(error));
        // A small body is read whole before the Response exists: the attempt itself failed.
        const small = await rejection(upstream(request(origin, { path: "/small" })));
        assert.ok(small instanceof UpstreamError && small.kind === "reset", String(small));
      },
    );
  },

  async "a slowly read 50 MB download is not buffered whole"(upstream) {
    let sent: ReturnType<typeof pump> | undefined;
    await withServer(
      (_req, res) => {
        res.writeHead(200, { "content-length": 50 * MB });
        sent = pump(res, 50 * MB);
      },
      async (origin) => {
        const res = await upstream(request(origin));
        const reader = res.body!.getReader();
        let got = (await reader.read()).value!.byteLength;
        assert.equal(await stalls(() => sent!.written(), () => sent!.finished()), true, "the target could send all 50 MB to a reader that stopped");
        // Kernel socket buffers plus the stream's high-water mark, far from 50 MB.
        assert.ok(sent!.written() < 16 * MB, `target got ${sent!.written()} bytes out`);
        for (;;) {
          const { done, value } = await reader.read();
          if (done) break;
          got += value.byteLength;
        }
        assert.equal(got, 50 * MB);
      },
    );
  },

  async "a 50 MB upload is read only as fast as the target takes it"(upstream) {
    let pulled = 0;
    const total = 50 * MB;
    const chunk = new Uint8Array(64 * 1024);
    const body = new ReadableStream<Uint8Array>({
      pull(c) {
        if (pulled >= total) return c.close();
        pulled += chunk.byteLength;
        c.enqueue(chunk);
      },
    });
    const started = deferred<IncomingMessage>();
    await withServer(
      (req, res) => {
        req.pause();
        started.resolve(req);
        let n = 0;
        req.on("data", (c: Uint8Array) => (n += c.byteLength));
        req.on("end", () => res.end(String(n)));
      },
      async (origin) => {
        const pending = upstream(request(origin, { method: "POST", body }));
        const req = await started.promise;
        assert.equal(await stalls(() => pulled, () => pulled >= total), true, "the whole upload was read from the client while the target read nothing");
        assert.ok(pulled < 16 * MB, `pulled ${pulled} bytes`);
        req.resume();
        const res = await pending;
        assert.equal(await res.text(), String(total));
      },
    );
  },
};
