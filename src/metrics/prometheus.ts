/**
 * Prometheus text exposition format 0.0.4 (`text/plain; version=0.0.4`).
 *
 * Latency is exposed twice, for two questions:
 *   - a **summary** (`…_latency_seconds`): this instance's quantiles from the
 *     DDSketches, within 1 % of the truth at any latency, over the sliding
 *     window of latency-sketch.ts (client_golang's `MaxAge`), NaN when it is
 *     empty, as client_golang does. Summary quantiles cannot be aggregated.
 *   - a **histogram** (`…_request_duration_seconds`, histogram.ts): fixed
 *     buckets that add up across instances, isolates and workers, so
 *     `histogram_quantile` gives a fleet's p99, as precise as the buckets
 *     (a p99 between 100 ms and 250 ms is interpolated).
 *
 * Every series carries `balancer`; error rates are left to PromQL
 * (`rate(fulcrum_target_requests_total{class="5xx"}[1m]) / rate(…[1m])`),
 * since a pre-computed ratio gauge cannot be re-aggregated.
 *
 * Counters cover this process (on Workers: this isolate) since it started.
 */
import { type GroupReport, isHealthy, REPORTED_STATES, type StateStatus, type TargetReport } from "./health-provider.ts";
import { type LatencySketch, quantilesOf } from "./latency-sketch.ts";
import { labelPairs } from "./labels.ts";
import { cumulative, LATENCY_BUCKETS, type LatencyHistogram } from "./histogram.ts";
import { type Metrics, STATUS_CLASSES, type TargetMetrics } from "./registry.ts";
import type { HostView } from "./export.ts";

export const PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

type Type = "counter" | "gauge" | "summary" | "histogram";

class Exposition {
  private readonly lines: string[] = [];
  family(name: string, type: Type, help: string): void {
    // HELP text escapes backslash and line feed (not quotes).
    this.lines.push(`# HELP ${name} ${help.replace(/\\/g, "\\\\").replace(/\n/g, "\\n")}`, `# TYPE ${name} ${type}`);
  }
  sample(name: string, labels: string, value: number): void {
    this.lines.push(`${name}${labels === "" ? "" : `{${labels}}`} ${formatValue(value)}`);
  }
  text(): string {
    return this.lines.join("\n") + "\n";
  }
}

export function formatValue(v: number): string {
  if (Number.isNaN(v)) return "NaN";
  if (v === Infinity) return "+Inf";
  if (v === -Infinity) return "-Inf";
  return String(v);
}

const QUANTILES = [
  ["0.5", "p50"],
  ["0.95", "p95"],
  ["0.99", "p99"],
] as const;

/** Merged sketches exposed as one summary series, in seconds. */
function summary(out: Exposition, name: string, labels: string, sketches: readonly LatencySketch[], epoch: number): void {
  const q = quantilesOf(sketches, epoch);
  for (const [quantile, key] of QUANTILES) out.sample(name, `${labels},quantile="${quantile}"`, q[key] / 1000);
  out.sample(`${name}_sum`, labels, sketches.reduce((s, k) => s + k.sum, 0) / 1000);
  out.sample(`${name}_count`, labels, sketches.reduce((s, k) => s + k.count, 0));
}

/** Histograms added together, as one histogram series in seconds. */
function histogram(out: Exposition, name: string, labels: string, histograms: readonly LatencyHistogram[]): void {
  const counts = cumulative(histograms);
  LATENCY_BUCKETS.forEach((le, i) => out.sample(`${name}_bucket`, `${labels},le="${le}"`, counts[i]!));
  out.sample(`${name}_bucket`, `${labels},le="+Inf"`, counts[counts.length - 1]!);
  out.sample(`${name}_sum`, labels, histograms.reduce((s, h) => s + h.sum, 0) / 1000);
  out.sample(`${name}_count`, labels, counts[counts.length - 1]!);
}

function byClass(out: Exposition, name: string, labels: string, responses: Float64Array): void {
  STATUS_CLASSES.forEach((c, i) => out.sample(name, `${labels},class="${c}"`, responses[i]!));
}

