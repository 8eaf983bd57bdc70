/**
 * Request mirroring (nginx `mirror`, Envoy `request_mirror_policies`,
 * Traefik's Mirroring service): a copy of a request, as the group's first
 * attempt sends it, goes to the mirror group's target; its answer is read
 * and thrown away. The copy is sent beside the real request, never before
 * it and never in its way: it does not delay the client's answer, its
 * failures are nobody's but its own (no passive health, no retries), and a
 * Worker keeps it alive with `waitUntil`. Bodies are copied only when they
 * were read whole anyway (up to `maxBodyBytes`): a copy never holds back a
 * streamed upload.
 */
import type { Context } from "hono";
import { AttemptCancellation } from "../cancellation.ts";
import type { GroupMetrics } from "../metrics/registry.ts";
import type { Platform } from "../platform.ts";
import type { TargetGroup } from "../pool/group.ts";
import type { PoolTarget } from "../pool/target.ts";
import { errorDetail } from "./errors.ts";

const NONE: ReadonlySet<PoolTarget> = new Set();

export interface MirrorCopy {
  readonly c: Context;
  readonly clientIp: string | undefined;
  readonly method: string;
  readonly path: string;
  /** The first attempt's headers (after any transform); copied, never changed. */
  readonly headers: Headers;
  /** The client's Host, for a mirror group that preserves it (the attempt's may be its target's). */
  readonly clientHost: string | null;
  /** The body as the first attempt sends it; undefined when it is not to be copied. */
  readonly body: BodyInit | null | undefined;
}

/**
 * Send `copy` to `shadow`, detached from the request; counted in the shadow group's metrics.
 * Nothing it does can fail the request: a throw is logged.
 */
export function mirror(platform: Pick<Platform, "now" | "timer" | "upstream" | "background" | "log">, shadow: TargetGroup, copy: MirrorCopy): void {
  try {
    send(platform, shadow, copy);
  } catch (error) {
    platform.log(`mirror to group ${shadow.name}: ${errorDetail(error)}`);
  }
}

function send(platform: Pick<Platform, "now" | "timer" | "upstream" | "background">, shadow: TargetGroup, copy: MirrorCopy): void {
  const m: GroupMetrics = shadow.metrics;
  if (copy.body === undefined) {
    m.mirrored.skipped++;
    return;
  }
  const target = shadow.select(copy.c, copy.clientIp, NONE, platform.now());
  if (target === undefined) {
    m.mirrored.skipped++;
    return;
  }
  const headers = new Headers(copy.headers);
  // The mirror group's own hostHeader decides, whatever the source group sent.
  const host = shadow.config.hostHeader === "target" ? target.host : copy.clientHost;
  if (host === null) headers.delete("host");
  else headers.set("host", host);
  const cancellation = new AttemptCancellation();
  const stop = platform.timer(shadow.connectTimeoutMs + shadow.responseTimeoutMs, () => cancellation.abort(new Error("mirror timed out")));
  target.begin();
  const work = (async () => {
    try {
      const response = await platform.upstream({
        origin: target.origin,
        path: copy.path,
        method: copy.method,
        headers,
        body: copy.body as ReadableStream<Uint8Array> | null,
        cancellation,
        connectTimeoutMs: shadow.connectTimeoutMs,
      });
      // Read to the end chunk by chunk and dropped, so memory stays flat and the connection can serve again.
      const reader = response.body?.getReader();
      if (reader !== undefined) { while (!(await reader.read()).done); }
      m.mirrored.answered++;
    } catch {
      m.mirrored.failed++;
    } finally {
      stop();
      target.end();
    }
  })();
  platform.background?.(copy.c, work);
}
