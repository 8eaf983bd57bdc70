/**
 * Active health checks: probe every target of a group on a timer (ALB,
 * HAProxy `check`, Envoy HTTP health checker) and report each result. The
 * engine only measures; the health table decides (thresholds, transitions).
 *
 * - At most one probe in flight per target, ever. A probe that outlives its
 *   timeout is aborted and reported as failed; if the fetch ignores the abort
 *   and keeps hanging, later rounds report "previous probe still in flight"
 *   instead of piling a second request onto a stuck target.
 * - Each wait is interval x (1 + jitter x random), measured from the start of
 *   the previous probe (Envoy `interval_jitter`), so balancers started
 *   together spread out (envoy#10498).
 * - The body is read only when a body matcher is configured, and then at
 *   most 64 KiB; a failing response's first bytes go into the detail so that
 *   an app's own `/health` JSON (503 `{"status":"shutting down"}`) shows on
 *   the stats page.
 * - `probeAllOnce()` runs one round and resolves when every result has been
 *   reported: for Workers, whose cron trigger or Durable Object alarm calls it
 *   instead of `start()`.
 *
 * Web-standard APIs only; time, timers, randomness and fetch are injected.
 */
import type { HealthCheckConfig } from "./schema.ts";
import { statusMatcher } from "./status-matcher.ts";

export interface ProberTimers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export interface ProberOptions {
  readonly targets: ReadonlyArray<{ readonly url: string }>;
  readonly config: HealthCheckConfig;
  /** Send a probe. Should not follow redirects or decompress; must honour `signal`. */
  readonly fetch: (req: Request, signal: AbortSignal) => Promise<Response>;
  readonly timers: ProberTimers;
  /** Monotonic milliseconds. */
  readonly now: () => number;
  /** Uniform in [0, 1). */
  readonly random: () => number;
  readonly onResult: (i: number, ok: boolean, detail: string) => void;
}

export interface Prober {
  /** Probe every target now, then every interval (+ jitter) until `stop()`. */
  start(): void;
  /** Stop the timers and abort probes in flight; no result is reported afterwards. */
  stop(): void;
  /** One round over all targets; resolves once each has reported. */
  probeAllOnce(): Promise<void>;
  /** The URL probed for target i (for the stats page). */
  url(i: number): string;
}

/** Largest body prefix read for the body matcher. */
export const MAX_PROBE_BODY_BYTES = 64 * 1024;
/** Largest body prefix quoted in a failed probe's detail. */
const DETAIL_BODY_BYTES = 1024;
const DETAIL_BODY_CHARS = 120;

interface Outcome {
  readonly ok: boolean;
  readonly detail: string;
}

interface Slot {
  /** The request currently in flight (until its fetch and body read settle, whatever the timeout). */
  busy: boolean;
  timer: unknown;
  abort: AbortController | undefined;
}

export function probeUrl(targetUrl: string, config: Pick<HealthCheckConfig, "path" | "port">): string {
  const origin = new URL(targetUrl);
  if (config.port !== undefined) origin.port = String(config.port);
  // Path (and query) as configured, resolved against the origin only.
  return new URL(config.path, origin.origin).href;
}

