/**
 * The change log (`fulcrum events`, the stats page): every change an operator
 * makes (API, reload, SIGHUP) and every health verdict a balancer reaches,
 * with when, where, who, and what it was before and after. Kept in the state
 * store, bounded, so every instance sharing it shows the same log; each entry
 * is also one line of this instance's log.
 *
 * Recording never fails a change: a store that is down loses the entry (the
 * log line says so), as the change itself already went through the store.
 */
import type { Transition } from "../health/table.ts";
import type { ChangeEvent, JsonValue, StateStore } from "../state/store.ts";

export type Entry = Omit<ChangeEvent, "at" | "instance">;

const shown = (x: JsonValue | undefined) => (x === undefined ? "" : typeof x === "string" ? x : JSON.stringify(x));

/** One line for a log: `change: drain app/app1 by api 127.0.0.1 (token ci): in service -> draining`. */
export function describeEvent(e: Pick<ChangeEvent, "kind" | "subject" | "source" | "before" | "after" | "detail">): string {
  const change = e.before !== undefined || e.after !== undefined ? `: ${shown(e.before) || "-"} -> ${shown(e.after) || "-"}` : "";
  return `${e.kind} ${e.subject} by ${e.source}${change}${e.detail ? ` (${e.detail})` : ""}`;
}

export class ChangeLog {
  constructor(
    private readonly store: () => StateStore,
    readonly instance: string,
    private readonly log: (line: string) => void,
    private readonly now: () => number = Date.now,
  ) {}

  /** Record `entry` (logged now; in the store when it answers). */
  async record(entry: Entry): Promise<void> {
    const event: ChangeEvent = { at: this.now(), instance: this.instance, ...entry };
    this.log(`change: ${describeEvent(event)}`);
    await this.store().appendEvent(event).catch((error: unknown) =>
      this.log(`change log: entry not stored (${error instanceof Error ? error.message : String(error)})`)
    );
  }

  recent(limit: number): Promise<ChangeEvent[]> {
    return this.store().recentEvents(limit);
  }

  /**
   * A health verdict this instance reached (probes, passive checks, outlier
   * ejection). Verdicts taken from another instance through the store are
   * that instance's entries; drains and slow start are the operator's
   * changes, recorded by them. The health checks already log every
   * transition, so this one is not logged again.
   */
  health(group: string, target: string, t: Transition): void {
    if (t.shared || !(VERDICTS.has(t.from) || VERDICTS.has(t.to))) return;
    const event: ChangeEvent = {
      at: this.now(),
      instance: this.instance,
      source: sourceOf(t.reason),
      kind: "health",
      subject: `${group}/${target}`,
      before: t.from,
      after: t.to,
      detail: t.reason,
    };
    this.appendQuietly(event);
  }

  /** This instance sent a group's traffic to its fallback group, or took it back (pool/failover.ts). */
  failover(group: string, fallback: string, down: boolean, why: string): void {
    const event: ChangeEvent = {
      at: this.now(),
      instance: this.instance,
      source: "failover",
      kind: "failover",
      subject: `group ${group}`,
      before: down ? group : fallback,
      after: down ? fallback : group,
      detail: why,
    };
    this.appendQuietly(event);
  }

  /** A verdict this instance reached, already logged where it was reached: stored if the store answers. */
  private appendQuietly(event: ChangeEvent): void {
    void this.store().appendEvent(event).catch(() => {});
  }
}

const VERDICTS = new Set(["unhealthy", "ejected"]);

/** Which check reached a verdict, from its reason (health/passive.ts, probe-thresholds.ts, outlier.ts). */
function sourceOf(reason: string): string {
  if (reason.includes("probe")) return "health checks";
  if (reason.includes("eject") || reason.includes("5xx") || reason.includes("gateway")) return "outlier detection";
  return "passive checks";
}
