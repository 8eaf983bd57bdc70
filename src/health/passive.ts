/**
 * Passive health checks, nginx's way (`max_fails`, `fail_timeout`): failures
 * seen on real traffic take a target out for `fail_timeout`, and after the
 * window a single trial request decides whether it is back. Kept apart from
 * the table, like outlier.ts: the table calls it on each recorded attempt.
 * The fields and their names are nginx's peer fields (target-health.ts).
 */
import type { AttemptResult, TargetHealth } from "./target-health.ts";

/** What one attempt changed: the reason of a transition, and whether the target recovered (slow start applies). */
export interface PassiveChange {
  readonly reason: string | undefined;
  readonly recovered: boolean;
}

const NO_CHANGE: PassiveChange = { reason: undefined, recovered: false };

/** nginx `ngx_http_upstream_free_round_robin_peer`; `failed` is the attempt judged by `passive.failOn`. */
export function observePassive(t: TargetHealth, outcome: AttemptResult, failed: boolean, maxFails: number, now: number): PassiveChange {
  if (maxFails <= 0) return NO_CHANGE;
  if (failed) {
    // NGX_PEER_FAILED.
    t.fails++;
    t.checked = t.accessed = now;
    return t.fails === maxFails ? { reason: `${t.fails} failed attempt${t.fails === 1 ? "" : "s"} (${describe(outcome)})`, recovered: false } : NO_CHANGE;
  }
  if (t.accessed >= t.checked) return NO_CHANGE;
  // "mark peer live if check passed": a success after the window reopened.
  const wasDown = t.passiveDown(maxFails);
  t.fails = 0;
  return wasDown ? { reason: "trial request succeeded", recovered: true } : NO_CHANGE;
}

function describe(outcome: AttemptResult): string {
  return outcome.kind === "status" || outcome.kind === "ok" ? `status ${outcome.status ?? "?"}` : outcome.kind;
}
