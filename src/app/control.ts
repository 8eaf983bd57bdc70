/**
 * Changing a running balancer: a rule's action (blue/green, canary weights),
 * a target's drain and weight, targets added and removed, and reloads. Every
 * change is an override written to the state store, layered over the config
 * file, and applied from the snapshot the write returns (here at once, on
 * every other instance sharing the store within one cacheTtl, or at once
 * where the store pushes changes), so all of them apply the same change; each
 * lands in the change log with who asked. A change swaps what it affects in
 * one assignment: a request sees the old action or the new one, never a mix.
 *
 * A target is named by its `name` or its URL, as HAProxy's runtime API takes
 * `backend/server`.
 */
import * as v from "valibot";
import { hostInflight } from "../metrics/export.ts";
import type { HostWorkers } from "./host.ts";
import type { ReloadResult, Status, TargetAdd, TargetChange, TargetPatch } from "../admin/api-schema.ts";
import { AdminError, type AdminOps } from "../admin/ops.ts";
import type { Config, TargetConfig } from "../config/schema.ts";
import type { TargetGroup } from "../pool/group.ts";
import { type ActionConfig, ActionSchema, ruleProblems } from "../rules/schema.ts";
import type { SnapshotCache } from "../state/cache.ts";
import { groupDraft, type JsonValue, type Mutator, own, type Snapshot, type SnapshotData, type StateStore } from "../state/store.ts";
import type { ChangeLog, Entry } from "./change-log.ts";
import { type Canaries, CanaryError } from "../canary/controller.ts";
import type { ActionOverrides } from "./generation.ts";
import { describeAction, rulesOf } from "./status.ts";

/** The programmatic forms (embedding, tests) beside the API's. */
export interface Control extends AdminOps {
  /** Replace the action of a rule (by priority) or of the default, e.g. `{ forward: "green" }`. */
  setAction(rule: number | "default", action: unknown): Promise<void>;
  /** Drain one target by URL (or stop draining it). */
  setTargetDrain(group: string, url: string, draining: boolean): Promise<void>;
  /** Override one target's weight (0 takes it out of rotation); `undefined` restores the config's. */
  setTargetWeight(group: string, url: string, weight: number | undefined): Promise<void>;
}

/** What control needs of the balancer. */
export interface Controlled {
  /** The config file's config (the rules and groups overrides refer to). */
  readonly fileConfig: Config;
  /** The groups as served now (file plus targets added at run time). */
  readonly current: { readonly groups: ReadonlyMap<string, TargetGroup> };
  readonly state: StateStore;
  readonly snapshots: SnapshotCache;
  readonly changeLog: ChangeLog;
  status(): Status;
  reload(by: string): Promise<ReloadResult>;
  /** The host's worker processes, when there are (`--workers`). */
  readonly workers: HostWorkers | undefined;
  /** The automatic canaries (canary/controller.ts). */
  readonly canaries: Canaries;
  /** Resolves when the snapshot just offered has been applied (a target list change rebuilds the groups). */
  settled(): Promise<void>;
}

const originOf = (url: string) => (URL.canParse(url) ? new URL(url).origin : url);

/** The group `name` as served, or a 404 that lists the groups. */
function groupOf(b: Controlled, name: string): TargetGroup {
  const g = b.current.groups.get(name);
  if (!g) throw new AdminError(404, `no target group ${JSON.stringify(name)}; groups: ${[...b.current.groups.keys()].join(", ")}`);
  return g;
}

/** A target of a group by name, or by URL; a 404 lists the group's targets. */
function targetOf(b: Controlled, groupName: string, ref: string): { group: TargetGroup; config: TargetConfig; index: number } {
  const group = groupOf(b, groupName);
  const targets = group.config.targets;
  let index = targets.findIndex((t) => t.name === ref);
  if (index < 0) index = targets.findIndex((t) => t.url === ref || originOf(t.url) === originOf(ref));
  if (index < 0) {
    const listed = targets.map((t) => (t.name ? `${t.name} (${t.url})` : t.url)).join(", ");
    throw new AdminError(404, `no target ${JSON.stringify(ref)} in group ${groupName}; its targets: ${listed}`);
  }
  return { group, config: targets[index]!, index };
}

const label = (group: string, t: TargetConfig) => `${group}/${t.name ?? t.url}`;

