/**
 * The exposition is checked by a real parser and linter: Debian's
 * `promtool check metrics` (package `prometheus`) reads it on stdin and must
 * exit 0 with no lint problems.
 */
import { describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { escapeLabelValue } from "../../../src/metrics/labels.ts";
import { formatValue, renderPrometheus } from "../../../src/metrics/prometheus.ts";
import { createMetrics } from "../../../src/metrics/registry.ts";
import { appHealth, clock, fedMetrics } from "./fixtures.ts";

const PROMTOOL = "/usr/bin/promtool";

function promtool(text: string): { code: number; output: string } {
  if (!existsSync(PROMTOOL)) throw new Error(`${PROMTOOL} missing: apt-get install -y prometheus`);
  const r = Bun.spawnSync([PROMTOOL, "check", "metrics"], { stdin: new TextEncoder().encode(text), stdout: "pipe", stderr: "pipe" });
  return { code: r.exitCode, output: r.stdout.toString() + r.stderr.toString() };
}

/** Sample lines as name{labels} → value. */
function samples(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const i = line.lastIndexOf(" ");
    out.set(line.slice(0, i), line.slice(i + 1));
  }
  return out;
}

describe("prometheus exposition", () => {
  test("promtool accepts a fed registry with no lint problems", () => {
    const text = renderPrometheus(fedMetrics(), appHealth("ejected"));
    const r = promtool(text);
    expect(r.output).toBe("");
    expect(r.code).toBe(0);
  });

  test("shared state: store reachability and which instance probes, accepted by promtool", () => {
    const health = appHealth("healthy").map((g) => ({ ...g, probing: false }));
    const text = renderPrometheus(fedMetrics(), health, { store: "redis", reachable: false });
    const s = samples(text);
    expect(s.get('fulcrum_state_store_reachable{balancer="edge",store="redis"}')).toBe("0");
    expect(s.get('fulcrum_group_probing{balancer="edge",group="app"}')).toBe("0");
    expect(promtool(text)).toEqual({ code: 0, output: "" });
  });

  test("promtool accepts an empty registry (families without series, NaN quantiles)", () => {
    const m = createMetrics({ now: () => 0 });
    m.target("g", "http://a:1");
    const text = renderPrometheus(m, []);
    expect(text).toContain('fulcrum_target_latency_seconds{balancer="fulcrum",group="g",target="http://a:1",quantile="0.99"} NaN');
    expect(promtool(text)).toEqual({ code: 0, output: "" });
  });

  test("the linter does catch problems (so the checks above can fail)", () => {
    const r = promtool('# HELP fulcrum_x a\n# TYPE fulcrum_x counter\nfulcrum_x{a="b"} 1\n');
    expect(r.output).toContain("_total");
    expect(promtool("fulcrum_x{a=b} 1\n").code).not.toBe(0);
  });

  test("values: counters, gauges, summary in seconds, health state set", () => {
    const s = samples(renderPrometheus(fedMetrics(), appHealth("ejected")));
    const a = 'balancer="edge",group="app",target="http://10.0.0.1:9001"';
    const b = 'balancer="edge",group="app",target="http://10.0.0.2:9002"';
    expect(s.get(`fulcrum_target_requests_total{${a},class="2xx"}`)).toBe("100");
    expect(s.get(`fulcrum_target_requests_total{${b},class="5xx"}`)).toBe("1");
    expect(s.get(`fulcrum_group_requests_total{balancer="edge",group="app",class="5xx"}`)).toBe("1");
    expect(s.get(`fulcrum_rule_requests_total{balancer="edge",rule="10",class="2xx"}`)).toBe("100");
    expect(s.get(`fulcrum_target_upstream_errors_total{${a},kind="connect"}`)).toBe("1");
    expect(s.get(`fulcrum_target_upstream_errors_total{${b},kind="reset"}`)).toBe("1");
    expect(s.get(`fulcrum_group_retries_total{balancer="edge",group="app"}`)).toBe("1");
    expect(s.get(`fulcrum_target_request_bytes_total{${a}}`)).toBe("1000");
    expect(s.get(`fulcrum_target_response_bytes_total{${a}}`)).toBe("10000");
    expect(s.get(`fulcrum_target_active_websockets{${b}}`)).toBe("1");
    expect(s.get(`fulcrum_target_ejections_total{${b}}`)).toBe("1");
    expect(s.get(`fulcrum_target_state{${b},state="ejected"}`)).toBe("1");
    expect(s.get(`fulcrum_target_state{${b},state="healthy"}`)).toBe("0");
    expect(s.get(`fulcrum_group_healthy_hosts{balancer="edge",group="app"}`)).toBe("1");
    expect(s.get(`fulcrum_group_hosts{balancer="edge",group="app"}`)).toBe("2");
    expect(s.get(`fulcrum_target_inflight_requests{${a}}`)).toBe("2");
    expect(s.get(`fulcrum_target_weight{${b}}`)).toBe("3");
    expect(s.get(`fulcrum_target_last_check_success{${a}}`)).toBe("1");
    expect(s.has(`fulcrum_target_last_check_success{${b}}`)).toBe(false);
    // totalMs were 2..101 ms: sum 5150 ms, p50 ≈ 51 ms (within 1 %)
    expect(s.get(`fulcrum_target_latency_seconds_count{${a}}`)).toBe("100");
    expect(Number(s.get(`fulcrum_target_latency_seconds_sum{${a}}`))).toBeCloseTo(5.15, 9);
    const p50 = Number(s.get(`fulcrum_target_latency_seconds{${a},quantile="0.5"}`));
    expect(Math.abs(p50 - 0.051) / 0.051).toBeLessThanOrEqual(0.0101);
    // group summary merges its targets
    expect(s.get(`fulcrum_group_latency_seconds_count{balancer="edge",group="app"}`)).toBe("101");
  });

  test("histograms: cumulative bucket counts in seconds, +Inf equal to the count", () => {
    const s = samples(renderPrometheus(fedMetrics(), appHealth("healthy")));
    const a = 'balancer="edge",group="app",target="http://10.0.0.1:9001"';
    // totalMs were 2..101 ms: how many are ≤ each bound.
    const expected: Record<string, string> = {
      "0.001": "0",
      "0.0025": "1",
      "0.005": "4",
      "0.01": "9",
      "0.025": "24",
      "0.05": "49",
      "0.1": "99",
      "0.25": "100",
      "+Inf": "100",
    };
    for (const [le, n] of Object.entries(expected)) expect([le, s.get(`fulcrum_target_request_duration_seconds_bucket{${a},le="${le}"}`)]).toEqual([le, n]);
    expect(s.get(`fulcrum_target_request_duration_seconds_count{${a}}`)).toBe("100");
    expect(Number(s.get(`fulcrum_target_request_duration_seconds_sum{${a}}`))).toBeCloseTo(5.15, 9);
    // The group's own histogram counts the requests of both targets.
    expect(s.get(`fulcrum_group_request_duration_seconds_bucket{balancer="edge",group="app",le="+Inf"}`)).toBe("101");
  });

  test("label values are escaped (backslash, quote, line feed) and still parse", () => {
    expect(escapeLabelValue('a\\b"c\nd')).toBe('a\\\\b\\"c\\nd');
    const m = createMetrics({ now: () => 0, balancer: 'we"ird\\name\nx' });
    const g = m.group("g");
    m.requestFinished(m.requestStarted({ rule: m.rule("default"), group: g }), { status: 200, totalMs: 1, retries: 0, target: m.target("g", "http://h:1") });
    const text = renderPrometheus(m, [{ group: "g", targets: [{ url: "http://h:1", state: "healthy", weight: 1, inflight: 0 }] }]);
    expect(text).toContain('balancer="we\\"ird\\\\name\\nx"');
    expect(promtool(text)).toEqual({ code: 0, output: "" });
  });

  test("formatValue: NaN and infinities as the format spells them", () => {
    expect([NaN, Infinity, -Infinity, 1.5, 0].map(formatValue)).toEqual(["NaN", "+Inf", "-Inf", "1.5", "0"]);
  });

  test("uptime comes from the injected clock", () => {
    const c = clock(0);
    const m = createMetrics({ now: c.now });
    c.t = 2500;
    expect(samples(renderPrometheus(m, [])).get('fulcrum_uptime_seconds{balancer="fulcrum"}')).toBe("2.5");
  });
});