/** One series per key of `counts`, in the order `keys` gives, labelled `label="key"`. */
function byKey<K extends string>(out: Exposition, name: string, labels: string, label: string, counts: Readonly<Record<K, number>>, keys: readonly K[]): void {
  for (const k of keys) out.sample(name, `${labels},${label}="${k}"`, counts[k]);
}

/** Every family is written even when it has no series yet, so dashboards see the names. */
/**
 * `connections`: client connections open now, where the runtime counts them (absent: no such
 * family). `host`: the host's workers, when `metrics` is their merged registry (`--workers`).
 */
export function renderPrometheus(metrics: Metrics, health: readonly GroupReport[], state?: StateStatus, connections?: number, host?: HostView): string {
  const out = new Exposition();
  const epoch = metrics.epoch();
  const base = labelPairs({ balancer: metrics.balancer });
  const rules = [...metrics.rules.values()];
  const groups = [...metrics.groups.values()];
  const targets = groups.flatMap((g) => g.targets);

  out.family("fulcrum_uptime_seconds", "gauge", "Seconds since this process (on Workers: this isolate) started counting.");
  out.sample("fulcrum_uptime_seconds", base, (metrics.now() - metrics.startedAt) / 1000);

  if (host) renderWorkers(out, base, host);
  if (connections !== undefined) {
    out.family(
      "fulcrum_client_connections",
      "gauge",
      "Client connections open now on this process's listeners (keep-alive idle ones and WebSockets included).",
    );
    out.sample("fulcrum_client_connections", base, connections);
  }

  out.family("fulcrum_rule_requests_total", "counter", "Requests matched by a listener rule, by response status class.");
  for (const r of rules) byClass(out, "fulcrum_rule_requests_total", r.labels, r.responses);
  out.family("fulcrum_rule_active_requests", "gauge", "Requests matched by a rule and not finished.");
  for (const r of rules) out.sample("fulcrum_rule_active_requests", r.labels, r.active);

  out.family(
    "fulcrum_rule_rate_limited_total",
    "counter",
    "Requests matched by a listener rule and refused with 429 by a rate limit (the rule's, or the config's).",
  );
  for (const r of rules) out.sample("fulcrum_rule_rate_limited_total", r.labels, r.rateLimited);

  out.family("fulcrum_group_requests_total", "counter", "Requests routed to a target group, by response status class (503s with no usable target included).");
  for (const g of groups) byClass(out, "fulcrum_group_requests_total", g.labels, g.responses);
  out.family("fulcrum_group_active_requests", "gauge", "HTTP requests in flight in a target group.");
  for (const g of groups) out.sample("fulcrum_group_active_requests", g.labels, g.active);
  out.family("fulcrum_group_active_websockets", "gauge", "Open WebSocket connections in a target group.");
  for (const g of groups) out.sample("fulcrum_group_active_websockets", g.labels, g.wsActive);
  out.family("fulcrum_group_retries_total", "counter", "Upstream attempts after the first, in a target group.");
  for (const g of groups) out.sample("fulcrum_group_retries_total", g.labels, g.retries);
  out.family("fulcrum_group_retries_refused_total", "counter", "Retries not made because the group's retry budget (retries.budgetPercent) was spent.");
  for (const g of groups) out.sample("fulcrum_group_retries_refused_total", g.labels, g.retriesRefused);
  out.family(
    "fulcrum_group_mirrored_requests_total",
    "counter",
    "Copies of other groups' requests sent to this group (mirror), by outcome: answered, failed, or skipped (no target, or a body too large or of unknown length).",
  );
  for (const g of groups) byKey(out, "fulcrum_group_mirrored_requests_total", g.labels, "outcome", g.mirrored, ["answered", "failed", "skipped"]);
  out.family("fulcrum_group_queued_requests", "gauge", "Requests waiting in a group's queue for a target under its maxConnections.");
  for (const g of groups) out.sample("fulcrum_group_queued_requests", g.labels, g.queued);
  out.family(
    "fulcrum_group_queue_rejected_total",
    "counter",
    "Requests answered 503 because every target that was up was at its maxConnections: the queue was full (or absent), or the wait timed out.",
  );
  for (const g of groups) byKey(out, "fulcrum_group_queue_rejected_total", g.labels, "reason", g.queueRejected, ["full", "timeout"]);
  out.family("fulcrum_group_latency_seconds", "summary", "Client-observed latency of requests served by a group's targets (quantiles over a sliding window).");
  for (const g of groups) summary(out, "fulcrum_group_latency_seconds", g.labels, g.targets.map((t) => t.total), epoch);
  out.family(
    "fulcrum_group_request_duration_seconds",
    "histogram",
    "Client-observed latency of requests served by a group's targets, in buckets that aggregate across instances.",
  );
  for (const g of groups) histogram(out, "fulcrum_group_request_duration_seconds", g.labels, [g.histogram]);

  out.family(
    "fulcrum_group_failed_over",
    "gauge",
    "1 while a group's traffic goes to its fallbackGroup (fewer than minHealthy targets available), 0 when not.",
  );
  for (const g of groups) if (g.failedOver !== undefined) out.sample("fulcrum_group_failed_over", g.labels, g.failedOver);

  out.family("fulcrum_group_healthy_hosts", "gauge", "Targets of a group passing health checks and able to take new requests.");
  for (const h of health) {
    out.sample(
      "fulcrum_group_healthy_hosts",
      `${base},${labelPairs({ group: h.group })}`,
      h.targets.filter((t) => isHealthy(t.state)).length,
    );
  }
  out.family("fulcrum_group_hosts", "gauge", "Targets configured in a group.");
  for (const h of health) out.sample("fulcrum_group_hosts", `${base},${labelPairs({ group: h.group })}`, h.targets.length);

  out.family("fulcrum_target_requests_total", "counter", "Requests whose last attempt went to a target, by response status class.");
  for (const t of targets) byClass(out, "fulcrum_target_requests_total", t.labels, t.responses);
  out.family("fulcrum_target_upstream_errors_total", "counter", "Failed upstream attempts at a target, by kind (connect, timeout, reset).");
  for (const t of targets) byKey(out, "fulcrum_target_upstream_errors_total", t.labels, "kind", t.errors, ["connect", "timeout", "reset"]);
  out.family(
    "fulcrum_target_response_body_errors_total",
    "counter",
    "Response bodies a target broke off after the client had its headers, by kind (timeout: no bytes for timeouts.read; truncated: shorter than its Content-Length; reset).",
  );
  for (const t of targets) byKey(out, "fulcrum_target_response_body_errors_total", t.labels, "kind", t.bodyErrors, ["timeout", "truncated", "reset"]);
  out.family("fulcrum_target_request_bytes_total", "counter", "Request body bytes received from clients for a target.");
  for (const t of targets) out.sample("fulcrum_target_request_bytes_total", t.labels, t.bytesIn);
  out.family("fulcrum_target_response_bytes_total", "counter", "Response body bytes sent to clients from a target.");
  for (const t of targets) out.sample("fulcrum_target_response_bytes_total", t.labels, t.bytesOut);
  out.family("fulcrum_target_active_websockets", "gauge", "Open WebSocket connections to a target.");
  for (const t of targets) out.sample("fulcrum_target_active_websockets", t.labels, t.wsActive);
  out.family("fulcrum_target_websockets_total", "counter", "WebSocket connections opened to a target.");
  for (const t of targets) out.sample("fulcrum_target_websockets_total", t.labels, t.wsTotal);
  out.family("fulcrum_target_ejections_total", "counter", "Times passive health checking ejected a target.");
  for (const t of targets) out.sample("fulcrum_target_ejections_total", t.labels, t.ejections);
  out.family(
    "fulcrum_target_latency_seconds",
    "summary",
    "Client-observed latency of requests whose last attempt went to a target (quantiles over a sliding window).",
  );
  for (const t of targets) summary(out, "fulcrum_target_latency_seconds", t.labels, [t.total], epoch);
  out.family(
    "fulcrum_target_request_duration_seconds",
    "histogram",
    "Client-observed latency of requests whose last attempt went to a target, in buckets that aggregate across instances.",
  );
  for (const t of targets) histogram(out, "fulcrum_target_request_duration_seconds", t.labels, [t.histogram]);
  out.family("fulcrum_target_upstream_latency_seconds", "summary", "Time to a target's response headers (quantiles over a sliding window).");
  for (const t of targets) summary(out, "fulcrum_target_upstream_latency_seconds", t.labels, [t.upstream], epoch);

  renderHealth(out, metrics, base, health);
  if (state) {
    out.family(
      "fulcrum_state_store_reachable",
      "gauge",
      "1 while this instance reaches its state store (memory always), 0 while it serves on its last known state.",
    );
    out.sample("fulcrum_state_store_reachable", `${base},${labelPairs({ store: state.store })}`, state.reachable ? 1 : 0);
  }
  out.family("fulcrum_group_probing", "gauge", "1 if this instance sends the group's active health checks, 0 if it applies another instance's (shared state).");
  for (const h of health) if (h.probing !== undefined) out.sample("fulcrum_group_probing", `${base},${labelPairs({ group: h.group })}`, h.probing ? 1 : 0);
  return out.text();
}

