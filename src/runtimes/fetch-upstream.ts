/**
 * Upstream client on the runtime's own `fetch` (Bun, Workers): redirects are
 * passed through, never followed; Bun also gets `decompress: false` (other
 * runtimes ignore the member). Failures become `UpstreamError`s of the kind
 * the runtime reports, `reset` when it cannot tell.
 */
import { UpstreamError, type UpstreamFailure, type UpstreamRequest } from "../platform.ts";

/**
 * `classify` defaults to "reset": when the runtime cannot tell that nothing
 * was sent (Workers), assume something was, so non-idempotent requests are
 * never retried on a guess.
 */
export function fetchUpstream(classify: (error: unknown) => UpstreamFailure = () => "reset") {
  return async function upstream(req: UpstreamRequest): Promise<Response> {
    const { signal } = req.cancellation;
    try {
      return await fetch(req.origin + req.path, {
        method: req.method,
        headers: req.headers,
        body: req.body,
        redirect: "manual",
        signal,
        decompress: false,
      } as RequestInit);
    } catch (error) {
      if (signal.aborted) throw error;
      throw new UpstreamError(classify(error), (error as Error).message, { cause: error });
    }
  };
}