export function createControl(b: Controlled): Control {
  /** Write to the store and apply what it answers; a store that is down changes nothing. */
  const write = async (mutator: Mutator): Promise<Snapshot> => {
    let written: Snapshot;
    try {
      written = await b.state.update((d) => {
        mutator(d);
        forgetRemoved(d, Date.now());
      });
    } catch (error) {
      throw new AdminError(503, `state store unreachable, nothing changed: ${error instanceof Error ? error.message : String(error)}`);
    }
    b.snapshots.offer(written);
    await b.settled();
    return written;
  };
  // Setting what already is changes nothing: no entry (the change log is for changes).
  const record = async (entry: Entry) => {
    if (entry.before !== undefined && JSON.stringify(entry.before) === JSON.stringify(entry.after)) return;
    await b.changeLog.record(entry);
  };
  const targetNow = (group: string, url: string) => {
    const found = b.status().groups.find((g) => g.name === group)?.targets.find((t) => t.url === url);
    if (!found) throw new AdminError(409, `target ${url} left group ${group} meanwhile`);
    return found;
  };
  const changed = (group: string, url: string, message: string): TargetChange => ({ message, group, target: targetNow(group, url) });

  const ops: Control = {
    async status() {
      const status = b.status();
      if (!b.workers) return status;
      // A host of workers: the in-flight counts are theirs (the primary serves no traffic).
      const view = await b.workers.view().catch(() => undefined);
      if (!view) return status;
      return {
        ...status,
        groups: status.groups.map((g) => ({
          ...g,
          // Failed over where the traffic is: on any worker.
          ...(g.fallback
            ? { fallback: { ...g.fallback, active: view.exports.some((x) => x.groups.some((h) => h.name === g.name && h.failedOver === 1)) } }
            : {}),
          targets: g.targets.map((t) => ({ ...t, inflight: hostInflight(view.exports, g.name, t.url) })),
        })),
        workers: [...view.workers],
      };
    },

    async canaries(rule) {
      return await canaryOp(() => b.canaries.status(rule));
    },

    async canary(rule, command, by) {
      const canary = await canaryOp(() => b.canaries.command(rule, command, by));
      const message = `canary of rule ${rule}: ${canary.weight} % ${canary.state}${canary.reason ? ` (${canary.reason})` : ""}`;
      return { message, canary };
    },

    async events(limit) {
      try {
        return await b.changeLog.recent(limit);
      } catch (error) {
        throw new AdminError(503, `state store unreachable: ${error instanceof Error ? error.message : String(error)}`);
      }
    },

    async route(ruleRef, action, by) {
      const file = b.fileConfig;
      const rule = ruleRef === "default" ? "default" : Number(ruleRef);
      const rules = rulesOf(file, undefined).map((r) => r.rule);
      if (!rules.includes(rule)) throw new AdminError(404, `no rule ${JSON.stringify(ruleRef)}; rules: ${rules.join(", ") || "none"}`);
      if (action) checkAction(action, [...b.current.groups.keys()]);
      const key = String(rule);
      const before = rulesOf(file, b.snapshots.get()).find((r) => String(r.rule) === key)!;
      await write((d) => {
        if (action) d.actions[key] = structuredClone(action) as unknown as JsonValue;
        else delete d.actions[key];
      });
      const after = rulesOf(file, b.snapshots.get()).find((r) => String(r.rule) === key)!;
      await record({
        source: by,
        kind: "route",
        subject: `rule ${key}`,
        before: describeAction(before.action),
        after: describeAction(after.action),
        ...(action ? {} : { detail: "back to the config file" }),
      });
      // A rule with an automatic canary: say who holds its weights now.
      const canary = b.canaries.has(key)
        ? after.overridden ? `; its canary is held until fulcrum route ${key} --config` : "; its canary's weights apply again"
        : "";
      return { message: `rule ${key}: ${describeAction(after.action)}${after.overridden ? "" : " (the config file's)"}${canary}`, rule: after };
    },

    async patchTarget(groupName, ref, patch: TargetPatch, by) {
      const { group, config, index } = targetOf(b, groupName, ref);
      const name = label(groupName, config);
      const messages: string[] = [];
      if (patch.drain === false && group.targets[index]!.drainedBy === "config") {
        throw new AdminError(409, `${name} is drained by the config file (targetGroups.${groupName}.targets[].drain); edit the file and reload`);
      }
      // Both parts in one store write: a store failing between two would leave half a change behind a "nothing changed".
      const mutators: Mutator[] = [];
      const entries: Entry[] = [];
      if (patch.drain !== undefined) {
        const shared = own(b.snapshots.get()?.groups ?? {}, groupName);
        const draining = shared !== undefined && own(shared.drains, config.url) !== undefined;
        const removing = shared?.removed !== undefined && own(shared.removed, config.url) !== undefined;
        if (patch.drain && !draining) {
          const deadline = Date.now() + group.config.deregistrationDelay * 1000;
          mutators.push((d) => void (groupDraft(d, groupName).drains[config.url] = { deadline }));
          entries.push({
            source: by,
            kind: "drain",
            subject: name,
            before: "in service",
            after: "draining",
            detail: `deregistrationDelay ${group.config.deregistrationDelay}s`,
          });
          messages.push(`${name} draining: no new requests; sticky clients and WebSockets move within ${group.config.deregistrationDelay}s`);
        } else if (!patch.drain && (draining || removing)) {
          mutators.push((d) => {
            const rec = groupDraft(d, groupName);
            delete rec.drains[config.url];
            delete rec.removed[config.url];
          });
          entries.push({ source: by, kind: "ready", subject: name, before: removing ? "removing" : "draining", after: "in service" });
          messages.push(
            `${name} back in service${group.config.slowStart > 0 ? ` (slow start ${group.config.slowStart}s)` : ""}${
              removing ? "; its removal is cancelled" : ""
            }`,
          );
        } else messages.push(`${name} ${patch.drain ? "is already draining" : "is already in service"}`);
      }
      if (patch.weight !== undefined) {
        const before = group.targets[index]!.weight;
        const after = patch.weight === "config" ? config.weight : patch.weight;
        mutators.push((d) => {
          const rec = groupDraft(d, groupName);
          if (patch.weight === "config") delete rec.weights[config.url];
          else rec.weights[config.url] = patch.weight!;
        });
        entries.push({ source: by, kind: "weight", subject: name, before, after, ...(patch.weight === "config" ? { detail: "back to the config's" } : {}) });
        messages.push(`${name} weight ${after}${patch.weight === "config" ? " (the config's)" : ""}, was ${before}`);
      }
      if (mutators.length > 0) await write((d) => mutators.forEach((m) => m(d)));
      for (const entry of entries) await record(entry);
      return changed(groupName, config.url, messages.join("; "));
    },

    async addTarget(groupName, add: TargetAdd, by) {
      const group = groupOf(b, groupName);
      const clash = group.config.targets.find((t) => originOf(t.url) === originOf(add.url) || (add.name !== undefined && t.name === add.name));
      if (clash) {
        const how = originOf(clash.url) === originOf(add.url)
          ? `${add.url} is already in group ${groupName}`
          : `group ${groupName} already has a target named ${add.name}`;
        throw new AdminError(409, `${how} (${clash.name ?? clash.url}); to return a removed target, use ready`);
      }
      await write((d) => {
        const rec = groupDraft(d, groupName);
        rec.added[add.url] = { weight: add.weight, backup: add.backup, ...(add.name === undefined ? {} : { name: add.name }) };
        // A target added again after its removal starts in service (HAProxy add server, ALB register-targets):
        // what was left of its drain and weight belonged to the target that left.
        delete rec.removed[add.url];
        delete rec.drains[add.url];
        delete rec.weights[add.url];
      });
      const name = `${groupName}/${add.name ?? add.url}`;
      await record({ source: by, kind: "target add", subject: name, after: { url: add.url, weight: add.weight, backup: add.backup } });
      return changed(groupName, add.url, `${name} added (${add.url}, weight ${add.weight}${add.backup ? ", backup" : ""})`);
    },

    async removeTarget(groupName, ref, by) {
      const { group, config } = targetOf(b, groupName, ref);
      const name = label(groupName, config);
      const shared = own(b.snapshots.get()?.groups ?? {}, groupName);
      const staying = group.config.targets.filter((t) => t.url !== config.url && !(shared?.removed && own(shared.removed, t.url)));
      if (staying.length === 0) throw new AdminError(409, `${name} is the last target of group ${groupName}; a group keeps at least one`);
      const delay = group.config.deregistrationDelay;
      const at = Date.now() + delay * 1000;
      const before = targetNow(groupName, config.url);
      await write((d) => {
        const rec = groupDraft(d, groupName);
        rec.drains[config.url] ??= { deadline: at };
        rec.removed[config.url] = { at: rec.drains[config.url]!.deadline };
      });
      await record({ source: by, kind: "target remove", subject: name, before: "in service", after: "removed", detail: `drains, leaves after ${delay}s` });
      // With deregistrationDelay 0 it has already left: the answer shows it as it was, marked removed.
      const now = b.status().groups.find((g) => g.name === groupName)?.targets.find((t) => t.url === config.url);
      const target = now ?? { ...before, draining: true, removeAt: at, overridden: [...new Set([...before.overridden, "removed" as const])] };
      return { message: delay > 0 ? `${name} draining, removed in ${delay}s` : `${name} removed`, group: groupName, target };
    },

    async restart(by) {
      const workers = b.workers;
      if (!workers) {
        throw new AdminError(409, "this balancer runs as one process: a restart without a gap replaces worker processes (serve with --workers N)");
      }
      let message: string;
      try {
        message = await workers.restart(by);
      } catch (error) {
        // A reason worded for the operator, never a stack.
        const why = error instanceof Error ? error.message : String(error);
        await record({ source: by, kind: "restart", subject: "workers", after: "refused", detail: why });
        throw new AdminError(422, why);
      }
      await record({ source: by, kind: "restart", subject: "workers", after: "restarted", detail: message });
      return { message };
    },

    async reload(by) {
      // A host of workers reloads as one: the primary, then each worker with its text.
      if (b.workers) return b.workers.reload(by);
      const result = await b.reload(by);
      // What the reload set off (a removal that came due, a store write) is done before the answer.
      await b.settled();
      return result;
    },

    async setAction(rule, action) {
      const parsed = v.safeParse(ActionSchema, action);
      if (!parsed.success) throw new AdminError(400, `invalid action: ${parsed.issues.map((i) => i.message).join("; ")}`);
      await ops.route(String(rule), parsed.output, "embedding code");
    },
    async setTargetDrain(group, url, draining) {
      await ops.patchTarget(group, url, { drain: draining }, "embedding code");
    },
    async setTargetWeight(group, url, weight) {
      if (weight !== undefined && !(Number.isInteger(weight) && weight >= 0 && weight <= 1000)) {
        throw new AdminError(400, `invalid weight ${weight}, expected an integer from 0 to 1000`);
      }
      await ops.patchTarget(group, url, { weight: weight ?? "config" }, "embedding code");
    },
  };
  return ops;
}

