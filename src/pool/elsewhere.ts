/**
 * A host's worker processes (`--workers`) tell one another what is in flight
 * at each target, every 250 ms through their primary, so that
 * least_connections and least_request weigh the host's load. Exact counts
 * would need a call to the primary on every request and every response
 * (JavaScript processes share no memory); a quarter of a second late is what
 * the strategies see of the other workers, their own count is exact.
 */
import { own } from "../state/store.ts";
import type { PoolTarget } from "./target.ts";

/** In flight per group and target URL; targets with none are left out. */
export type InflightReport = Record<string, Record<string, number>>;

/** How often each worker reports, and the primary passes the others' totals on. */
export const INFLIGHT_SHARE_MS = 250;

interface Grouped {
  readonly name: string;
  readonly targets: readonly PoolTarget[];
}

/** This worker's own counts. */
export function inflightReport(groups: Iterable<Grouped>): InflightReport {
  const out: InflightReport = {};
  for (const g of groups) {
    for (const t of g.targets) if (t.inflight > 0) (out[g.name] ??= {})[t.url] = t.inflight;
  }
  return out;
}

/** The other workers' totals, as the primary added them up: every target gets its count, 0 when absent. */
export function applyElsewhere(groups: Iterable<Grouped>, others: InflightReport): void {
  for (const g of groups) {
    const counts = own(others, g.name);
    for (const t of g.targets) t.shareElsewhere((counts && own(counts, t.url)) ?? 0);
  }
}

/** The sum of several workers' reports. */
export function addReports(reports: Iterable<InflightReport>): InflightReport {
  const out: InflightReport = {};
  for (const r of reports) {
    for (const [group, targets] of Object.entries(r)) {
      const into = (out[group] ??= {});
      for (const [url, n] of Object.entries(targets)) into[url] = (own(into, url) ?? 0) + n;
    }
  }
  return out;
}

/** `total` less one worker's own report: what the others have in flight. */
export function subtractReport(total: InflightReport, own_: InflightReport): InflightReport {
  const out: InflightReport = {};
  for (const [group, targets] of Object.entries(total)) {
    const mine = own(own_, group);
    for (const [url, n] of Object.entries(targets)) {
      const left = n - ((mine && own(mine, url)) ?? 0);
      if (left > 0) (out[group] ??= {})[url] = left;
    }
  }
  return out;
}
