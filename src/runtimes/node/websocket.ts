/**
 * Node 20 (no global WebSocket client): the `ws` package on both sides. The
 * client's upgrade is taken from the HTTP server's `upgrade` event, run
 * through the same Hono app (rules, selection), and completed with
 * `handleUpgrade` only once the app accepted it with the target's
 * subprotocol. @hono/node-server's built-in helper is not used: it cannot
 * answer with a chosen subprotocol (it drops Sec-WebSocket-Protocol from the
 * response) and copies every binary message into a MessageEvent.
 */
import type { IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";
import { type RawData, WebSocket, WebSocketServer } from "ws";
import type { Context } from "hono";
import { UpstreamError } from "../../platform.ts";
import type { UpstreamHandshake, WebSocketCapability, WsConnectRequest, WsData } from "../../platform.ts";
import { QueuedEnd } from "../../proxy/websocket-end.ts";
import type { WebSocketConfig } from "../../proxy/websocket-schema.ts";

/** One `ws` socket as a relay end; frames for a client socket not yet upgraded are held. */
export class NodeEnd extends QueuedEnd {
  private ws: WebSocket | undefined;
  private early: WsData[] | undefined = [];
  private earlyClose: [number, string] | undefined;
  constructor(public protocol: string) {
    super();
  }
  bind(ws: WebSocket): void {
    this.ws = ws;
    ws.on("message", (data: RawData, isBinary: boolean) => this.emitMessage(isBinary ? (data as Buffer) : String(data)));
    ws.on("close", (code: number, reason: Buffer) => this.emitClose(code, reason.toString()));
    ws.on("error", () => {});
    for (const d of this.early!) this.send(d);
    this.early = undefined;
    if (this.earlyClose) this.close(...this.earlyClose);
  }
  send(data: WsData): void {
    if (!this.ws) return void this.early?.push(data);
    if (this.ws.readyState === WebSocket.OPEN) this.ws.send(data, { binary: typeof data !== "string" });
  }
  close(code: number, reason: string): void {
    if (!this.ws) return void (this.earlyClose = [code, reason]);
    if (this.ws.readyState >= WebSocket.CLOSING) return;
    this.ws.close(code, reason);
  }
  bufferedAmount(): number {
    return this.ws ? this.ws.bufferedAmount : 0;
  }
  readonly ping = () => {
    if (this.ws?.readyState === WebSocket.OPEN) this.ws.ping();
  };
}

const ACCEPT = Symbol("fulcrum websocket accept");
interface Pending {
  protocol: string;
  headers: Headers;
  end: NodeEnd;
}
type UpgradeEnv = { incoming: IncomingMessage; outgoing: undefined; [ACCEPT]?: Pending };

export function nodeConnect(req: WsConnectRequest): Promise<UpstreamHandshake> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket("ws" + req.url.slice(4), [...req.protocols], {
      headers: Object.fromEntries(req.headers),
      perMessageDeflate: false,
      maxPayload: req.maxMessageBytes,
      followRedirects: false,
    });
    const end = new NodeEnd("");
    let settled = false;
    const onAbort = () => {
      settled = true;
      socket.terminate();
      reject(req.signal.reason);
    };
    req.signal.addEventListener("abort", onAbort, { once: true });
    const settle = () => {
      settled = true;
      req.signal.removeEventListener("abort", onAbort);
    };
    socket.once("open", () => {
      if (settled) return;
      settle();
      end.protocol = socket.protocol;
      end.bind(socket);
      resolve({ end });
    });
    socket.once("unexpected-response", (_r, res: IncomingMessage) => {
      res.resume();
      socket.terminate();
      if (settled) return;
      settle();
      const headers = new Headers();
      for (const [k, v] of Object.entries(res.headers)) if (typeof v === "string") headers.set(k, v);
      resolve({ refused: new Response(null, { status: res.statusCode ?? 502, headers }) });
    });
    socket.on("error", (error: Error & { code?: string }) => {
      if (settled) return;
      settle();
      reject(new UpstreamError(error.code === "ECONNREFUSED" ? "connect" : "reset", error.message, { cause: error }));
    });
  });
}

export const nodeWebSocket: WebSocketCapability = {
  connect: nodeConnect,
  accept(c: Context, init) {
    const env = c.env as UpgradeEnv;
    if (!env?.incoming || !(ACCEPT in env)) throw new Error("not an upgrade from the Node adapter");
    const end = new NodeEnd(init.protocol);
    env[ACCEPT] = { protocol: init.protocol, headers: init.headers, end };
    return { response: new Response(null, { status: 200 }), end };
  },
};

/** The `upgrade` listener for one Node server serving `fetch` (the listener's Hono app). */
export function nodeUpgradeListener(fetch: (request: Request, env: UpgradeEnv) => Response | Promise<Response>, config: WebSocketConfig) {
  const pending = new WeakMap<IncomingMessage, Pending>();
  const wss = new WebSocketServer({
    noServer: true,
    perMessageDeflate: false,
    maxPayload: config.maxBufferedBytes,
    handleProtocols: (_offered, req) => pending.get(req)?.protocol || false,
  });
  wss.on("headers", (lines: string[], req: IncomingMessage) => {
    for (const [k, v] of pending.get(req)?.headers ?? []) lines.push(`${k}: ${v}`);
  });
  return async function onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    socket.on("error", () => {});
    const secure = (req.socket as { encrypted?: boolean }).encrypted ? "https" : "http";
    const headers = new Headers();
    for (const [k, v] of Object.entries(req.headers)) if (v !== undefined) headers.set(k, Array.isArray(v) ? v.join(", ") : v);
    const abort = new AbortController();
    socket.once("close", () => abort.abort());
    const env: UpgradeEnv = { incoming: req, outgoing: undefined, [ACCEPT]: undefined };
    let response: Response;
    try {
      response = await fetch(new Request(`${secure}://${req.headers.host ?? "localhost"}${req.url ?? "/"}`, { headers, signal: abort.signal }), env);
    } catch {
      response = new Response(null, { status: 500 });
    }
    const accepted = env[ACCEPT];
    if (accepted && !socket.destroyed) {
      pending.set(req, accepted);
      // ws refuses some upgrades itself (it answers 400 and never calls back): end the relay then,
      // or the target socket, its in-flight count and the registry entry would wait for the idle timeout.
      let bound = false;
      socket.once("close", () => bound || accepted.end.emitClose(1006, ""));
      wss.handleUpgrade(req, socket, head, (ws) => {
        bound = true;
        accepted.end.bind(ws);
      });
      return;
    }
    if (accepted) accepted.end.emitClose(1006, "");
    // Not upgraded: the app's answer (a 502/503/504, a redirect, a refusal passed on) as plain HTTP/1.1.
    const body = new Uint8Array(await response.arrayBuffer().catch(() => new ArrayBuffer(0)));
    const lines = [`HTTP/1.1 ${response.status} ${response.statusText}`];
    for (const [k, v] of response.headers) if (k !== "content-length" && k !== "connection" && k !== "transfer-encoding") lines.push(`${k}: ${v}`);
    lines.push(`content-length: ${body.byteLength}`, "connection: close");
    socket.end(Buffer.concat([Buffer.from(lines.join("\r\n") + "\r\n\r\n"), body]));
  };
}