function renderHealth(out: Exposition, metrics: Metrics, base: string, health: readonly GroupReport[]): void {
  const rows: { labels: string; t: TargetReport }[] = [];
  for (const g of health) {
    const known = new Map((metrics.groups.get(g.group)?.targets ?? []).map((k): [string, TargetMetrics] => [k.url, k]));
    for (const t of g.targets) {
      // Reuse the pre-rendered labels where the registry has the target.
      const m = known.get(t.url);
      rows.push({ labels: m?.labels ?? `${base},${labelPairs({ group: g.group, target: t.url })}`, t });
    }
  }
  out.family("fulcrum_target_state", "gauge", "Health state of a target: 1 for its current state, 0 for the others.");
  for (const { labels, t } of rows) for (const s of REPORTED_STATES) out.sample("fulcrum_target_state", `${labels},state="${s}"`, t.state === s ? 1 : 0);
  out.family("fulcrum_target_weight", "gauge", "Configured weight of a target.");
  for (const { labels, t } of rows) out.sample("fulcrum_target_weight", labels, t.weight);
  out.family("fulcrum_target_inflight_requests", "gauge", "Requests in flight at a target.");
  for (const { labels, t } of rows) out.sample("fulcrum_target_inflight_requests", labels, t.inflight);
  out.family("fulcrum_target_last_check_success", "gauge", "1 if a target's last active health check passed, 0 if it failed.");
  for (const { labels, t } of rows) if (t.lastCheck) out.sample("fulcrum_target_last_check_success", labels, t.lastCheck.ok ? 1 : 0);
  out.family("fulcrum_target_last_check_timestamp_seconds", "gauge", "Wall-clock time of a target's last active health check.");
  for (const { labels, t } of rows) if (t.lastCheck) out.sample("fulcrum_target_last_check_timestamp_seconds", labels, t.lastCheck.at / 1000);
}

