/**
 * One process's metrics as plain data, and several processes' added into one
 * registry: how the worker processes of one host (`--workers`) show the host
 * as a whole on `/metrics` and the stats page. Counters and gauges add up;
 * histograms add bucket by bucket; latency sketches merge bin by bin, which
 * DDSketch does without loss, so the host's p99 is the p99 of every request
 * the host served, not an average of the workers' p99s.
 */
import type { SketchExport, Window } from "./latency-sketch.ts";
import { type GroupReport } from "./health-provider.ts";
import { LatencyHistogram } from "./histogram.ts";
import { createMetrics, type Metrics } from "./registry.ts";
import type { TransportFailure } from "../health/schema.ts";

interface HistogramExport {
  readonly counts: readonly number[];
  readonly sum: number;
}

interface TargetExport {
  readonly url: string;
  readonly responses: readonly number[];
  readonly errors: Readonly<Record<TransportFailure, number>>;
  readonly bodyErrors: Readonly<Record<"timeout" | "truncated" | "reset", number>>;
  readonly bytesIn: number;
  readonly bytesOut: number;
  readonly wsActive: number;
  readonly wsTotal: number;
  readonly ejections: number;
  readonly total: SketchExport;
  readonly upstream: SketchExport;
  readonly histogram: HistogramExport;
}

export interface MetricsExport {
  /** Which process (`host:pid`). */
  readonly instance: string;
  readonly rules: readonly { readonly name: string; readonly responses: readonly number[]; readonly active: number; readonly rateLimited: number }[];
  readonly groups: readonly {
    readonly name: string;
    readonly responses: readonly number[];
    readonly active: number;
    readonly retries: number;
    readonly retriesRefused: number;
    readonly queued: number;
    readonly queueRejected: { readonly full: number; readonly timeout: number };
    readonly mirrored: { readonly answered: number; readonly failed: number; readonly skipped: number };
    readonly wsActive: number;
    /** 1 while the group's traffic goes to its fallback group, absent without one. */
    readonly failedOver?: number;
    readonly histogram: HistogramExport;
    readonly targets: readonly TargetExport[];
  }[];
  /** In-flight requests per group and target URL, from the process's health report. */
  readonly inflight: Readonly<Record<string, Readonly<Record<string, number>>>>;
  /** Client connections open on the process, where its runtime counts them. */
  readonly connections?: number;
}

/** One worker process of a host, as its primary sees it. */
export interface WorkerInfo {
  /** 1..N: the slot a worker fills (its replacements keep it). */
  readonly slot: number;
  readonly pid: number;
  /** Epoch ms. */
  readonly startedAt: number;
  /** Times this slot's worker died and was started again. */
  readonly crashes: number;
}

/** A host of worker processes as a whole (`--workers`): every worker's metrics and the workers themselves. */
export interface HostView {
  readonly exports: readonly MetricsExport[];
  readonly workers: readonly WorkerInfo[];
  /** Rolling restarts completed since the primary started. */
  readonly restarts: number;
  /** Since the primary started: the host's uptime. */
  readonly uptimeSeconds: number;
}

/** A host's worker processes as /metrics and the stats page read them, from any of them or their primary. */
export interface HostMetrics {
  /** Every worker's metrics and the workers themselves. */
  view(): Promise<HostView>;
}

const histogramOf = (h: LatencyHistogram): HistogramExport => ({ counts: [...h.counts], sum: h.sum });

function addHistogram(into: LatencyHistogram, x: HistogramExport): void {
  x.counts.forEach((n, i) => (into.counts[i]! += n));
  into.sum += x.sum;
}

const addInto = (into: Float64Array, values: readonly number[]) => values.forEach((n, i) => (into[i]! += n));

export function exportMetrics(metrics: Metrics, health: readonly GroupReport[], instance: string, connections?: number): MetricsExport {
  const epoch = metrics.epoch();
  const inflight: Record<string, Record<string, number>> = {};
  for (const g of health) inflight[g.group] = Object.fromEntries(g.targets.map((t) => [t.url, t.inflight]));
  return {
    instance,
    rules: [...metrics.rules.values()].map((r) => ({ name: r.name, responses: [...r.responses], active: r.active, rateLimited: r.rateLimited })),
    groups: [...metrics.groups.values()].map((g) => ({
      name: g.name,
      responses: [...g.responses],
      active: g.active,
      retries: g.retries,
      retriesRefused: g.retriesRefused,
      queued: g.queued,
      queueRejected: { ...g.queueRejected },
      mirrored: { ...g.mirrored },
      wsActive: g.wsActive,
      ...(g.failedOver === undefined ? {} : { failedOver: g.failedOver }),
      histogram: histogramOf(g.histogram),
      targets: g.targets.map((t) => ({
        url: t.url,
        responses: [...t.responses],
        errors: { ...t.errors },
        bodyErrors: { ...t.bodyErrors },
        bytesIn: t.bytesIn,
        bytesOut: t.bytesOut,
        wsActive: t.wsActive,
        wsTotal: t.wsTotal,
        ejections: t.ejections,
        total: t.total.exportWindow(epoch),
        upstream: t.upstream.exportWindow(epoch),
        histogram: histogramOf(t.histogram),
      })),
    })),
    inflight,
    ...(connections === undefined ? {} : { connections }),
  };
}

