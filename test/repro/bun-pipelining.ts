/**
 * Minimal reproduction for Bun: a request pipelined behind one whose handler waits a macrotask
 * makes Bun.serve close the connection with nothing written, for either request (the first one's
 * handler still runs to its end). `bun test/repro/bun-pipelining.ts` exits 1 while the bug is
 * there. Bun 1.4.5 (a7733435c), linux-x64: "closed, 0 bytes". Cause: bun-uws HttpContext.h
 * closes the socket on a request that arrives while a response is pending ("denying async
 * pipelining"); the fix under review is oven-sh/bun#38128, which holds the pipelined request
 * until the response ahead of it completes. Bun's node:http server answers both. Fulcrum's e2e
 * scenario "pipelined requests" (test/e2e/hostile.scenarios.ts) documents the same through the
 * balancer.
 */
import { connect } from "node:net";

const server = Bun.serve({
  port: 0,
  hostname: "127.0.0.1",
  async fetch(req) {
    await Bun.sleep(0); // any macrotask; a microtask-only await does not trigger it
    return new Response(`ok ${new URL(req.url).pathname}`);
  },
});

const got = await new Promise<string>((done) => {
  let data = "";
  const socket = connect(server.port!, "127.0.0.1", () => socket.write("GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n"));
  socket.on("data", (d) => (data += d));
  socket.on("close", () => done(data));
  setTimeout(() => socket.destroy(), 3000);
});
const answers = got.match(/HTTP\/1\.1 \d{3}/g)?.length ?? 0;
console.log(
  answers === 2 ? "ok: both pipelined requests answered" : `bug: ${answers} of 2 pipelined requests answered, then the connection closed (${got.length} bytes)`,
);
server.stop(true);
process.exit(answers === 2 ? 0 : 1);
