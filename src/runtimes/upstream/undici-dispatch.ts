/**
 * One upstream exchange as an undici `Dispatcher.dispatch` handler that settles
 * a web `Response`. `dispatch` with undici's original callbacks (onConnect,
 * onHeaders, onData, onComplete, onError) is undici's lowest layer: in v7,
 * `Client` still calls exactly these on a handler without `onRequestStart`
 * (DispatcherBase unwraps only new-style handlers), with the raw header list as
 * Buffers [name, value, name, value, ...]. `Pool.request` adds a node Readable
 * per response, a parsed header object and an AsyncResource on top; measured on
 * Node 20 (test/bench/node-stacks.ts), that wrapper was the bottleneck.
 */
import { UpstreamError } from "../../platform.ts";

/** Bodies up to this length (known from content-length) are read whole, like nginx's proxy buffers. */
export const SMALL_BODY = 64 * 1024;
/** Bytes a streamed body may queue ahead of its reader before undici stops reading the socket. */
export const STREAM_HIGH_WATER = 64 * 1024;

/** undici hands out Buffers; only `toString("latin1")` is used, which is the wire encoding of HTTP fields. */
type RawField = Uint8Array & { toString(encoding: "latin1"): string };

/**
 * The raw header list as mutable web Headers (the core edits upstream responses
 * in place). Each field line is appended on its own, so every Set-Cookie stays
 * separate (RFC 6265 §3: it cannot be folded with commas).
 */
export function headersFromRaw(raw: readonly (RawField | string)[]): Headers {
  const headers = new Headers();
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i]!;
    const value = raw[i + 1]!;
    headers.append(typeof name === "string" ? name : name.toString("latin1"), typeof value === "string" ? value : value.toString("latin1"));
  }
  return headers;
}

/** A web Response's body is null for these (RFC 9110 §6.4.1; §15.3.6 for 205; §9.3.2 for HEAD). */
function bodyless(method: string, status: number): boolean {
  return status === 204 || status === 205 || status === 304 || method === "HEAD";
}

function contentLength(raw: readonly (RawField | string)[]): number {
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i]!;
    if (name.length !== 14) continue;
    const text = typeof name === "string" ? name : name.toString("latin1");
    if (text.toLowerCase() !== "content-length") continue;
    const value = raw[i + 1]!;
    const n = Number(typeof value === "string" ? value : value.toString("latin1"));
    return Number.isSafeInteger(n) && n >= 0 ? n : -1;
  }
  return -1;
}

function concat(chunks: readonly Uint8Array[], total: number): Uint8Array<ArrayBuffer> {
  if (chunks.length === 1 && chunks[0]!.buffer instanceof ArrayBuffer) return chunks[0] as Uint8Array<ArrayBuffer>;
  const out = new Uint8Array(total);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.byteLength;
  }
  return out;
}

export interface ExchangeCallbacks {
  /** Turns a failure before the response was settled into the rejection (classified by the caller). */
  readonly failed: (error: Error) => unknown;
  /** Called once when the exchange is over: completed, failed or its body cancelled (`failed` true for the last two). */
  readonly finished: (failed: boolean) => void;
}

/**
 * Settles `promise` with the target's response:
 * - small known-length bodies are collected and resolved in onComplete as
 *   `new Response(bytes)`, which @hono/node-server writes in one `end()`;
 * - other bodies resolve at onHeaders with a ReadableStream that pauses undici
 *   (onData returns false) once STREAM_HIGH_WATER bytes wait, and resumes it
 *   from `pull`; cancelling that stream aborts the upstream request;
 * - an error after the Response was handed out errors its body stream.
 */
export class ResponseExchange {
  readonly promise: Promise<Response>;
  private resolve!: (response: Response) => void;
  private reject!: (reason: unknown) => void;
  private abortUpstream: ((error?: Error) => void) | undefined;
  private abortReason: Error | undefined;
  private resumeUpstream: (() => void) | undefined;
  private settled = false;
  private over = false;
  private paused = false;
  private status = 0;
  private headers: Headers | undefined;
  /** Collecting a small body: its chunks and their total length. */
  private chunks: Uint8Array[] | undefined;
  private collected = 0;
  /** Streaming: the body's controller, until the stream is closed, errored or cancelled. */
  private controller: ReadableStreamDefaultController<Uint8Array> | undefined;

