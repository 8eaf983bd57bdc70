/**
 * Upstream client for Node and Deno, on undici's `Pool.dispatch`.
 * - Node 20's global `fetch` costs many times a request's own work in CPU, and
 *   `Pool.request`'s wrapper (a Readable and a parsed header object per
 *   response) was the next bottleneck (test/bench/node-stacks.ts, BENCHMARKS.md); `dispatch` with a handler that builds
 *   the web Response itself skips both (src/runtimes/undici-dispatch.ts).
 * - Deno's `fetch` always decompresses bodies and ignores `Host`
 *   (denoland/deno#12291); undici over `node:net` sends and returns raw bytes.
 * Nothing here decompresses or follows redirects: `dispatch` has no interceptors.
 */
import { errors, Pool } from "undici";
import { MalformedRequestError, UpstreamError, type UpstreamRequest } from "../../platform.ts";
import { ResponseExchange } from "./undici-dispatch.ts";

const pools = new Map<string, Pool>();

function poolFor(origin: string, connectTimeoutMs: number): Pool {
  let pool = pools.get(origin);
  if (!pool) {
    pool = new Pool(origin, {
      connections: 256,
      connect: { timeout: connectTimeoutMs },
      // Keep-alive shorter than common upstream idle timeouts (Node 5 s) to avoid reuse races.
      keepAliveTimeout: 4_000,
      keepAliveMaxTimeout: 60_000,
      // The core owns timeouts; undici's own would race with them.
      headersTimeout: 0,
      bodyTimeout: 0,
    });
    pools.set(origin, pool);
  }
  return pool;
}

/** undici rejects headers it manages itself; the core already removed hop-by-hop ones. */
const MANAGED = new Set(["expect"]);

/** Flat [name, value, ...] as `dispatch` takes it; Headers iteration keeps each Set-Cookie apart. */
function headerList(headers: Headers): string[] {
  const out: string[] = [];
  headers.forEach((value, name) => {
    if (!MANAGED.has(name)) out.push(name, value);
  });
  return out;
}

/**
 * "connect" means nothing reached the target, so any request may be retried elsewhere.
 * undici checks a request (method, path, headers, Content-Length, upgrade) before it
 * writes a byte and refuses one it will not send with InvalidArgumentError: the
 * request is malformed (Deno's raw CONNECT was "invalid onUpgrade method").
 */
export function classify(error: unknown): UpstreamError | MalformedRequestError {
  const e = error as { code?: string; message?: string };
  const message = e?.message ?? String(error);
  if (error instanceof errors.InvalidArgumentError || error instanceof errors.NotSupportedError) return new MalformedRequestError(message, { cause: error });
  if (error instanceof errors.ConnectTimeoutError) return new UpstreamError("timeout", message, { cause: error });
  if (e?.code === "ECONNREFUSED" || e?.code === "ENOTFOUND" || e?.code === "EHOSTUNREACH" || e?.code === "ENETUNREACH" || e?.code === "EAI_AGAIN") {
    return new UpstreamError("connect", message, { cause: error });
  }
  return new UpstreamError("reset", message, { cause: error });
}

/**
 * A web stream request body as the async iterable undici writes from (awaiting
 * socket drain between chunks, so uploads are backpressured). Reading through
 * our own reader lets a failed exchange cancel a read undici is still waiting
 * on, which undici itself leaves to the caller ("It's up to the user to somehow
 * abort the async iterable", client-h1.js writeIterable).
 */
class StreamedBody implements AsyncIterable<Uint8Array> {
  private reader: ReadableStreamDefaultReader<Uint8Array> | undefined;

  constructor(private readonly stream: ReadableStream<Uint8Array>) {}

  [Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    const reader = (this.reader = this.stream.getReader());
    return {
      next: () => reader.read() as Promise<IteratorResult<Uint8Array>>,
      // undici broke off writing (socket error, abort): the rest of the upload is not wanted.
      return: async () => {
        await reader.cancel().catch(() => {});
        return { done: true, value: undefined };
      },
    };
  }

  /** Called when the exchange failed: wake up a pending read so undici's write loop ends. */
  abandon(): void {
    this.reader?.cancel().catch(() => {});
  }
}

const aborted = (reason: unknown) => new Error("upstream request aborted", { cause: reason });

export function undiciUpstream(req: UpstreamRequest): Promise<Response> {
  const { cancellation } = req;
  if (cancellation.aborted) return Promise.reject(aborted(cancellation.reason));
  // forward.ts passes a replayable body as bytes and anything else as a web stream.
  const raw = req.body as ReadableStream<Uint8Array> | Uint8Array | null;
  const streamed = raw instanceof ReadableStream ? new StreamedBody(raw) : undefined;
  const exchange = new ResponseExchange(req.method, {
    failed: classify,
    finished: (failed) => {
      stopListening();
      if (failed) streamed?.abandon();
    },
  });
  // A plain callback, not a listener on a web AbortSignal: see `Cancellation`.
  const stopListening = cancellation.onAbort((reason) => exchange.abort(aborted(reason)));
  poolFor(req.origin, req.connectTimeoutMs).dispatch(
    {
      path: req.path,
      method: req.method as "GET",
      headers: headerList(req.headers),
      // undici's types list no async iterables, but its request.js accepts them (isIterable).
      body: (streamed ?? raw) as Uint8Array | null,
    },
    exchange,
  );
  return exchange.promise;
}
