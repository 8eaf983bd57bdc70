/**
 * `fulcrum status` and `GET /v1/status`: every group and target as this
 * instance serves them, every rule with the action in use, and what the
 * state store overrides of the config file (marked, so an operator sees at a
 * glance what a file edit would not show).
 */
import type { GroupStatus, RuleStatus, Status, TargetStatus } from "../admin/api-schema.ts";
import { allRules, type Config } from "../config/schema.ts";
import type { GroupReport } from "../metrics/health-provider.ts";
import type { TargetStatus as HealthStatus } from "../health/table.ts";
import type { TargetGroup } from "../pool/group.ts";
import type { ActionConfig } from "../rules/schema.ts";
import { type JsonValue, own, type Snapshot } from "../state/store.ts";

export interface StatusView {
  readonly instance: string;
  readonly runtime: string;
  readonly file: { readonly location: string; readonly version: string; readonly loadedAt: number; readonly config: Config };
  readonly groups: ReadonlyMap<string, TargetGroup>;
  readonly report: readonly GroupReport[];
  readonly snapshot: Snapshot | undefined;
  /** The rules' actions as their automatic canaries make them. */
  readonly canaries?: ReadonlyMap<number | "default", ActionConfig>;
  readonly store: { readonly kind: string; readonly reachable: boolean };
  /** Monotonic now and wall-clock now, to turn drain deadlines into times. */
  readonly now: number;
  readonly wallNow: number;
}

type Overridden = TargetStatus["overridden"][number];

export function statusOf(v: StatusView): Status {
  return {
    instance: v.instance,
    runtime: v.runtime,
    config: { location: v.file.location, version: v.file.version, loadedAt: v.file.loadedAt },
    store: { ...v.store, version: v.snapshot?.version ?? 0 },
    rules: rulesOf(v.file.config, v.snapshot, v.canaries),
    groups: v.report.map((r) => groupStatus(v, r)),
  };
}

export function rulesOf(file: Config, snapshot: Snapshot | undefined, canaries: ReadonlyMap<number | "default", ActionConfig> = new Map()): RuleStatus[] {
  const actions = snapshot?.actions ?? {};
  const rule = (key: number | "default", configAction: ActionConfig): RuleStatus => {
    const override = own(actions, String(key));
    const canary = override === undefined ? canaries.get(key) : undefined;
    return {
      rule: key,
      action: (override ?? canary ?? configAction) as JsonValue,
      configAction: configAction as unknown as JsonValue,
      overridden: override !== undefined,
      ...(canary !== undefined ? { canary: true } : {}),
    };
  };
  const rules = allRules(file).sort((a, b) => a.priority - b.priority).map((r) => rule(r.priority, r.action));
  // Without a config-wide default action every listener has its own, which no override replaces.
  return file.defaultAction ? [...rules, rule("default", file.defaultAction)] : rules;
}

function groupStatus(v: StatusView, report: GroupReport): GroupStatus {
  const group = v.groups.get(report.group);
  const fileGroup = own(v.file.config.targetGroups, report.group);
  const shared = v.snapshot && own(v.snapshot.groups, report.group);
  const fallback = group?.config.fallbackGroup;
  return {
    name: report.group,
    strategy: group?.config.strategy ?? "",
    ...(fallback !== undefined ? { fallback: { group: fallback, minHealthy: group!.config.minHealthy, active: group!.metrics.failedOver === 1 } } : {}),
    targets: report.targets.map((t, i) => {
      const config = group?.config.targets[i];
      const inFile = fileGroup?.targets.find((f) => f.url === t.url);
      const overridden: Overridden[] = [];
      if (shared && own(shared.weights, t.url) !== undefined) overridden.push("weight");
      if (shared && own(shared.drains, t.url) !== undefined) overridden.push("drain");
      if (shared?.added && own(shared.added, t.url) !== undefined && !inFile) overridden.push("added");
      const removeAt = shared?.removed && own(shared.removed, t.url)?.at;
      if (removeAt !== undefined) overridden.push("removed");
      const deadline = group?.targets[i]?.drainDeadline();
      const health = group?.health.status(i, v.now);
      const wall = (at: number) => Math.round(v.wallNow + (at - v.now));
      const why = health && whyOut(health, t.state);
      return {
        ...(config?.name === undefined ? {} : { name: config.name }),
        url: t.url,
        state: t.state,
        weight: t.weight,
        configWeight: inFile?.weight ?? null,
        inflight: t.inflight,
        backup: config?.backup ?? false,
        draining: deadline !== undefined,
        ...(deadline === undefined ? {} : { drainEndsAt: Math.round(v.wallNow + (deadline - v.now)) }),
        ...(removeAt === undefined ? {} : { removeAt }),
        overridden,
        ...(health ? { since: wall(health.since) } : {}),
        ...(why?.reason === undefined ? {} : { reason: why.reason }),
        ...(why?.retryAt === undefined ? {} : { retryAt: wall(why.retryAt) }),
      };
    }),
  };
}

/** Why a target takes no new traffic, and when it is tried again, from its health (what an operator asks first in an incident). */
function whyOut(h: HealthStatus, state: string): { reason?: string; retryAt?: number } | undefined {
  if (h.ejectedUntil !== undefined) {
    return { reason: `ejected by outlier detection (${h.ejections} time${h.ejections === 1 ? "" : "s"})`, retryAt: h.ejectedUntil };
  }
  if (h.downUntil !== undefined) return { reason: `${h.fails} failed attempt${h.fails === 1 ? "" : "s"} (passive)`, retryAt: h.downUntil };
  if (state === "unhealthy" && h.lastProbe && !h.lastProbe.ok) return { reason: `health check failed: ${h.lastProbe.detail}` };
  if (state === "unhealthy") return { reason: "failed attempts (passive); back after a trial request succeeds" };
  return undefined;
}

/** `forward green`, `forward blue=90 green=10`, `redirect 301`, `fixed response 503`: an action in one phrase. */
export function describeAction(action: unknown): string {
  const a = action as { forward?: unknown; redirect?: { statusCode?: number }; fixedResponse?: { statusCode?: number } } | null;
  if (typeof a?.forward === "string") return `forward ${a.forward}`;
  const groups = (a?.forward as { targetGroups?: { group: string; weight?: number }[] } | undefined)?.targetGroups;
  if (groups) return `forward ${groups.map((g) => `${g.group}=${g.weight ?? 1}`).join(" ")}`;
  if (a?.redirect) return `redirect ${a.redirect.statusCode ?? ""}`.trim();
  if (a?.fixedResponse) return `fixed response ${a.fixedResponse.statusCode ?? ""}`.trim();
  return JSON.stringify(action);
}
