/**
 * One read of the registry joined with the health provider: the data behind
 * the stats page and its `status.json`. Latency quantiles cover the sliding
 * window (see latency-sketch.ts); counters are cumulative since this process
 * (on Workers: this isolate) started.
 */
import { type Quantiles, quantilesOf } from "./latency-sketch.ts";
import { type GroupReport, type HealthCheckResult, isHealthy, type ReportedState } from "./health-provider.ts";
import { type GroupMetrics, type Metrics, STATUS_CLASSES, type StatusClass, type TargetMetrics } from "./registry.ts";
import type { TransportFailure } from "../health/schema.ts";

export type ByStatusClass = Record<StatusClass, number>;

/** Latency in ms; `null` when nothing was observed in the window (JSON has no NaN). */
export interface LatencySnapshot {
  count: number;
  p50: number | null;
  p95: number | null;
  p99: number | null;
}

export interface TargetSnapshot {
  url: string;
  /** Its name in the config (`targets[].name`), when it has one. */
  name?: string;
  /** `unknown` when the health provider does not list this target. */
  state: ReportedState | "unknown";
  weight: number | null;
  inflight: number;
  requests: number;
  responses: ByStatusClass;
  /** 5xx / requests, cumulative; 0 when no requests. */
  errorRate: number;
  upstreamErrors: Record<TransportFailure, number>;
  bytesIn: number;
  bytesOut: number;
  activeWebSockets: number;
  ejections: number;
  latency: LatencySnapshot;
  upstreamLatency: LatencySnapshot;
  lastCheck: HealthCheckResult | null;
}

export interface GroupSnapshot {
  name: string;
  healthyHosts: number;
  totalHosts: number;
  activeRequests: number;
  activeWebSockets: number;
  requests: number;
  responses: ByStatusClass;
  errorRate: number;
  retries: number;
  latency: LatencySnapshot;
  targets: TargetSnapshot[];
}

export interface RuleSnapshot {
  name: string;
  activeRequests: number;
  requests: number;
  responses: ByStatusClass;
}

export interface StatusSnapshot {
  balancer: string;
  /** Wall-clock ISO time of this snapshot. */
  time: string;
  uptimeSeconds: number;
  /** Length of the latency quantile window, seconds. */
  windowSeconds: number;
  groups: GroupSnapshot[];
  rules: RuleSnapshot[];
}

function byClass(a: Float64Array): ByStatusClass {
  const out = {} as ByStatusClass;
  STATUS_CLASSES.forEach((c, i) => (out[c] = a[i]!));
  return out;
}

const sum = (a: Float64Array) => a.reduce((x, y) => x + y, 0);
const rate5xx = (a: Float64Array) => (sum(a) === 0 ? 0 : a[4]! / sum(a));
const finite = (x: number) => (Number.isFinite(x) ? x : null);
const latency = (q: Quantiles): LatencySnapshot => ({ count: q.count, p50: finite(q.p50), p95: finite(q.p95), p99: finite(q.p99) });

function targetSnapshot(t: TargetMetrics | undefined, url: string, h: GroupReport["targets"][number] | undefined, epoch: number): TargetSnapshot {
  const responses = t?.responses ?? new Float64Array(STATUS_CLASSES.length);
  return {
    url,
    ...(h?.name === undefined ? {} : { name: h.name }),
    state: h?.state ?? "unknown",
    weight: h?.weight ?? null,
    inflight: h?.inflight ?? 0,
    requests: sum(responses),
    responses: byClass(responses),
    errorRate: rate5xx(responses),
    upstreamErrors: { ...(t?.errors ?? { connect: 0, timeout: 0, reset: 0 }) },
    bytesIn: t?.bytesIn ?? 0,
    bytesOut: t?.bytesOut ?? 0,
    activeWebSockets: t?.wsActive ?? 0,
    ejections: t?.ejections ?? 0,
    latency: latency(quantilesOf(t ? [t.total] : [], epoch)),
    upstreamLatency: latency(quantilesOf(t ? [t.upstream] : [], epoch)),
    lastCheck: h?.lastCheck ?? null,
  };
}

/** Groups in health-provider order, then any group only the registry knows; same for targets. */
type Joined = { name: string; m: GroupMetrics | undefined; h: GroupReport | undefined };
function joinGroups(metrics: Metrics, health: readonly GroupReport[]): Joined[] {
  const out = health.map<Joined>((h) => ({ name: h.group, m: metrics.groups.get(h.group), h }));
  for (const [name, m] of metrics.groups) if (!health.some((h) => h.group === name)) out.push({ name, m, h: undefined });
  return out;
}

export function statusSnapshot(metrics: Metrics, health: readonly GroupReport[]): StatusSnapshot {
  const epoch = metrics.epoch();
  const groups = joinGroups(metrics, health).map(({ name, m, h }): GroupSnapshot => {
    const healthTargets = h?.targets ?? [];
    const healthByUrl = new Map(healthTargets.map((t) => [t.url, t]));
    const metricsByUrl = new Map((m?.targets ?? []).map((t) => [t.url, t]));
    const urls = [...healthByUrl.keys(), ...[...metricsByUrl.keys()].filter((u) => !healthByUrl.has(u))];
    const targets = urls.map((url) => targetSnapshot(metricsByUrl.get(url), url, healthByUrl.get(url), epoch));
    const responses = m?.responses ?? new Float64Array(STATUS_CLASSES.length);
    return {
      name,
      healthyHosts: healthTargets.filter((t) => isHealthy(t.state)).length,
      totalHosts: urls.length,
      activeRequests: m?.active ?? 0,
      activeWebSockets: m?.wsActive ?? 0,
      requests: sum(responses),
      responses: byClass(responses),
      errorRate: rate5xx(responses),
      retries: m?.retries ?? 0,
      latency: latency(quantilesOf((m?.targets ?? []).map((t) => t.total), epoch)),
      targets,
    };
  });
  const rules = [...metrics.rules.values()].map((r) => ({
    name: r.name,
    activeRequests: r.active,
    requests: sum(r.responses),
    responses: byClass(r.responses),
  }));
  return {
    balancer: metrics.balancer,
    time: new Date(metrics.wallClock()).toISOString(),
    uptimeSeconds: (metrics.now() - metrics.startedAt) / 1000,
    windowSeconds: (metrics.window.bucketMs * metrics.window.buckets) / 1000,
    groups,
    rules,
  };
}