export function createProber(options: ProberOptions): Prober {
  const { config, timers } = options;
  const urls = options.targets.map((t) => probeUrl(t.url, config));
  const slots: Slot[] = urls.map(() => ({ busy: false, timer: undefined, abort: undefined }));
  const matches = statusMatcher(config.matcher.statuses);
  const needle = config.matcher.body;
  const timeoutMs = config.timeout * 1000;
  const intervalMs = config.interval * 1000;
  const headers = new Headers(config.headers);
  // ALB sends "ELB-HealthChecker/2.0"; name ourselves so targets can tell probes from traffic.
  if (!headers.has("user-agent")) headers.set("user-agent", "fulcrum-health-check");
  let running = false;
  let generation = 0;

  async function check(i: number, signal: AbortSignal): Promise<Outcome> {
    let res: Response;
    try {
      res = await options.fetch(new Request(urls[i]!, { method: config.method, headers, signal, redirect: "manual" }), signal);
    } catch (error) {
      return { ok: false, detail: `error: ${error instanceof Error ? error.message : String(error)}` };
    }
    if (!matches(res.status)) {
      const body = await readPrefix(res.body, DETAIL_BODY_BYTES).catch(() => "");
      const quoted = body.trim().slice(0, DETAIL_BODY_CHARS).replace(/\s+/g, " ");
      return { ok: false, detail: `${res.status} (expected ${config.matcher.statuses})${quoted ? `: ${quoted}` : ""}` };
    }
    if (needle === undefined) {
      res.body?.cancel().catch(() => {});
      return { ok: true, detail: String(res.status) };
    }
    const text = await readPrefix(res.body, MAX_PROBE_BODY_BYTES);
    return text.includes(needle)
      ? { ok: true, detail: String(res.status) }
      : { ok: false, detail: `${res.status}, body does not contain ${JSON.stringify(needle)}` };
  }

  /** One probe of target i; resolves with its outcome at the latest when the timeout fires. */
  function probe(i: number): Promise<Outcome> {
    const slot = slots[i]!;
    if (slot.busy) return Promise.resolve({ ok: false, detail: "previous probe still in flight" });
    slot.busy = true;
    const abort = new AbortController();
    slot.abort = abort;
    const work = check(i, abort.signal).catch((error: unknown) => ({ ok: false, detail: `error: ${String(error)}` }));
    void work.finally(() => {
      slot.busy = false;
      if (slot.abort === abort) slot.abort = undefined;
    });
    let handle: unknown;
    const timedOut = new Promise<Outcome>((resolve) => {
      handle = timers.setTimeout(() => {
        abort.abort(new DOMException("health check timeout", "TimeoutError"));
        resolve({ ok: false, detail: `timeout after ${config.timeout} s` });
      }, timeoutMs);
    });
    return Promise.race([work, timedOut]).finally(() => timers.clearTimeout(handle));
  }

  async function round(i: number, gen: number): Promise<void> {
    const started = options.now();
    const outcome = await probe(i);
    if (gen !== generation) return; // stopped (or restarted) meanwhile
    options.onResult(i, outcome.ok, outcome.detail);
    if (!running) return;
    const wait = intervalMs * (1 + config.jitter * options.random());
    const delay = Math.max(0, started + wait - options.now());
    slots[i]!.timer = timers.setTimeout(() => void round(i, gen), delay);
  }

  return {
    start() {
      if (running || !config.enabled) return;
      running = true;
      const gen = ++generation;
      for (let i = 0; i < urls.length; i++) void round(i, gen);
    },
    stop() {
      running = false;
      generation++;
      for (const slot of slots) {
        if (slot.timer !== undefined) timers.clearTimeout(slot.timer);
        slot.timer = undefined;
        slot.abort?.abort(new DOMException("health checks stopped", "AbortError"));
      }
    },
    async probeAllOnce() {
      if (!config.enabled) return;
      const gen = generation;
      await Promise.all(
        urls.map(async (_, i) => {
          const outcome = await probe(i);
          if (gen === generation) options.onResult(i, outcome.ok, outcome.detail);
        }),
      );
    },
    url: (i) => urls[i]!,
  };
}

/** Decode at most `limit` bytes of a body, then cancel the rest. */
async function readPrefix(body: ReadableStream<Uint8Array> | null, limit: number): Promise<string> {
  if (!body) return "";
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let text = "";
  let read = 0;
  try {
    while (read < limit) {
      const { done, value } = await reader.read();
      if (done) break;
      const chunk = value.byteLength > limit - read ? value.subarray(0, limit - read) : value;
      read += chunk.byteLength;
      text += decoder.decode(chunk, { stream: true });
    }
    text += decoder.decode();
  } finally {
    reader.cancel().catch(() => {});
  }
  return text;
}
