/** A registry with a controllable clock, fed with a few real recorded requests. */
import { createMetrics, type Metrics } from "../../../src/metrics/registry.ts";
import type { GroupReport } from "../../../src/metrics/health-provider.ts";

export interface Clock {
  t: number;
  now: () => number;
}
export const clock = (t = 1_000_000): Clock => {
  const c: Clock = { t, now: () => c.t };
  return c;
};

/** Group "app" with two targets, 2xx and 5xx traffic, one retry, one WebSocket, one ejection. */
export function fedMetrics(c: Clock = clock()): Metrics {
  const m = createMetrics({ now: c.now, wallClock: () => Date.UTC(2025, 0, 2, 3, 4, 5), balancer: "edge" });
  const rule = m.rule("10");
  const group = m.group("app");
  const a = m.target("app", "http://10.0.0.1:9001");
  const b = m.target("app", "http://10.0.0.2:9002");
  for (let i = 1; i <= 100; i++) {
    const tok = m.requestStarted({ rule, group });
    m.requestFinished(tok, { status: 200, totalMs: i + 1, upstreamMs: i, bytesIn: 10, bytesOut: 100, retries: 0, target: a });
  }
  const failed = m.requestStarted({ rule, group });
  m.attemptFailed(a, "connect");
  m.requestFinished(failed, { status: 502, totalMs: 30, retries: 1, error: "reset", target: b });
  m.wsOpened({ group, target: b });
  m.ejection(b);
  return m;
}

export const appHealth = (bState: GroupReport["targets"][number]["state"] = "healthy"): GroupReport[] => [
  {
    group: "app",
    targets: [
      {
        url: "http://10.0.0.1:9001",
        state: "healthy",
        weight: 1,
        inflight: 2,
        lastCheck: { ok: true, at: Date.UTC(2025, 0, 2, 3, 4, 0), detail: "200 in 3 ms" },
      },
      { url: "http://10.0.0.2:9002", state: bState, weight: 3, inflight: 0 },
    ],
  },
];
