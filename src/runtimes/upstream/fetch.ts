/**
 * Upstream client on the runtime's own `fetch` (Bun, Workers): redirects are
 * passed through, never followed; Bun also gets `decompress: false` (other
 * runtimes ignore the member). Failures become `UpstreamError`s of the kind
 * the runtime reports, `reset` when it cannot tell.
 */
import { MalformedRequestError, UpstreamError, type UpstreamRequest } from "../../platform.ts";
import { SMALL_BODY } from "./undici-dispatch.ts";
import type { TransportFailure } from "../../health/schema.ts";

/**
 * `classify` defaults to "reset": when the runtime cannot tell that nothing
 * was sent (Workers), assume something was, so non-idempotent requests are
 * never retried on a guess.
 */
export interface FetchQuirks {
  /**
   * The runtime's fetch hands out immutable Responses, as the Fetch spec says
   * (workerd): each is rewrapped so the core can edit its headers.
   * `new Response(body, upstream)` copies status, statusText and headers in
   * one call, far cheaper on workerd than a Headers copy and a Response from
   * parts (BENCHMARKS.md).
   */
  readonly immutableResponses?: boolean;
  /**
   * The runtime decodes a gzip or brotli body as soon as JavaScript reads it
   * (workerd): asked for the bytes as sent (`encodeResponseBody: "manual"`),
   * which a Response made with this one as its init sends on unchanged.
   */
  readonly decodesBodies?: boolean;
  /**
   * Hand small bodies on as the runtime streams them instead of reading them
   * whole first (workerd): there reading one cost about a tenth of a request's
   * CPU in same-run A/Bs (BENCHMARKS.md), and the runtime keeps the body's
   * length, so one cut short still shows as cut. A small body that stalls is
   * then bounded by the platform's limits, not by `timeouts.response`.
   */
  readonly passSmallBodies?: boolean;
}

/** Statuses whose responses carry no body, which a Response must be built without (Fetch: null body status). */
function bodyless(method: string, status: number): boolean {
  return method === "HEAD" || status === 204 || status === 205 || status === 304 || status < 200;
}

export function fetchUpstream(classify: (error: unknown) => TransportFailure | "malformed" = () => "reset", quirks: FetchQuirks = {}) {
  return async function upstream(req: UpstreamRequest): Promise<Response> {
    const { signal } = req.cancellation;
    const init = {
      method: req.method,
      headers: req.headers,
      body: req.body,
      redirect: "manual",
      signal,
      decompress: false,
      encodeResponseBody: quirks.decodesBodies ? "manual" : "automatic",
    };
    try {
      const response = await fetch(req.origin + req.path, init as RequestInit);
      // A small body is read whole before the answer, as the undici client does (nginx's proxy
      // buffers): the response timeout then covers it, and one that stalls or ends short is the
      // target's failure (504/502), not a client left waiting on a body that never comes. Decided
      // from the headers alone, without touching `.body` (same-run A/B on Bun: BENCHMARKS.md).
      const length = response.headers.get("content-length");
      if (quirks.passSmallBodies || length === null || !(Number(length) <= SMALL_BODY) || bodyless(req.method, response.status)) {
        return quirks.immutableResponses ? new Response(response.body, response) : response;
      }
      return new Response(await response.arrayBuffer(), response);
    } catch (error) {
      if (signal.aborted) throw error;
      const kind = classify(error);
      if (kind === "malformed") throw new MalformedRequestError((error as Error).message, { cause: error });
      throw new UpstreamError(kind, (error as Error).message, { cause: error });
    }
  };
}