/** A registry holding the sum of `exports` (read it, never record into it). */
export function mergeExports(
  exports: readonly MetricsExport[],
  options: { now: () => number; balancer?: string; window?: Window; startedAt?: number },
): Metrics {
  const merged = createMetrics(options);
  for (const x of exports) {
    for (const r of x.rules) {
      const into = merged.rule(r.name);
      addInto(into.responses, r.responses);
      into.active += r.active;
      into.rateLimited += r.rateLimited ?? 0;
    }
    for (const g of x.groups) {
      const into = merged.group(g.name);
      addInto(into.responses, g.responses);
      into.active += g.active;
      into.retries += g.retries;
      // Absent in an export from an older worker (a rolling restart runs both).
      into.retriesRefused += g.retriesRefused ?? 0;
      into.queued += g.queued ?? 0;
      into.queueRejected.full += g.queueRejected?.full ?? 0;
      into.queueRejected.timeout += g.queueRejected?.timeout ?? 0;
      for (const k of ["answered", "failed", "skipped"] as const) into.mirrored[k] += g.mirrored?.[k] ?? 0;
      into.wsActive += g.wsActive;
      // Failed over on any worker is failed over for the host (they decide alike, from shared health).
      if (g.failedOver !== undefined) into.failedOver = Math.max(into.failedOver ?? 0, g.failedOver);
      addHistogram(into.histogram, g.histogram);
      for (const t of g.targets) {
        const target = merged.target(g.name, t.url);
        addInto(target.responses, t.responses);
        for (const k of Object.keys(target.errors) as TransportFailure[]) target.errors[k] += t.errors[k];
        for (const k of Object.keys(target.bodyErrors) as (keyof typeof target.bodyErrors)[]) target.bodyErrors[k] += t.bodyErrors[k];
        target.bytesIn += t.bytesIn;
        target.bytesOut += t.bytesOut;
        target.wsActive += t.wsActive;
        target.wsTotal += t.wsTotal;
        target.ejections += t.ejections;
        target.total.absorb(t.total);
        target.upstream.absorb(t.upstream);
        addHistogram(target.histogram, t.histogram);
      }
    }
  }
  return merged;
}

/** `health` (one process's report: states and weights are the host's, shared) with each target's in-flight count summed over `exports`. */
export function hostHealth(health: readonly GroupReport[], exports: readonly MetricsExport[]): GroupReport[] {
  return health.map((g) => ({
    ...g,
    targets: g.targets.map((t) => ({ ...t, inflight: hostInflight(exports, g.group, t.url) })),
  }));
}

/** In flight at a target on all the workers. Own properties only: a group called `toString` must not read Object.prototype's. */
export function hostInflight(exports: readonly MetricsExport[], group: string, url: string): number {
  let n = 0;
  for (const x of exports) {
    const g = Object.hasOwn(x.inflight, group) ? x.inflight[group]! : undefined;
    if (g !== undefined && Object.hasOwn(g, url)) n += g[url]!;
  }
  return n;
}

/** What /metrics and the stats page show: this process's registry, or the host's when it is one of several workers. */
export interface MetricsView {
  readonly metrics: Metrics;
  readonly health: readonly GroupReport[];
  readonly connections?: number;
  /** The host's workers, when there are several. */
  readonly host?: HostView;
}

/** The host as a whole (every worker's metrics merged, in-flight counts summed), from one process's health report. */
export function hostMetricsView(view: HostView, health: readonly GroupReport[], options: { now: () => number; balancer?: string }): MetricsView {
  const counted = view.exports.filter((x) => x.connections !== undefined);
  return {
    metrics: mergeExports(view.exports, { ...options, startedAt: options.now() - view.uptimeSeconds * 1000 }),
    health: hostHealth(health, view.exports),
    ...(counted.length ? { connections: counted.reduce((n, x) => n + x.connections!, 0) } : {}),
    host: view,
  };
}
