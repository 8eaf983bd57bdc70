/**
 * The metrics registry: counters, gauges and latency sketches per balancer,
 * rule, target group and target, cheap enough to leave on.
 *
 * Scope of the numbers: everything this process has seen since it started.
 * On Cloudflare Workers that means *this isolate* since it started: each
 * isolate sees only the requests routed to it, so a scrape of one isolate is
 * a sample of the fleet, and counters restart when the isolate is evicted
 * (Prometheus' `rate()` handles such resets). Nothing here aggregates across
 * isolates.
 *
 * Hot path design: the caller resolves label handles once (`rule()`,
 * `group()`, `target()` at startup, stored next to its own objects); a request
 * then costs a token allocation, a few typed-array/field increments, one
 * clock read and one or two sketch inserts: no strings, no map lookups.
 * Label strings for the exposition format are rendered once, when a handle is
 * created.
 */
import { DEFAULT_WINDOW, LatencySketch, type Window } from "./latency-sketch.ts";
import { labelPairs } from "./labels.ts";
import { LatencyHistogram } from "./histogram.ts";

import type { TransportFailure } from "../health/schema.ts";
/** How a target broke a response body mid-way: stalled past `timeouts.read`, ended short of its Content-Length, or failed. */
export type BodyErrorKind = "timeout" | "truncated" | "reset";
export const STATUS_CLASSES = ["1xx", "2xx", "3xx", "4xx", "5xx"] as const;
export type StatusClass = (typeof STATUS_CLASSES)[number];

/** Index into a `responses` array: 1xx → 0 … 5xx → 4; anything outside 100–599 counts as 5xx. */
export function statusClassIndex(status: number): number {
  const c = (status / 100) | 0;
  return c >= 1 && c <= 5 ? c - 1 : 4;
}

/** Counters by status class, indexed by `statusClassIndex`. */
const responsesArray = () => new Float64Array(STATUS_CLASSES.length);

export class RuleMetrics {
  readonly responses = responsesArray();
  /** Requests matched by this rule and not finished yet. */
  active = 0;
  /** Requests matched by this rule and refused by a rate limit (429). */
  rateLimited = 0;
  constructor(
    /** Rule priority as a string, or "default" for the default action. */
    readonly name: string,
    /** `balancer="…",rule="…"`, rendered once. */
    readonly labels: string,
  ) {}
}

export class TargetMetrics {
  readonly responses = responsesArray();
  readonly errors = { connect: 0, timeout: 0, reset: 0 } satisfies Record<TransportFailure, number>;
  /** Response bodies the target broke off after its headers were relayed, by how. */
  readonly bodyErrors = { timeout: 0, truncated: 0, reset: 0 } satisfies Record<BodyErrorKind, number>;
  bytesIn = 0;
  bytesOut = 0;
  wsActive = 0;
  wsTotal = 0;
  ejections = 0;
  /** Client-observed latency of requests whose last attempt went here, ms. */
  readonly total: LatencySketch;
  /** Time to upstream response headers of those attempts, ms. */
  readonly upstream: LatencySketch;
  /** The client-observed latency again, as bucket counts that add up across instances. */
  readonly histogram = new LatencyHistogram();
  constructor(
    readonly group: GroupMetrics,
    readonly url: string,
    /** `balancer="…",group="…",target="…"`, rendered once. */
    readonly labels: string,
    window: Window,
  ) {
    this.total = new LatencySketch(window);
    this.upstream = new LatencySketch(window);
  }
}

export class GroupMetrics {
  /** Every response for requests routed to this group, including 503s when no target was usable. */
  readonly responses = responsesArray();
  active = 0;
  retries = 0;
  wsActive = 0;
  /** Retries the retry budget did not allow (`retries.budgetPercent`). */
  retriesRefused = 0;
  /** Copies of other groups' requests this group got (`mirror`): answered, failed, or not sent. */
  readonly mirrored = { answered: 0, failed: 0, skipped: 0 };
  /** Requests waiting in its queue for a connection slot now (`maxConnections` with `queue`). */
  queued = 0;
  /** Requests refused a connection slot: the queue was full, or the wait timed out. */
  readonly queueRejected = { full: 0, timeout: 0 };
  /** 1 while its traffic goes to its fallback group, 0 when not; undefined without a fallback group. */
  failedOver: number | undefined = undefined;
  /**
   * Client-observed latency of requests served by the group's targets. The group's own, not
   * the sum of its targets': a target a reload removes takes its counts along, and a counter
   * that shrinks would read as a reset.
   */
  readonly histogram = new LatencyHistogram();
  readonly targets: TargetMetrics[] = [];
  constructor(
    readonly name: string,
    /** `balancer="…",group="…"`, rendered once. */
    readonly labels: string,
  ) {}
}

/** What `requestStarted` needs: handles from `metrics.rule()` and `metrics.group()`. */
export interface RequestLabels {
  readonly rule: RuleMetrics;
  readonly group: GroupMetrics;
}

/** One request in flight. Finishing it twice is a no-op (so a finally block is safe). */
export class RequestToken {
  done = false;
  constructor(
    readonly rule: RuleMetrics,
    readonly group: GroupMetrics,
  ) {}
}

export interface RequestOutcome {
  status: number;
  /** Client-observed time from request start to response headers sent, ms. */
  totalMs: number;
  /** Time to upstream response headers of the last attempt, ms (absent when no attempt got headers). */
  upstreamMs?: number;
  bytesIn?: number;
  bytesOut?: number;
  /** Attempts after the first. */
  retries: number;
  /** Why the last attempt failed, if it did. Earlier failed attempts go to `attemptFailed`. */
  error?: TransportFailure;
  /** Target of the last attempt; absent when none was tried (e.g. 503, no usable target). */
  target?: TargetMetrics;
  /**
   * The response body is still streaming: the request stays active (rule and
   * group gauges) until `requestClosed`, like the target's in-flight count.
   */
  open?: boolean;
  /** `now()` at the end, if the caller has it already (saves a clock read, ~50 ns on Bun). */
  at?: number;
}

