/**
 * A real `ws` WebSocket server as a target, run by Node in a child process so
 * that it is the npm package itself (Bun replaces `ws` with its own shim) and
 * a crash is a real one (SIGKILL, no close frame). Behaviour by path:
 * - `/echo` (any other path too): every message back, text as text, binary as binary;
 * - `/info`: first a JSON text {name, cookie, authorization, protocol, forwardedFor, host}, then echo;
 * - `/flood`: binary 64 KiB frames for as long as the connection lives (a slow reader's opposite);
 * - `/close?code=N&reason=R`: closes at once with that code and reason;
 * - `/refuse`: answers the handshake with 403.
 * Subprotocols: picks `chat.v2` when offered, else none. Plain HTTP (any path)
 * answers {name, open, total, floodBytes}, after `?delay=MS` when given.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { ROOT } from "./launch.ts";

const SERVER = String.raw`
import http from "node:http";
import { WebSocketServer } from "ws";
const name = process.argv[1];
const FRAME = Buffer.alloc(64 * 1024, 7);
let open = 0, total = 0, floodBytes = 0;
const server = http.createServer((req, res) => {
  const delay = Number(new URL(req.url, "http://x").searchParams.get("delay") ?? 0);
  setTimeout(() => {
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify({ name, open, total, floodBytes }));
  }, delay);
});
const wss = new WebSocketServer({
  noServer: true,
  maxPayload: 64 * 1024 * 1024,
  handleProtocols: (offered) => (offered.has("chat.v2") ? "chat.v2" : false),
});
server.on("upgrade", (req, socket, head) => {
  if (req.url.startsWith("/refuse")) {
    socket.end("HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    return;
  }
  wss.handleUpgrade(req, socket, head, (ws) => wss.emit("connection", ws, req));
});
wss.on("connection", (ws, req) => {
  open++; total++;
  ws.on("close", () => open--);
  ws.on("error", () => {});
  const url = new URL(req.url, "http://x");
  if (url.pathname === "/close") {
    ws.close(Number(url.searchParams.get("code")), url.searchParams.get("reason") ?? "");
    return;
  }
  if (url.pathname === "/flood") {
    const pump = () => {
      if (ws.readyState !== 1) return;
      while (ws.bufferedAmount < 1 << 20) { ws.send(FRAME); floodBytes += FRAME.length; }
      setTimeout(pump, 1);
    };
    pump();
    return;
  }
  if (url.pathname === "/info") {
    ws.send(JSON.stringify({ name, cookie: req.headers.cookie ?? null, authorization: req.headers.authorization ?? null, protocol: ws.protocol, forwardedFor: req.headers["x-forwarded-for"] ?? null, host: req.headers.host }));
  }
  ws.on("message", (data, isBinary) => ws.send(data, { binary: isBinary }));
});
server.listen(0, "127.0.0.1", () => console.log("ready " + server.address().port));
`;

export interface WsUpstream {
  readonly name: string;
  readonly url: string;
  readonly port: number;
  stats(): Promise<{ name: string; open: number; total: number; floodBytes: number }>;
  /** SIGKILL: connections drop without a close frame. */
  crash(): void;
  close(): Promise<void>;
}

export async function startWsUpstream(name: string): Promise<WsUpstream> {
  const child: ChildProcess = spawn("node", ["--input-type=module", "-e", SERVER, name], { cwd: ROOT, stdio: ["ignore", "pipe", "inherit"] });
  const port = await new Promise<number>((ok, fail) => {
    let out = "";
    child.stdout!.on("data", (d) => {
      out += d;
      const m = /ready (\d+)/.exec(out);
      if (m) ok(Number(m[1]));
    });
    child.once("exit", (code) => fail(new Error(`ws upstream ${name} exited with ${code}`)));
  });
  const exited = new Promise<void>((ok) => child.once("exit", () => ok()));
  const url = `http://127.0.0.1:${port}`;
  return {
    name,
    url,
    port,
    stats: async () => (await fetch(`${url}/stats`)).json() as never,
    crash: () => void child.kill("SIGKILL"),
    close: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
      await exited;
    },
  };
}