/** The host's worker processes: how many serve, how often each died, and each one's share of the requests. */
function renderWorkers(out: Exposition, base: string, host: HostView): void {
  out.family("fulcrum_workers", "gauge", "Worker processes serving on this host (--workers); every other series is the sum over them.");
  out.sample("fulcrum_workers", base, host.workers.length);
  out.family("fulcrum_worker_crashes_total", "counter", "Times a worker process died and the primary started another in its place.");
  for (const w of host.workers) out.sample("fulcrum_worker_crashes_total", `${base},${labelPairs({ worker: String(w.slot) })}`, w.crashes);
  out.family("fulcrum_worker_rolling_restarts_total", "counter", "Rolling restarts (fulcrum restart, SIGUSR2) completed since the primary started.");
  out.sample("fulcrum_worker_rolling_restarts_total", base, host.restarts);
  out.family("fulcrum_worker_requests_total", "counter", "Requests a worker process answered since it started (it restarts from 0 when replaced).");
  const slotOf = new Map(host.workers.map((w) => [w.pid, w.slot]));
  for (const x of host.exports) {
    const slot = slotOf.get(Number(x.instance.split(":").pop()));
    if (slot === undefined) continue;
    const requests = x.rules.reduce((n, r) => n + r.responses.reduce((a, b) => a + b, 0), 0);
    out.sample("fulcrum_worker_requests_total", `${base},${labelPairs({ worker: String(slot) })}`, requests);
  }
}