  constructor(
    private readonly method: string,
    private readonly callbacks: ExchangeCallbacks,
  ) {
    this.promise = new Promise<Response>((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
  }

  /** Cancels the exchange from outside (the core's signal): before the answer, rejects at once. */
  abort(reason: Error): void {
    if (this.over) return;
    this.abortReason ??= reason;
    // undici calls onConnect only once a socket is free; until then remember the reason.
    if (this.abortUpstream) this.abortUpstream(reason);
    else this.onError(reason);
  }

  onConnect(abort: (error?: Error) => void): void {
    this.abortUpstream = abort;
    if (this.abortReason) abort(this.abortReason);
  }

  onHeaders(status: number, raw: (RawField | string)[], resume: () => void): boolean {
    // 1xx interim answers (103 Early Hints) come through here too; the final one follows.
    if (status < 200) return true;
    this.resumeUpstream = resume;
    // Throwing here makes undici abort the request (core/request.js catches and aborts);
    // onError then rejects with "reset": the target answered, just unusably.
    if (status > 599) throw new Error(`unusable upstream status ${status}`);
    // A field value web Headers refuses throws the same way.
    const headers = headersFromRaw(raw);
    this.status = status;
    if (bodyless(this.method, status)) {
      this.settle(new Response(null, { status, headers }));
      return true;
    }
    const length = contentLength(raw);
    if (length >= 0 && length <= SMALL_BODY) {
      this.headers = headers;
      this.chunks = [];
      return true;
    }
    this.settle(new Response(this.bodyStream(), { status, headers }));
    return true;
  }

  onData(chunk: Uint8Array): boolean {
    if (this.chunks) {
      this.chunks.push(chunk);
      this.collected += chunk.byteLength;
      return true;
    }
    const controller = this.controller;
    if (!controller) return true; // a body-less answer's stray bytes, or a cancelled stream
    controller.enqueue(chunk);
    if ((controller.desiredSize ?? 0) > 0) return true;
    this.paused = true;
    return false;
  }

  onComplete(): void {
    if (this.over) return;
    if (this.chunks) {
      this.settle(new Response(concat(this.chunks, this.collected), { status: this.status, headers: this.headers }));
      this.chunks = undefined;
    } else {
      const controller = this.controller;
      this.controller = undefined;
      controller?.close();
    }
    this.finish(false);
  }

  onError(error: Error): void {
    if (this.over) return;
    this.chunks = undefined;
    if (!this.settled) {
      this.settled = true;
      this.reject(this.abortReason ?? this.callbacks.failed(error));
    } else {
      const controller = this.controller;
      this.controller = undefined;
      // The target answered, then broke: the client sees a cut body, as with any proxy.
      controller?.error(new UpstreamError("reset", error.message, { cause: error }));
    }
    this.finish(true);
  }

  private settle(response: Response): void {
    if (this.settled) return;
    this.settled = true;
    this.resolve(response);
  }

  private finish(failed: boolean): void {
    this.over = true;
    this.callbacks.finished(failed);
  }

  private bodyStream(): ReadableStream<Uint8Array> {
    return new ReadableStream<Uint8Array>(
      {
        start: (controller) => {
          this.controller = controller;
        },
        pull: () => {
          if (!this.paused) return;
          this.paused = false;
          this.resumeUpstream?.();
        },
        cancel: () => {
          // The client went away or the core dropped the body: stop reading from the target.
          this.controller = undefined;
          if (this.over) return;
          this.finish(true);
          this.abortUpstream?.(new Error("upstream response body cancelled"));
        },
      },
      { highWaterMark: STREAM_HIGH_WATER, size: (chunk) => chunk?.byteLength ?? 0 },
    );
  }
}
