/**
 * The message channel between a primary and its worker processes: JSON lines
 * over a loopback TCP connection (node:net, which Bun, Deno and Node all
 * have, so one transport serves every runtime and either way of starting
 * workers: child processes or node:cluster). Either side may send requests,
 * answered by the other's handler, and one-way pushes. Nothing here is on
 * the request path: state calls, metrics gathering and lifecycle commands.
 */
import type { Socket } from "node:net";
import type { Rpc } from "../../../state/remote.ts";

type Message =
  | { readonly i: number; readonly op: string; readonly a?: unknown }
  | { readonly r: number; readonly v?: unknown; readonly e?: string }
  | { readonly p: string; readonly v?: unknown };

export type RequestHandler = (op: string, args: unknown) => unknown | Promise<unknown>;

/** The other side went away (its process ended) before answering. */
export class ChannelClosedError extends Error {
  constructor() {
    super("the other process closed the channel");
  }
}

export class Channel implements Rpc {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve(v: unknown): void; reject(e: Error): void; timer: ReturnType<typeof setTimeout> }>();
  private readonly pushes = new Map<string, ((value: unknown) => void)[]>();
  private readonly closers: (() => void)[] = [];
  private handler: RequestHandler = (op) => {
    throw new Error(`no handler for ${op}`);
  };
  private buffered = "";
  private open = true;
  /** Longest line accepted (a metrics export of many targets is a few MB); longer: the connection is cut. */
  private maxLine = 64 * 1024 * 1024;

  constructor(private readonly socket: Socket, private readonly timeoutMs = 15_000) {
    socket.setEncoding("utf8");
    socket.setNoDelay(true);
    socket.on("data", (chunk: string) => this.received(chunk));
    socket.on("error", () => {}); // 'close' follows
    socket.on("close", () => this.closed());
  }

  get isOpen(): boolean {
    return this.open;
  }

  request(op: string, args?: unknown, timeoutMs = this.timeoutMs): Promise<unknown> {
    if (!this.open) return Promise.reject(new ChannelClosedError());
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`${op}: no answer within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, { resolve, reject, timer });
      this.send({ i: id, op, a: args });
    });
  }

  push(kind: string, value?: unknown): void {
    if (this.open) this.send({ p: kind, v: value });
  }

  onPush(kind: string, cb: (value: unknown) => void): void {
    this.pushes.set(kind, [...(this.pushes.get(kind) ?? []), cb]);
  }

  onRequest(handler: RequestHandler): void {
    this.handler = handler;
  }

  /** Accept lines of at most `bytes` from now on (small until the other side has said who it is). */
  limit(bytes: number): void {
    this.maxLine = bytes;
  }

  onClose(cb: () => void): void {
    if (this.open) this.closers.push(cb);
    else cb();
  }

  close(): void {
    this.socket.end();
  }

  private send(m: Message): void {
    this.socket.write(JSON.stringify(m) + "\n");
  }

  /** Whole lines are messages; anything that is not one of ours (a stray client on the port) ends the connection, never the process. */
  private received(chunk: string): void {
    this.buffered += chunk;
    let nl: number;
    while ((nl = this.buffered.indexOf("\n")) >= 0) {
      const line = this.buffered.slice(0, nl);
      this.buffered = this.buffered.slice(nl + 1);
      if (line.length > this.maxLine || !this.dispatchLine(line)) return void this.socket.destroy();
    }
    if (this.buffered.length > this.maxLine) this.socket.destroy();
  }

  private dispatchLine(line: string): boolean {
    let m: unknown;
    try {
      m = JSON.parse(line);
    } catch {
      return false;
    }
    if (typeof m !== "object" || m === null || Array.isArray(m)) return false;
    const x = m as Record<string, unknown>;
    if (typeof x.i === "number" && typeof x.op === "string") this.dispatch(m as Message);
    else if (typeof x.r === "number" || typeof x.p === "string") this.dispatch(m as Message);
    else return false;
    return true;
  }

  private dispatch(m: Message): void {
    if ("i" in m) {
      Promise.resolve()
        .then(() => this.handler(m.op, m.a))
        .then(
          (v) => this.open && this.send({ r: m.i, v: v ?? null }),
          (e: unknown) => this.open && this.send({ r: m.i, e: e instanceof Error ? e.message : String(e) }),
        );
    } else if ("r" in m) {
      const waiter = this.pending.get(m.r);
      if (!waiter) return;
      this.pending.delete(m.r);
      clearTimeout(waiter.timer);
      if (m.e !== undefined) waiter.reject(new Error(m.e));
      else waiter.resolve(m.v);
    } else {
      for (const cb of this.pushes.get(m.p) ?? []) {
        try {
          cb(m.v);
        } catch {
          // A push it cannot apply is dropped; the next one carries the state again.
        }
      }
    }
  }

  private closed(): void {
    if (!this.open) return;
    this.open = false;
    for (const w of this.pending.values()) {
      clearTimeout(w.timer);
      w.reject(new ChannelClosedError());
    }
    this.pending.clear();
    for (const cb of this.closers.splice(0)) cb();
  }
}
