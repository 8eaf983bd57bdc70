/**
 * Bun's side of the upgrade: `server.upgrade()` in the request, events
 * through the `websocket` handlers of Bun.serve (one handler set per server,
 * dispatching to the end stored in `ws.data`), and Bun's WebSocket client
 * (which takes headers) towards the target.
 */
import type { Context } from "hono";
import type { Server, ServerWebSocket, WebSocketHandler } from "bun";
import type { WebSocketConfig } from "../../proxy/websocket-schema.ts";
import type { WebSocketCapability, WsData } from "../../platform.ts";
import { QueuedEnd } from "../../proxy/websocket-end.ts";
import { constructorConnect, type WebSocketWithHeaders } from "../../proxy/websocket-standard.ts";

const MAX_U32 = 4294967295;

/** The client's end on Bun. Frames sent before Bun's `open` are held (the target may speak first). */
export class BunServerEnd extends QueuedEnd {
  private ws: ServerWebSocket<BunServerEnd> | undefined;
  private early: WsData[] | undefined = [];
  private earlyBytes = 0;
  private closing: [number, string] | undefined;
  /** Bun refused a frame (over its backpressure limit): report the buffer as over any bound. */
  private dropped = false;
  constructor(readonly protocol: string) {
    super();
  }
  opened(ws: ServerWebSocket<BunServerEnd>): void {
    this.ws = ws;
    for (const d of this.early!) this.send(d);
    this.early = undefined;
    this.earlyBytes = 0;
    if (this.closing) ws.close(...this.closing);
  }
  send(data: WsData): void {
    if (!this.ws) {
      this.early?.push(data);
      this.earlyBytes += typeof data === "string" ? data.length * 3 : data.byteLength;
      return;
    }
    if (this.ws.send(data) === 0) this.dropped = true;
  }
  close(code: number, reason: string): void {
    if (this.ws) this.ws.close(code, reason);
    else this.closing = [code, reason];
  }
  bufferedAmount(): number {
    if (this.dropped) return Number.POSITIVE_INFINITY;
    return this.ws ? this.ws.getBufferedAmount() : this.earlyBytes;
  }
  readonly ping = () => this.ws?.ping();
}

/** The `websocket` option of Bun.serve: limits from the config (Bun's defaults would cut 16 MB messages and drop frames). */
export function bunWebSocketHandler(config: WebSocketConfig): WebSocketHandler<BunServerEnd> {
  return {
    open: (ws) => ws.data.opened(ws),
    message: (ws, message) =>
      ws.data.emitMessage(typeof message === "string" ? message : new Uint8Array(message.buffer, message.byteOffset, message.byteLength)),
    close: (ws, code, reason) => ws.data.emitClose(code, reason),
    maxPayloadLength: Math.min(config.maxBufferedBytes, MAX_U32),
    // No limit in Bun (past it send() drops frames silently); the relay bounds the buffer and closes instead.
    backpressureLimit: 0,
    closeOnBackpressureLimit: false,
    // The relay keeps the idle timeout and pings (config.websocket), the same on every runtime.
    idleTimeout: 0,
    sendPings: false,
    perMessageDeflate: false,
  };
}

export const bunWebSocket: WebSocketCapability = {
  connect: constructorConnect(WebSocket as unknown as WebSocketWithHeaders, (m) => (/refused|ECONNREFUSED|FailedToOpenSocket/i.test(m) ? "connect" : "reset")),
  accept(c: Context, init) {
    const server = c.env as Server<BunServerEnd>;
    const end = new BunServerEnd(init.protocol);
    const headers = new Headers(init.headers);
    if (init.protocol) headers.set("sec-websocket-protocol", init.protocol);
    if (!server.upgrade(c.req.raw, { data: end, headers })) throw new Error("Bun refused the upgrade");
    // Bun answers the 101 itself; what the handler returns after a successful upgrade is ignored.
    return { response: new Response(null), end };
  },
};
