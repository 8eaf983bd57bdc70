/**
 * The config a balancer serves: the file's, with the targets operators added
 * and removed at run time (`fulcrum target add`, `target remove`) laid over
 * it from the state store, so every instance sharing the store serves the
 * same target list. A removed target stays listed, draining, until its
 * removal time, then leaves (ALB deregistration: new requests stop at once,
 * what runs finishes); a group never loses its last target this way.
 *
 * Pure: the same file, snapshot and time give the same config, on every
 * instance. Targets a group discovers in DNS are laid over first, as the
 * instance found them.
 */
import type { Config, TargetConfig } from "../config/schema.ts";
import { own, type Snapshot } from "../state/store.ts";

export interface Overlaid {
  readonly config: Config;
  /** Describes the laid-over targets: equal keys, equal configs (a snapshot that changed something else needs no rebuild). */
  readonly key: string;
  /** The next removal time still to come (epoch ms), when the config changes again by itself. */
  readonly nextChangeAt: number | undefined;
}

export function overlay(
  file: Config,
  snapshot: Snapshot | undefined,
  wallNow: number,
  /** The targets a group found in DNS (discovery/discovery.ts), laid over first. */
  discovered: (group: string) => readonly TargetConfig[] = () => [],
): Overlaid {
  const groups: Record<string, Config["targetGroups"][string]> = {};
  const keys: unknown[] = [];
  let nextChangeAt: number | undefined;
  for (const [name, fileGroup] of Object.entries(file.targetGroups)) {
    const found = fileGroup.discover.length === 0 ? [] : discovered(name);
    const group = found.length === 0
      ? fileGroup
      : { ...fileGroup, targets: [...fileGroup.targets, ...found.filter((t) => !fileGroup.targets.some((f) => f.url === t.url))] };
    if (found.length > 0) keys.push([name, "dns", group.targets.map((t) => [t.url, t.weight])]);
    const shared = snapshot && own(snapshot.groups, name);
    const added = Object.entries(shared?.added ?? {});
    const removed = shared?.removed ?? {};
    if (added.length === 0 && Object.keys(removed).length === 0) {
      groups[name] = group;
      continue;
    }
    const listed = new Set(group.targets.map((t) => t.url));
    const targets: TargetConfig[] = [
      ...group.targets,
      ...added.filter(([url]) => !listed.has(url)).map(([url, a]) => ({
        url,
        weight: a.weight,
        backup: a.backup,
        drain: false,
        ...(a.name === undefined ? {} : { name: a.name }),
      })),
    ];
    const gone = (t: TargetConfig) => {
      const at = own(removed, t.url)?.at;
      if (at === undefined) return false;
      if (at > wallNow) nextChangeAt = Math.min(nextChangeAt ?? at, at);
      return at <= wallNow;
    };
    const kept = targets.filter((t) => !gone(t));
    // The last target is never removed this way (the API refuses it; two racing removals could still ask for it).
    groups[name] = { ...group, targets: kept.length > 0 ? kept : targets };
    keys.push([name, groups[name]!.targets.map((t) => [t.url, t.name ?? null, t.weight, t.backup])]);
  }
  if (keys.length === 0) return { config: file, key: "", nextChangeAt };
  return { config: { ...file, targetGroups: groups }, key: JSON.stringify(keys), nextChangeAt };
}