export interface WsLabels {
  readonly group: GroupMetrics;
  readonly target?: TargetMetrics;
}

export interface MetricsOptions {
  /** Monotonic milliseconds (the platform's `now`). */
  now: () => number;
  /** Wall-clock milliseconds since the epoch, for timestamps shown to people. Default `Date.now`. */
  wallClock?: () => number;
  /** Value of the `balancer` label on every series. Default "fulcrum". */
  balancer?: string;
  /** Sliding window for latency quantiles. Default 6 buckets of 10 s (1 minute). */
  window?: Window;
  /** `now()` when counting began. Default: now (a registry that merges others' gives their start). */
  startedAt?: number;
}

export class Metrics {
  readonly balancer: string;
  readonly window: Window;
  readonly now: () => number;
  readonly wallClock: () => number;
  /** `now()` when the registry was created. */
  readonly startedAt: number;
  readonly rules = new Map<string, RuleMetrics>();
  readonly groups = new Map<string, GroupMetrics>();
  private readonly balancerLabel: string;

  constructor(options: MetricsOptions) {
    this.now = options.now;
    this.wallClock = options.wallClock ?? Date.now;
    this.balancer = options.balancer ?? "fulcrum";
    this.window = options.window ?? DEFAULT_WINDOW;
    this.startedAt = options.startedAt ?? this.now();
    this.balancerLabel = labelPairs({ balancer: this.balancer });
  }

  /** The handle for a rule (its priority as a string, or "default"); create once, keep it. */
  rule(name: string): RuleMetrics {
    let r = this.rules.get(name);
    if (r === undefined) {
      r = new RuleMetrics(name, `${this.balancerLabel},${labelPairs({ rule: name })}`);
      this.rules.set(name, r);
    }
    return r;
  }

  /** The handle for a target group; create once, keep it. */
  group(name: string): GroupMetrics {
    let g = this.groups.get(name);
    if (g === undefined) {
      g = new GroupMetrics(name, `${this.balancerLabel},${labelPairs({ group: name })}`);
      this.groups.set(name, g);
    }
    return g;
  }

  /** The handle for a target of a group; create once, keep it. */
  target(group: string, url: string): TargetMetrics {
    const g = this.group(group);
    let t = g.targets.find((x) => x.url === url);
    if (t === undefined) {
      t = new TargetMetrics(g, url, `${g.labels},${labelPairs({ target: url })}`, this.window);
      g.targets.push(t);
    }
    return t;
  }

  /** A target no config lists any more, with nothing left running on it: its series go. */
  dropTarget(group: string, url: string): void {
    const g = this.groups.get(group);
    if (g === undefined) return;
    const i = g.targets.findIndex((x) => x.url === url);
    if (i >= 0) g.targets.splice(i, 1);
  }

  /** Current sketch epoch: which window bucket `now` falls in. */
  epoch(): number {
    return Math.floor(this.now() / this.window.bucketMs);
  }

  requestStarted(labels: RequestLabels): RequestToken {
    labels.rule.active++;
    labels.group.active++;
    return new RequestToken(labels.rule, labels.group);
  }

  requestFinished(token: RequestToken, o: RequestOutcome): void {
    if (token.done) return;
    token.done = true;
    const cls = statusClassIndex(o.status);
    const rule = token.rule;
    const group = token.group;
    if (!o.open) {
      rule.active--;
      group.active--;
    }
    rule.responses[cls]!++;
    group.responses[cls]!++;
    group.retries += o.retries;
    const t = o.target;
    if (t === undefined) return;
    t.responses[cls]!++;
    if (o.bytesIn !== undefined) t.bytesIn += o.bytesIn;
    if (o.bytesOut !== undefined) t.bytesOut += o.bytesOut;
    if (o.error !== undefined) t.errors[o.error]++;
    const epoch = Math.floor((o.at ?? this.now()) / this.window.bucketMs);
    t.total.record(o.totalMs, epoch);
    t.histogram.record(o.totalMs);
    group.histogram.record(o.totalMs);
    if (o.upstreamMs !== undefined) t.upstream.record(o.upstreamMs, epoch);
  }

  /**
   * The streamed body of a request finished with `open` has been relayed, broke
   * or was cancelled; `bytesOut` are its bytes when no Content-Length counted them.
   */
  requestClosed(token: RequestToken, target: TargetMetrics | undefined, bytesOut: number): void {
    token.rule.active--;
    token.group.active--;
    if (target !== undefined) target.bytesOut += bytesOut;
  }

  /** The target broke a response body after its headers had gone to the client (nothing can be retried then). */
  bodyBroken(target: TargetMetrics, kind: BodyErrorKind): void {
    target.bodyErrors[kind]++;
  }

  /** A failed attempt at `target` that was followed by another attempt (retried elsewhere or again). */
  attemptFailed(target: TargetMetrics, kind: TransportFailure): void {
    target.errors[kind]++;
  }

  wsOpened(labels: WsLabels): void {
    labels.group.wsActive++;
    if (labels.target !== undefined) {
      labels.target.wsActive++;
      labels.target.wsTotal++;
    }
  }

  wsClosed(labels: WsLabels): void {
    labels.group.wsActive--;
    if (labels.target !== undefined) labels.target.wsActive--;
  }

  /** Passive health check (outlier detection) took `target` out of rotation. */
  ejection(target: TargetMetrics): void {
    target.ejections++;
  }
}

export function createMetrics(options: MetricsOptions): Metrics {
  return new Metrics(options);
}
