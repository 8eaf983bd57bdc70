/**
 * What a reload may change and what becomes of the operators' overrides,
 * decided before anything changes (pure functions of the two configs and the
 * store's snapshot).
 *
 * Overrides are layered over the file (src/app/control.ts) and a reload never
 * silently undoes one (HAProxy loses its runtime changes on reload,
 * haproxy#199): it keeps each override whose rule or target still exists,
 * drops the others (a rule that is gone, a group it named that is gone, a
 * target added at run time that the file now lists itself), and says which.
 */
import { allRules, type Config, listenerKey, listenersOf } from "../config/schema.ts";
import type { ReloadResult } from "../admin/api-schema.ts";
import { own, type Snapshot, type SnapshotData } from "../state/store.ts";

/** Config values compared as JSON (they come from JSON). */
const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

/**
 * Settings a running process cannot take over (they are bound into its
 * servers and store at start): a reload that changes one is refused, naming
 * it, rather than half applied. `bindsListeners`: the balancer binds its own
 * listeners (Bun, Deno, Node), not the platform (Workers).
 */
export function restartOnly(before: Config, after: Config, bindsListeners: boolean): string[] {
  const problems: string[] = [];
  if (!same(before.state, after.state)) problems.push("state: the state store is opened at start; restart to change it");
  // Where the runtime owns the listeners (Workers), nothing else is bound at start.
  if (!bindsListeners) return problems;
  if (!same(before.timeouts, after.timeouts)) problems.push("timeouts: client timeouts are set on the listeners at start; restart to change them");
  if (!same(before.websocket, after.websocket)) problems.push("websocket: the WebSocket settings are bound at start; restart to change them");
  if (before.workers !== after.workers) {
    problems.push("workers: the worker processes are started with the primary; stop and start the balancer to change how many");
  }
  const bound = new Map(listenersOf(before).map((l, i) => [listenerKey(l, i), l]));
  listenersOf(after).forEach((l, i) => {
    const was = bound.get(listenerKey(l, i));
    if (was && !same([was.protocol, was.certificate], [l.protocol, l.certificate])) {
      problems.push(`listen[${i}]: the protocol or certificate of ${listenerKey(l, i)} changed; a bound port keeps its TLS until restart`);
    }
  });
  return problems;
}

export interface OverridePlan {
  /** Human descriptions, for the reload's answer and the change log. */
  readonly kept: string[];
  readonly dropped: string[];
  /** Removes the dropped ones from a draft (undefined: nothing to drop). */
  readonly prune: ((draft: SnapshotData) => void) | undefined;
}

export function planOverrides(file: Config, snapshot: Snapshot | undefined): OverridePlan {
  const kept: string[] = [];
  const dropped: string[] = [];
  const drops: ((d: SnapshotData) => void)[] = [];
  if (!snapshot) return { kept, dropped, prune: undefined };
  const groups = new Set(Object.keys(file.targetGroups));
  const rules = new Set([...allRules(file).map((r) => String(r.priority)), ...(file.defaultAction ? ["default"] : [])]);

  for (const [rule, action] of Object.entries(snapshot.actions)) {
    const named = namedGroups(action);
    const missing = named.find((g) => !groups.has(g));
    const what = `rule ${rule}: ${JSON.stringify(action)}`;
    // Dropped only if still what was planned on: a change made meanwhile (this reload waited on
    // its listeners, another instance wrote) is the operator's newer word.
    const drop = (d: SnapshotData) => {
      if (same(d.actions[rule], action)) delete d.actions[rule];
    };
    if (!rules.has(rule)) {
      dropped.push(`${what} (no rule ${rule} any more)`);
      drops.push(drop);
    } else if (missing !== undefined) {
      dropped.push(`${what} (no target group ${missing} any more)`);
      drops.push(drop);
    } else kept.push(what);
  }

  for (const [group, rec] of Object.entries(snapshot.groups)) {
    const g = own(file.targetGroups, group);
    const inFile = new Set(g?.targets.map((t) => t.url) ?? []);
    const added = new Set(Object.keys(rec.added ?? {}));
    const exists = (url: string) => g !== undefined && (inFile.has(url) || added.has(url));
    // A target added at run time that the file now lists: its drain and removal were of the added one.
    const adopted = (url: string) => g !== undefined && added.has(url) && inFile.has(url);
    const listed = "the config file lists it now";
    const entries: [string, Record<string, unknown> | undefined, string, (url: string) => string | undefined][] = [
      ["weights", rec.weights, "weight", (url) => (exists(url) ? undefined : "no such target any more")],
      ["drains", rec.drains, "drain", (url) => (adopted(url) ? listed : exists(url) ? undefined : "no such target any more")],
      ["added", rec.added, "added", (url) => (g === undefined ? "no such group any more" : inFile.has(url) ? listed : undefined)],
      [
        "removed",
        rec.removed,
        "removed",
        (url) => (g === undefined ? "no such group any more" : adopted(url) ? listed : exists(url) ? undefined : "the config file no longer lists it"),
      ],
    ];
    for (const [field, record, label, stale] of entries) {
      for (const [url, value] of Object.entries(record ?? {})) {
        const what = `${group}/${url} ${label}${field === "weights" ? ` ${value}` : ""}`;
        const why = stale(url);
        if (why === undefined) kept.push(what);
        else {
          dropped.push(`${what} (${why})`);
          drops.push((d) => {
            const r = own(d.groups, group) as Record<string, Record<string, unknown> | undefined> | undefined;
            if (r?.[field] && same(r[field][url], value)) delete r[field][url];
          });
        }
      }
    }
  }
  return { kept, dropped, prune: drops.length ? (d) => drops.forEach((drop) => drop(d)) : undefined };
}

/** The groups an action (config JSON, as stored) forwards to. */
function namedGroups(action: unknown): string[] {
  const forward = (action as { forward?: unknown } | null)?.forward;
  if (typeof forward === "string") return [forward];
  const list = (forward as { targetGroups?: unknown } | undefined)?.targetGroups;
  return Array.isArray(list) ? list.map((x) => (x as { group?: unknown }).group).filter((g): g is string => typeof g === "string") : [];
}

/** `[added, removed]` between two lists of names. */
export function difference(before: Iterable<string>, after: Iterable<string>): { added: string[]; removed: string[] } {
  const a = new Set(before);
  const b = new Set(after);
  return { added: [...b].filter((x) => !a.has(x)), removed: [...a].filter((x) => !b.has(x)) };
}

/** What a reload answers (the API, `fulcrum reload`, SIGHUP's log line): one line, and the lists behind it. */
export function reloadResult(r: {
  location: string;
  previousVersion: string;
  version: string;
  targets: { added: string[]; removed: string[] };
  listeners: { added: string[]; removed: string[] };
  plan: Pick<OverridePlan, "kept" | "dropped">;
}): ReloadResult {
  const listeners = [...r.listeners.added.map((k) => `+${k}`), ...r.listeners.removed.map((k) => `-${k}`)];
  return {
    message: `reloaded ${r.location} (version ${
      r.previousVersion || "?"
    } -> ${r.version}): ${r.targets.added.length} target(s) added, ${r.targets.removed.length} removed; ${r.plan.kept.length} override(s) kept, ${r.plan.dropped.length} dropped${
      listeners.length ? `; listeners ${listeners.join(" ")}` : ""
    }`,
    version: r.version,
    previousVersion: r.previousVersion,
    targets: r.targets,
    listeners: r.listeners,
    overrides: { kept: r.plan.kept, dropped: r.plan.dropped },
  };
}
