/**
 * May a failed attempt be retried on another target? One pure function, so
 * the request path asks one question and the rules are tested as a table.
 *
 * - A refused connection (`connect`) sent nothing, so any method may be
 *   retried, POST included (nginx retries `error` for every method before
 *   the request is sent).
 * - A timeout, a reset or a retryable status may have been acted on by the
 *   target, so only idempotent methods are retried (RFC 9110 §9.2.2: GET,
 *   HEAD, OPTIONS, TRACE, PUT, DELETE), or requests carrying an
 *   `Idempotency-Key` (draft-ietf-httpapi-idempotency-key-header), which
 *   declares the client safe to replay. nginx needs `non_idempotent` to retry
 *   POST at all; Caddy retries transport errors for GET only by default;
 *   users regularly ask for the connect-failure case (traefik#1104,
 *   caddy#5454), which is the one always safe.
 * - The body must be replayable: absent, or buffered within
 *   `maxReplayBodyBytes`. A streamed body has been consumed by the first
 *   attempt (even a refused one may have read from it), so it is never
 *   retried.
 * - `tries` and the time budget bound everything.
 */
import type { RetriesConfig, TransportFailure } from "./schema.ts";

export type AttemptFailure = TransportFailure | "status";

export interface RetryQuestion {
  readonly method: string;
  readonly headers: Headers;
  readonly failure: AttemptFailure;
  /** The response status when `failure` is "status". */
  readonly status?: number;
  /** True when the request has no body or its body was buffered and can be sent again. */
  readonly bodyReplayable: boolean;
  /** Attempts made so far, including the one that just failed (1 after the first). */
  readonly attempt: number;
  /** Milliseconds since the first attempt started. */
  readonly elapsedMs: number;
  readonly config: RetriesConfig;
}

/** RFC 9110 §9.2.2. */
const IDEMPOTENT = new Set(["GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"]);

export function isIdempotent(method: string, headers: Headers): boolean {
  return IDEMPOTENT.has(method.toUpperCase()) || headers.has("idempotency-key");
}

export function canRetry(q: RetryQuestion): boolean {
  const { config } = q;
  if (config.tries > 0 && q.attempt >= config.tries) return false;
  if (config.budget > 0 && q.elapsedMs >= config.budget * 1000) return false;
  if (!q.bodyReplayable) return false;
  switch (q.failure) {
    case "connect":
      return true;
    case "timeout":
    case "reset":
      return isIdempotent(q.method, q.headers);
    case "status":
      return q.status !== undefined && config.retryOn.includes(q.status) && isIdempotent(q.method, q.headers);
  }
}
