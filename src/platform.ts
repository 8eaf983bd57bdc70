/**
 * Everything that differs between Bun, Deno, Node and Workers, injected into
 * the core by a thin adapter in src/runtimes/ (Hono's `getConnInfo` idea).
 * The core never asks which runtime it is on.
 */
import type { Context } from "hono";
import type { StateStore } from "./state/store.ts";
import type { TransportFailure } from "./health/schema.ts";

export type RuntimeName = "bun" | "deno" | "node" | "workerd";

/** One attempt at a target. `path` is the client's path and query, byte for byte. */
export interface UpstreamRequest {
  /** `http://host:port` of the target, no trailing slash. */
  readonly origin: string;
  /** Path and query as the client sent them (starts with `/`). */
  readonly path: string;
  readonly method: string;
  /** Already cleaned of hop-by-hop headers; includes `host`. */
  readonly headers: Headers;
  readonly body: ReadableStream<Uint8Array> | null;
  /** Cancelled by the core when the response timeout fires or the client goes away. */
  readonly cancellation: Cancellation;
  /** Upstream connect timeout, for clients that can tell connecting apart (undici). */
  readonly connectTimeoutMs: number;
}

/**
 * How the core cancels one attempt. Clients that take a web `AbortSignal`
 * (fetch) read `signal`, which is made on first read; the undici client
 * subscribes with `onAbort` and never makes one: on Node an AbortController
 * per attempt plus one listener on its signal was a large share of a
 * request's CPU (Node's EventTarget is JavaScript; same-run A/B in
 * BENCHMARKS.md).
 */
export interface Cancellation {
  readonly aborted: boolean;
  /** Why it was cancelled; undefined until then. */
  readonly reason: unknown;
  /** A web AbortSignal that follows this cancellation (already aborted if it is). */
  readonly signal: AbortSignal;
  /** Calls `listener` once if cancelled later (check `aborted` first); returns its remover. */
  onAbort(listener: (reason: unknown) => void): () => void;
}

/** Why an attempt failed, as far as the adapter can tell (drives 502 vs 504 and retry safety). */

export class UpstreamError extends Error {
  constructor(readonly kind: TransportFailure, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "UpstreamError";
  }
}

/**
 * The upstream client refused to build or send the request (a header or
 * method it will not put on the wire): nothing reached the target, and the
 * request is what is wrong. Answered 400, never counted against the target,
 * never retried elsewhere. The edge guard (src/edge/request-guard.ts) refuses
 * what RFC 9112 names first; this catches whatever a client library adds.
 */
export class MalformedRequestError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "MalformedRequestError";
  }
}

/** DNS answers as discovery needs them (discovery/discovery.ts): addresses with their TTLs, SRV records. */
export interface DnsResolver {
  a(name: string): Promise<readonly { readonly address: string; readonly ttl: number }[]>;
  aaaa(name: string): Promise<readonly { readonly address: string; readonly ttl: number }[]>;
  srv(name: string): Promise<readonly { readonly name: string; readonly port: number; readonly priority: number; readonly weight: number }[]>;
}

/** A client's location, as Cloudflare's request.cf or a trusted proxy's headers give it: upper-case codes. */
export interface Geo {
  readonly country?: string;
  readonly continent?: string;
  readonly region?: string;
  readonly colo?: string;
}

