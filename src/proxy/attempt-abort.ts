/**
 * The cancellation of one attempt at a target (src/cancellation.ts). Two things end an attempt
 * early: the response timeout (nginx `proxy_read_timeout`, counted from the
 * moment the request has been sent) and the client going away (nginx
 * `proxy_ignore_client_abort off`: the target's work is cancelled).
 *
 * Watching the client is not free: a listener on `request.signal` costs CPU
 * on every runtime, and on Node @hono/node-server builds an AbortController
 * the first time the signal is read (Node's EventTarget is JavaScript); the
 * same-run A/Bs are in BENCHMARKS.md. Most attempts are answered within a
 * few milliseconds, so the client is watched only once an attempt has run
 * for `WATCH_CLIENT_AFTER_MS`. A client that left before that is still seen
 * at that moment: every runtime reports it once the signal is first read.
 * Measured: on Bun the signal is already aborted; node-server aborts a signal
 * it makes after the close; Deno fires `abort` to the late listener within
 * 1 ms. workerd needs none of it: it cancels a request's subrequests itself
 * when the client leaves (its e2e scenarios pass with no watch at all). The
 * e2e scenario of a client leaving after 10 ms checks this on all four, and
 * fails on Bun and Node without the `aborted` check.
 */
import { type Cancellation, type Platform, UpstreamError } from "../platform.ts";
import { AttemptCancellation } from "../cancellation.ts";
import type { TransportFailure } from "../health/schema.ts";

/** The reason an attempt's cancellation carries when the response timeout fired. */
export const TIMEOUT = Symbol("upstream timeout");
/** The reason an attempt's cancellation carries when the client went away. */
export const CLIENT_GONE = Symbol("client went away");

/**
 * What a failed attempt counts as (HTTP and WebSocket alike): our own response
 * timeout, else what the upstream client could tell. Unknown failures count as
 * "reset": assume the target may have acted, so only idempotent requests retry.
 */
export function attemptFailure(cancellation: Cancellation, error: unknown): TransportFailure {
  return cancellation.reason === TIMEOUT ? "timeout" : error instanceof UpstreamError ? error.kind : "reset";
}

/**
 * Long next to a loopback or same-region answer (~1-10 ms), short next to
 * what a departed client would otherwise cost the target (up to the whole
 * response timeout). Server runtimes sweep deadlines every 50 ms, so the
 * watch starts 50-100 ms into an attempt there.
 */
export const WATCH_CLIENT_AFTER_MS = 50;

export interface AttemptAbort {
  /** For the upstream client; its reason is `TIMEOUT` or `CLIENT_GONE` once cancelled. */
  readonly cancellation: Cancellation;
  /** The attempt has its answer (or failed): stop the timer and the watch. */
  settle(): void;
}

/**
 * `sent`: resolves once a streamed request body has been read to its end; the
 * timeout starts then (a large upload is not a slow target: 100 MB took over
 * 1.5 s on workerd). During such an upload the client is watched from the start.
 */
export function attemptAbort(
  platform: Pick<Platform, "now" | "timer">,
  request: Request,
  timeoutMs: number,
  sent?: Promise<unknown>,
): AttemptAbort {
  const abort = new AttemptCancellation();
  let settled = false;
  let watching = false;
  let cancelTimer = () => {};
  const onClientGone = () => abort.abort(CLIENT_GONE);
  const onTimeout = () => abort.abort(TIMEOUT);
  const watchClient = () => {
    watching = true;
    const client = request.signal;
    if (client.aborted) onClientGone();
    else client.addEventListener("abort", onClientGone, { once: true });
  };
  const arm = () => {
    if (settled) return;
    if (watching || timeoutMs <= WATCH_CLIENT_AFTER_MS) {
      cancelTimer = platform.timer(timeoutMs, onTimeout);
      return;
    }
    // One timer at a time: first the watch, then the rest of the timeout.
    const armedAt = platform.now();
    cancelTimer = platform.timer(WATCH_CLIENT_AFTER_MS, () => {
      if (settled) return;
      watchClient();
      if (!abort.aborted) cancelTimer = platform.timer(Math.max(1, timeoutMs - (platform.now() - armedAt)), onTimeout);
    });
  };
  if (sent) {
    watchClient();
    void sent.then(arm);
  } else arm();
  return {
    cancellation: abort,
    settle() {
      settled = true;
      cancelTimer();
      if (watching) request.signal.removeEventListener("abort", onClientGone);
    },
  };
}
