/**
 * The bookkeeping of one attempt at a target, written once for HTTP
 * (forward.ts) and WebSocket upgrades (websocket-forward.ts): the target is
 * counted in flight and opens nginx's trial window when chosen; its answer or
 * failure goes to passive health and outlier detection and to the strategy
 * (pool/target.ts); a failure is logged once per transition, never per
 * request (a dead target under load would flood the log; the metrics count
 * every one); and whether another target may take the request is asked once.
 */
import { canRetry, type RetryQuestion } from "../health/retry-policy.ts";
import type { TransportFailure } from "../health/schema.ts";
import type { Metrics } from "../metrics/registry.ts";
import type { Platform } from "../platform.ts";
import type { PoolTarget } from "../pool/target.ts";

export interface AttemptDeps {
  readonly platform: Pick<Platform, "now" | "log">;
  readonly metrics: Pick<Metrics, "attemptFailed">;
}

export class Attempt {
  private counted = true;

  constructor(
    private readonly deps: AttemptDeps,
    readonly target: PoolTarget,
    /** `now()` when the target was chosen. */
    readonly startedAt: number,
  ) {
    target.beginAttempt(startedAt);
    target.begin();
  }

  /** The target no longer holds this request (its answer is out, or it failed). Idempotent. */
  release(): void {
    if (!this.counted) return;
    this.counted = false;
    this.target.end();
  }

  /** Whether this attempt still counts in flight at its target (a streamed body keeps it until relayed). */
  get holding(): boolean {
    return this.counted;
  }

  /** The target answered with `status` (a 101 included): returns when, and how long it took. */
  answered(status: number): { readonly at: number; readonly latencyMs: number } {
    const at = this.deps.platform.now();
    const latencyMs = at - this.startedAt;
    this.target.recordAttempt({ kind: "status", status }, latencyMs, at);
    const t = this.target;
    if (t.failing) {
      t.failing = false;
      this.deps.platform.log(`upstream answering again: group=${t.group} target=${t.url}`);
    }
    return { at, latencyMs };
  }

  /** The exchange with the target failed (`kind`: attempt-abort.ts `attemptFailure`); returns when. */
  failed(kind: TransportFailure, error: unknown): number {
    const at = this.deps.platform.now();
    this.target.recordAttempt({ kind }, at - this.startedAt, at);
    const t = this.target;
    if (!t.failing) {
      t.failing = true;
      const detail = error instanceof Error ? error.message : String(error);
      this.deps.platform.log(`upstream ${kind} error: group=${t.group} target=${t.url}: ${detail} (logged once until it answers again)`);
    }
    return at;
  }

  /**
   * May another target take the request after this attempt failed (health/retry-policy.ts)?
   * A failure that will be retried is counted in the metrics here; the last one is counted
   * with the request itself.
   */
  retry(question: Omit<RetryQuestion, "failure" | "status">, failure: TransportFailure | { status: number }): boolean {
    const q: RetryQuestion = typeof failure === "string" ? { ...question, failure } : { ...question, failure: "status", status: failure.status };
    const yes = canRetry(q);
    if (yes && typeof failure === "string") this.deps.metrics.attemptFailed(this.target.metrics, failure);
    return yes;
  }
}
