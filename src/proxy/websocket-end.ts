/**
 * One side of a relayed WebSocket (the client's or the target's), the same
 * small shape on every runtime. Runtime adapters implement it over their own
 * socket (Bun's ServerWebSocket, `ws` on Node, the WHATWG WebSocket on Deno,
 * Workers and Bun's client); the relay only ever sees this.
 */
import type { WsData, WsEnd, WsEvents } from "../platform.ts";

/** Queues events until the relay attaches; adapters call `emitMessage`/`emitClose`. */
export abstract class QueuedEnd implements WsEnd {
  abstract readonly protocol: string;
  abstract send(data: WsData): void;
  abstract close(code: number, reason: string): void;
  abstract bufferedAmount(): number;
  private events: WsEvents | undefined;
  private queued: WsData[] = [];
  private closed: [number, string] | undefined;
  attach(events: WsEvents): void {
    this.events = events;
    for (const m of this.queued) events.message(m);
    this.queued = [];
    if (this.closed) events.close(...this.closed);
  }
  emitMessage(data: WsData): void {
    if (this.closed) return;
    if (this.events) this.events.message(data);
    else this.queued.push(data);
  }
  emitClose(code: number, reason: string): void {
    if (this.closed) return;
    this.closed = [code, reason];
    this.events?.close(code, reason);
  }
}

/**
 * A WHATWG WebSocket (Deno both ways, Workers both ways, Bun's client).
 * `close` falls back to 1000 where the runtime only lets a WebSocket object
 * send 1000 or 3000–4999 (the WHATWG close() rule), keeping the reason.
 */
export class StandardEnd extends QueuedEnd {
  constructor(
    readonly socket: WebSocket,
    public protocol: string = socket.protocol,
  ) {
    super();
    socket.binaryType = "arraybuffer";
    socket.addEventListener("message", (e) => this.emitMessage(e.data as WsData));
    socket.addEventListener("close", (e) => this.emitClose(e.code, e.reason));
    // An error is followed by a close event on every runtime but Workers' accepted pairs, hence the fallback.
    socket.addEventListener("error", () => this.emitClose(1006, ""));
    const ping = (socket as unknown as { ping?: () => void }).ping;
    if (typeof ping === "function") this.ping = () => ping.call(socket);
  }
  readonly ping?: () => void;
  /** Frames (and a close) for a socket still connecting (Deno's accepted socket opens after the 101 is sent). */
  private early: WsData[] | undefined;
  private earlyClose: [number, string] | undefined;
  /** Flush what waited once the socket opens (registered once). */
  private whenOpen(): WsData[] {
    if (!this.early) {
      this.early = [];
      this.socket.addEventListener("open", () => {
        for (const d of this.early!) this.socket.send(d);
        this.early = [];
        if (this.earlyClose) this.close(...this.earlyClose);
      }, { once: true });
    }
    return this.early;
  }
  send(data: WsData): void {
    const state = this.socket.readyState;
    if (state === 1) this.socket.send(data);
    else if (state === 0) this.whenOpen().push(data);
  }
  close(code: number, reason: string): void {
    // A close before the socket opened (a target that closes right after its handshake) is sent once it
    // opens: close() on a connecting socket would fail the connection and lose the code and reason.
    if (this.socket.readyState === 0) {
      this.whenOpen();
      this.earlyClose = [code, reason];
      return;
    }
    if (this.socket.readyState >= 2) return;
    try {
      this.socket.close(code, reason);
    } catch {
      try {
        this.socket.close(1000, reason);
      } catch {
        this.socket.close();
      }
    }
  }
  bufferedAmount(): number {
    const b = (this.socket as { bufferedAmount?: number }).bufferedAmount;
    return typeof b === "number" ? b : -1;
  }
}
