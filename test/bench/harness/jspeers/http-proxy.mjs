// node-http-proxy with a keep-alive http.Agent, round robin over the backends: a Node peer.
// NAIVE_TARGETS=... NAIVE_PORT=... node http-proxy.mjs
import http from "node:http";
import httpProxy from "http-proxy";

const targets = (process.env.NAIVE_TARGETS ?? "").split(",").filter(Boolean);
const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });
const proxy = httpProxy.createProxyServer({ agent, xfwd: true });
proxy.on("error", (_err, _req, res) => {
  if (res && "writeHead" in res && !res.headersSent) res.writeHead(502);
  res?.end?.();
});
let next = 0;
http
  .createServer((req, res) => proxy.web(req, res, { target: targets[next++ % targets.length] }))
  .listen(Number(process.env.NAIVE_PORT), "127.0.0.1", () => console.error(`http-proxy listening on ${process.env.NAIVE_PORT}`));
