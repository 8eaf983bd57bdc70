/**
 * A target that breaks HTTP on purpose, for the e2e scenarios about broken
 * targets: bodies cut short of their Content-Length, chunked bodies cut
 * before their last chunk, bodies that stall after the headers. It also
 * records every upload it receives and whether it arrived complete, so a
 * scenario can tell an upload the balancer broke off from one it passed on
 * as if it were whole.
 *
 *   GET /short?declared=N&send=M   Content-Length N, M bytes, then the connection closes
 *   GET /cut-chunked               chunked, one chunk, then the connection closes (no last chunk)
 *   GET /stall?declared=N&send=M   Content-Length N (chunked without `declared`), M bytes, then nothing
 *   anything else                  reads the body and answers 200 with what it got
 */
import http from "node:http";
import type { AddressInfo } from "node:net";

export interface Upload {
  readonly path: string;
  readonly bytes: number;
  /** The request body arrived whole (node:http's `complete`: its length, or its last chunk). */
  readonly complete: boolean;
}

export interface BrokenUpstream {
  readonly url: string;
  /** Requests seen, by path (without the query). */
  readonly hits: Record<string, number>;
  readonly uploads: Upload[];
  /** /stall responses whose connection the balancer closed. */
  stallsClosed: number;
  close(): Promise<void>;
}

const filler = (n: number) => Buffer.alloc(n, 0x61);

export async function startBrokenUpstream(): Promise<BrokenUpstream> {
  const state = { hits: {} as Record<string, number>, uploads: [] as Upload[], stallsClosed: 0 };
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://x");
    state.hits[url.pathname] = (state.hits[url.pathname] ?? 0) + 1;
    const declared = url.searchParams.get("declared");
    const send = Number(url.searchParams.get("send") ?? 0);
    const socket = req.socket;
    switch (url.pathname) {
      case "/short":
        socket.write(`HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: ${declared}\r\n\r\n`);
        socket.end(filler(send));
        return;
      case "/cut-chunked":
        socket.write("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n");
        setTimeout(() => socket.destroy(), 50);
        return;
      case "/stall": {
        res.writeHead(200, { "content-type": "application/octet-stream", ...(declared ? { "content-length": declared } : {}) });
        res.write(filler(send));
        res.on("close", () => state.stallsClosed++);
        return; // and never another byte
      }
    }
    let bytes = 0;
    req.on("data", (chunk: Buffer) => (bytes += chunk.length));
    req.on("end", () => {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ bytes }));
    });
    req.on("close", () => state.uploads.push({ path: url.pathname, bytes, complete: req.complete }));
  });
  await new Promise<void>((ok) => server.listen(0, "127.0.0.1", ok));
  const port = (server.address() as AddressInfo).port;
  return Object.assign(state, {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((ok) => {
        server.closeAllConnections();
        server.close(() => ok());
      }),
  });
}
