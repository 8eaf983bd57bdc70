/**
 * Knowing when a response has been delivered, not just started.
 *
 * nginx's `least_conn` counts a request against its peer until the upstream
 * request is finalised, after the last body byte has been relayed, and
 * HAProxy's `leastconn` counts the stream until it closes. A count that ended
 * at the response headers would make a target streaming long downloads or
 * server-sent events look idle to least_connections, and the in-flight
 * gauges would miss them. So for a streamed body the balancer's counts end
 * when the body has been read to its end, failed, or was cancelled (the
 * client went away).
 *
 * Only streamed bodies are relayed here: relaying through a JavaScript
 * stream costs Bun more per response than reading a small body whole
 * (BENCHMARKS.md), so the upstream clients read a body of known length up to
 * STREAMED_BODY_BYTES before answering, under the response timeout, and its
 * count ends with its headers. workerd hands such bodies on unread
 * (upstream/fetch.ts, `passSmallBodies`): there they are not watched either.
 */

import { watchStream } from "./watched-stream.ts";

/**
 * Bodies up to this Content-Length are not watched (bytes). 64 KiB is what
 * the socket takes at once on Linux, and the undici client's collect limit.
 */
export const STREAMED_BODY_BYTES = 64 * 1024;

/** True when a response with this Content-Length (null: none) streams its body: no length, or a large one. */
export function isStreamed(length: string | null): boolean {
  return length === null || !(Number(length) <= STREAMED_BODY_BYTES);
}

/** How a relayed body ended. */
export type BodyEnding = "complete" | "cancelled" | "reset" | "timeout" | "truncated";

/** What a relayed target body is held to besides its end. */
export interface BodyGuard {
  /** The length the target declared (Content-Length): ending short of it is an error, never a clean end. */
  readonly declaredLength?: number | undefined;
  /**
   * nginx `proxy_read_timeout` between reads: a read of the target's body
   * that waits this long ends the relay with an error. Only a read the client
   * asked for counts, so a slow reader is not blamed on the target.
   */
  readonly readTimeoutMs?: number | undefined;
  readonly now: () => number;
  readonly timer: (ms: number, fire: () => void) => () => void;
  /** Platform.streamReadSize. */
  readonly readSize?: number | undefined;
}

/** The relay's error when the target stalled or ended short: the client's connection is aborted, never ended cleanly. */
export class BodyBroken extends Error {
  constructor(readonly kind: "timeout" | "truncated", message: string) {
    super(message);
    this.name = "BodyBroken";
  }
}

/**
 * `body` relayed unchanged, calling `onEnd(bytes relayed, how)` exactly once when it is done,
 * broken or cancelled, or when `clientGone` aborts; the target's body is then cancelled, as nginx
 * closes the upstream connection when the client aborts. With a `guard`, a read that waits longer
 * than its timeout, or an end short of the declared length, errors the relay (and cancels the
 * target's body). workerd may drop a response body whose client left without cancelling it or
 * pulling again, and its request signal (`enable_request_signal`) does not always fire once the
 * response is under way: there a count can stay held (README, Runtime notes).
 */
export function onBodyEnd(
  body: ReadableStream<Uint8Array>,
  onEnd: (bytes: number, how: BodyEnding) => void,
  clientGone?: AbortSignal,
  guard?: BodyGuard,
): ReadableStream<Uint8Array> {
  let bytes = 0;
  let ended = false;
  let cancelTimer = () => {};
  const end = (how: BodyEnding) => {
    if (ended) return;
    ended = true;
    cancelTimer();
    clientGone?.removeEventListener("abort", onClientGone);
    onEnd(bytes, how);
  };
  const declared = guard?.declaredLength;
  /** now() when the pending read of the target's body started; -1 when none is pending. */
  let readingSince = -1;
  const watched = watchStream(body, {
    chunk: (n) => {
      bytes += n;
      readingSince = -1;
    },
    reading: () => {
      if (guard?.readTimeoutMs !== undefined) readingSince = guard.now();
    },
    done: () => {
      if (declared !== undefined && bytes < declared) {
        end("truncated");
        return new BodyBroken("truncated", `the target's body ended after ${bytes} of ${declared} bytes`);
      }
      end("complete");
      return undefined;
    },
    failed: () => end("reset"),
    cancelled: () => end("cancelled"),
  }, guard?.readSize);
  function onClientGone(): void {
    end("cancelled");
    watched.cancelSource(clientGone?.reason);
  }
  // One timer per timeout period, not one per chunk: it checks how long the pending read has waited.
  if (guard?.readTimeoutMs !== undefined) {
    const { readTimeoutMs: limit, now, timer } = guard;
    const check = () => {
      if (ended) return;
      const t = now();
      if (readingSince >= 0 && t - readingSince >= limit) {
        end("timeout");
        watched.fail(new BodyBroken("timeout", `no bytes of the target's body for ${limit / 1000}s`));
        return;
      }
      cancelTimer = timer(Math.max(1, readingSince >= 0 ? readingSince + limit - t : limit), check);
    };
    cancelTimer = timer(limit, check);
  }
  if (clientGone?.aborted) onClientGone(); // left between the target's headers and here
  else clientGone?.addEventListener("abort", onClientGone, { once: true });
  return watched.stream;
}