export interface Platform {
  readonly runtime: RuntimeName;
  /**
   * Send one request to a target. Must not decompress bodies, must not follow
   * redirects, must send the given `host` header where the runtime allows it.
   * The Response's headers are mutable (the core edits them in place), and a
   * body of known length up to 64 KiB has been read whole when it resolves,
   * so the response timeout covers it (not on workerd: upstream/fetch.ts,
   * `passSmallBodies`).
   * Rejects with an `UpstreamError` when the kind of failure is known, and
   * with a `MalformedRequestError` when the client refuses the request itself.
   */
  upstream(req: UpstreamRequest): Promise<Response>;
  /** Address of the peer that connected to the balancer (not from headers, except on Workers). */
  clientAddress(c: Context): string | undefined;
  /** Monotonic milliseconds. */
  now(): number;
  /** Uniform in [0, 1). */
  random(): number;
  /** Call `fire` after about `ms` (response timeouts); returns a cancel function. */
  timer(ms: number, fire: () => void): () => void;
  /** Environment variables / bindings visible to the balancer. */
  readonly env: Readonly<Record<string, unknown>>;
  /** Where log lines go (stderr on servers, console on Workers). */
  log(line: string): void;
  /**
   * Present where the runtime sends a JavaScript stream body without its
   * length and ends it cleanly even when the stream errors (workerd frames it
   * chunked and writes the last chunk anyway, cloudflare/workerd#6818): the
   * stream is given its declared length, so a body cut short stays visibly cut.
   */
  fixedLength?(body: ReadableStream<Uint8Array>, length: number): ReadableStream<Uint8Array>;
  /**
   * Where the runtime hands streamed bodies on in chunks too small to relay one by one (workerd:
   * 4 KiB), the relays read them into buffers of this many bytes instead (watched-stream.ts).
   */
  readonly streamReadSize?: number;
  /**
   * Client connections open now on this process's listeners, where the runtime lets them be
   * counted (node:http; Bun.serve, Deno.serve and Workers expose no connection events).
   */
  clientConnections?(): number;
  /**
   * Keep `work` started by a request alive after its response (a Worker's `waitUntil`); absent
   * where the process outlives its requests anyway (servers).
   */
  background?(c: Context, work: Promise<unknown>): void;
  /**
   * Where the client is, where the runtime knows it itself (Cloudflare's request.cf on Workers);
   * absent elsewhere, where a trusted proxy's headers say it (forwarding.geoHeaders).
   */
  geo?(request: Request): Geo | undefined;
  /**
   * A DNS resolver asking `servers` (host:port; undefined: the system's), for target groups that
   * discover their targets; absent where the runtime has none (Workers).
   */
  dns?(servers: readonly string[] | undefined, timeoutMs: number): DnsResolver;
  /** Shared balancing state (overrides, health); in memory for one process when absent. */
  readonly state?: StateStore;
  /**
   * WebSocket upgrades (open a target's socket, upgrade the client's), from the
   * runtime adapter. Absent: upgrade requests are forwarded as plain HTTP.
   */
  readonly websocket?: WebSocketCapability;
}

/** Defaults shared by every adapter; an adapter overrides what differs. */
export const commonPlatform = {
  now: () => performance.now(),
  random: Math.random,
  log: (line: string) => console.error(line),
  timer: (ms: number, fire: () => void) => {
    const t = setTimeout(fire, ms);
    return () => clearTimeout(t);
  },
} satisfies Partial<Platform>;

// WebSockets: what the core and the runtime adapters exchange (the relay and the upgrade).

/** One message of a relayed WebSocket. */
export type WsData = string | ArrayBuffer | Uint8Array;

export interface WsEvents {
  message(data: WsData): void;
  /** The peer closed or the connection broke (then code 1006). Fires once. */
  close(code: number, reason: string): void;
}

export interface WsEnd {
  /** The negotiated subprotocol ("" when none). */
  readonly protocol: string;
  send(data: WsData): void;
  close(code: number, reason: string): void;
  /** Bytes queued towards this peer and not yet written to the network; -1 when the runtime cannot tell. */
  bufferedAmount(): number;
  /** Send a ping (RFC 6455 §5.5.2) where the runtime exposes it. */
  readonly ping?: () => void;
  /** Events queued until attached, so nothing is lost between open and wiring. */
  attach(events: WsEvents): void;
}

/**
 * What a target answered: its socket (relayed frame by frame), its refusal,
 * or, where the runtime can join the two sockets natively with backpressure
 * and the relay could not bound its memory (Workers: no `bufferedAmount`),
 * a 101 that hands the target's socket to the client as it is.
 */
export type UpstreamHandshake =
  | { readonly end: WsEnd }
  | { readonly refused: Response }
  | { readonly piped: { readonly protocol: string; response(headers: Headers): Response } };

export interface WsConnectRequest {
  /** `http(s)://host:port/path?query` of the target (adapters switch the scheme where they need ws:). */
  readonly url: string;
  /** Client headers already cleaned: no hop-by-hop, no Sec-WebSocket-Key/Version/Extensions/Protocol. */
  readonly headers: Headers;
  /** Subprotocols the client offered, in its order. */
  readonly protocols: readonly string[];
  /** Aborted by the core when the handshake takes longer than the connect + response timeouts. */
  readonly signal: AbortSignal;
  /** Largest message to accept from the target (bytes). */
  readonly maxMessageBytes: number;
}

/**
 * The upgrade capability a runtime adapter injects as `platform.websocket`.
 * `connect` first (the target must agree before the client is upgraded, so a
 * failure is still an HTTP error and may be retried elsewhere), then `accept`.
 */
export interface WebSocketCapability {
  /** Open a WebSocket to a target. Rejects with an UpstreamError when the kind of failure is known. */
  connect(req: WsConnectRequest): Promise<UpstreamHandshake>;
  /**
   * Complete the client's upgrade answering with `protocol` (or none) and the
   * extra response headers (request id, sticky cookies) where the runtime can
   * send them. Returns what the handler must return and the client's end.
   */
  accept(c: Context, init: { readonly protocol: string; readonly headers: Headers }): { readonly response: Response; readonly end: WsEnd };
}
