/**
 * Every group and target as the stats page, status.json and the gauges show
 * them, read from the current generation at scrape or poll time only.
 */
import type { HealthChecks } from "../health/checks.ts";
import type { GroupReport } from "../metrics/health-provider.ts";
import type { TargetGroup } from "../pool/group.ts";

export function healthView(groups: Iterable<TargetGroup>, checks: HealthChecks, monotonicNow: () => number): GroupReport[] {
  const now = monotonicNow();
  const wall = Date.now();
  return [...groups].map((g) => ({
    group: g.name,
    targets: g.targets.map((t, i) => {
      const s = g.health.status(i, now);
      const state = g.config.targets[i]!.backup && s.state === "healthy" ? "backup" : s.state;
      const probe = s.lastProbe;
      const name = g.config.targets[i]!.name;
      return {
        url: t.url,
        ...(name === undefined ? {} : { name }),
        state,
        weight: t.weight,
        inflight: t.inflight,
        lastCheck: probe && { ok: probe.ok, detail: probe.detail, at: wall - (now - probe.at) },
      };
    }),
    probing: checks.probing(g),
  }));
}
