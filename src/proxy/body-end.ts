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
 * Only streamed bodies are watched: relaying a body through a JavaScript
 * stream costs Bun about 45 µs per response (measured: 64 → 110 µs of CPU
 * per request, with a pull source, a TransformStream and a Bun "direct"
 * stream alike), where returning the target's body lets the runtime pipe it
 * natively. A body with a small Content-Length is delivered in the same
 * breath as its headers, so its count ends there.
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

/**
 * `body` relayed unchanged, calling `onEnd(bytes relayed)` exactly once when it is done, broken or
 * cancelled, or when `clientGone` aborts; the target's body is then cancelled, as nginx closes the
 * upstream connection when the client aborts. workerd may drop a response body whose client left
 * without cancelling it or pulling again, and its request signal (`enable_request_signal`) does not
 * always fire once the response is under way: there a count can stay held (README, Runtime notes).
 */
export function onBodyEnd(body: ReadableStream<Uint8Array>, onEnd: (bytes: number) => void, clientGone?: AbortSignal): ReadableStream<Uint8Array> {
  let bytes = 0;
  let ended = false;
  const end = () => {
    if (ended) return;
    ended = true;
    clientGone?.removeEventListener("abort", onClientGone);
    onEnd(bytes);
  };
  const { stream, cancelSource } = watchStream(body, { chunk: (n) => (bytes += n), done: end, failed: end, cancelled: end });
  function onClientGone(): void {
    end();
    cancelSource(clientGone?.reason);
  }
  if (clientGone?.aborted) onClientGone(); // left between the target's headers and here
  else clientGone?.addEventListener("abort", onClientGone, { once: true });
  return stream;
}