/** Targets added at run time and since removed, once their removal is due: nothing is left of them. */
function forgetRemoved(d: SnapshotData, now: number): void {
  for (const rec of Object.values(d.groups)) {
    for (const [url, removal] of Object.entries(rec.removed ?? {})) {
      if (removal.at > now || !rec.added || !Object.hasOwn(rec.added, url)) continue;
      delete rec.added[url];
      delete rec.removed![url];
      delete rec.drains[url];
      delete rec.weights[url];
    }
  }
}

/** An action's group references, as `fulcrum check` checks a config's (unknown groups, all-zero weights). */
function checkAction(action: ActionConfig, groups: readonly string[]): void {
  const problems = ruleProblems({ defaultAction: action }, groups).map((p) => p.replace(/^defaultAction/, "action"));
  if (typeof action.forward === "string" && !groups.includes(action.forward)) {
    problems.push(`action.forward: unknown target group ${JSON.stringify(action.forward)}, expected one of ${groups.join(", ")}`);
  }
  if (problems.length) throw new AdminError(400, problems.length === 1 ? problems[0]! : "invalid action", problems.length === 1 ? undefined : problems);
}

/** The rule action overrides of a snapshot (written by this or another instance); invalid ones are skipped and logged. */
/** A canary operation, its refusals as the API's. */
async function canaryOp<T>(op: () => Promise<T>): Promise<T> {
  try {
    return await op();
  } catch (error) {
    if (error instanceof CanaryError) throw new AdminError(error.status, error.message);
    throw new AdminError(503, `state store unreachable: ${error instanceof Error ? error.message : String(error)}`);
  }
}

export function actionOverridesOf(snapshot: Snapshot, log: (line: string) => void): ActionOverrides {
  const out = new Map<number | "default", ActionConfig>();
  for (const [key, raw] of Object.entries(snapshot.actions)) {
    const parsed = v.safeParse(ActionSchema, raw);
    if (!parsed.success) {
      log(`state: ignoring invalid action override for ${key}`);
      continue;
    }
    out.set(key === "default" ? "default" : Number(key), parsed.output);
  }
  return out;
}
