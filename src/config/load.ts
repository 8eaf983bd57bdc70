/**
 * Parse and validate a config: every problem is reported with its field path
 * and what was expected (`targetGroups.app.targets[2].url: expected an http(s)
 * URL, got "foo"`), the way `nginx -t` names the line.
 */
import * as v from "valibot";
import { ruleProblems } from "../rules/schema.ts";
import { allRules, type Config, ConfigSchema, listenersOf } from "./schema.ts";
import { parseJsonText } from "./json-text.ts";
import { unknownKeys } from "./unknown-keys.ts";
import { DEFAULT_API_HOST, DEFAULT_API_PORT } from "../admin/schema.ts";

export class ConfigError extends Error {
  constructor(readonly problems: readonly string[], source = "config") {
    super(`${source}: ${problems.length} problem${problems.length === 1 ? "" : "s"}\n  ${problems.join("\n  ")}`);
    this.name = "ConfigError";
  }
}

type Issue = v.BaseIssue<unknown>;

function pathOf(issue: Issue): string {
  let out = "";
  for (const item of issue.path ?? []) {
    const key = item.key as unknown;
    if (typeof key === "number") out += `[${key}]`;
    else out += out ? `.${String(key)}` : String(key);
  }
  return out || "(root)";
}

/**
 * Flatten unions to their most specific issues: those found deeper than the
 * union itself (the branch the input was meant for). When no branch got that
 * far, the union's own message says what was expected.
 */
function leaves(issue: Issue): Issue[] {
  if (issue.type === "union" && issue.issues?.length) {
    // Branch issues carry paths relative to the union. For a list, only the list branch's (an
    // item's), for an object only the object branch's: `listen: [...]` is not a listener missing its port.
    const list = Array.isArray(issue.input);
    const deeper = issue.issues
      .filter((i) => i.path?.length && (typeof i.path[0]!.key === "number") === list)
      .map((i) => ({ ...i, path: [...(issue.path ?? []), ...i.path!] }) as Issue);
    return deeper.length ? deeper.flatMap(leaves) : [issue];
  }
  return [issue];
}

function describe(issue: Issue): string {
  if (issue.type === "strict_object" && issue.expected === "never") return "unknown key";
  // A missing key: valibot puts the key name in `expected`.
  if ((issue.type === "strict_object" || issue.type === "object") && issue.received === "undefined") return "required";
  if (issue.kind === "schema" && issue.expected !== null && issue.message.startsWith("Invalid ")) {
    // Valibot's defaults read "Invalid type: Expected string but received 5"; say it plainly.
    return `expected ${issue.expected}, got ${issue.received}`;
  }
  return issue.message;
}

const isRecord = (x: unknown): x is Record<string, unknown> => typeof x === "object" && x !== null && !Array.isArray(x);

/**
 * Cross-field checks valibot's per-field schema cannot express. They read the
 * raw input defensively, so they are reported together with schema problems.
 */
function references(input: unknown): string[] {
  if (!isRecord(input)) return [];
  const targetGroups = isRecord(input.targetGroups) ? input.targetGroups : {};
  const groups = Object.keys(targetGroups);
  const problems: string[] = [];
  const checkGroup = (path: string, name: unknown) => {
    if (typeof name === "string" && name !== "" && !Object.hasOwn(targetGroups, name)) {
      problems.push(
        `${path}: unknown target group ${JSON.stringify(name)}, ${groups.length ? `expected one of ${groups.join(", ")}` : "and targetGroups has none"}`,
      );
    }
  };
  if (isRecord(input.defaultAction)) checkGroup("defaultAction.forward", input.defaultAction.forward);
  problems.push(...failoverProblems(targetGroups, checkGroup));
  problems.push(...rateLimitProblems(input));
  problems.push(...ruleProblems(input, groups));
  problems.push(...targetDuplicates(targetGroups));
  const listeners = Array.isArray(input.listen) ? input.listen : [input.listen];
  const labelled = listeners.map((l, i) => ({ at: `listen[${i}]`, l }));
  const api = isRecord(input.admin) && isRecord(input.admin.api) ? input.admin.api : undefined;
  if (api && !("path" in api)) {
    const listen = isRecord(api.listen) ? api.listen : {};
    labelled.push({ at: "admin.api.listen", l: { port: listen.port ?? DEFAULT_API_PORT, host: listen.host ?? DEFAULT_API_HOST } });
  }
  problems.push(...listenerConflicts(labelled));
  if (api && typeof api.path === "string") problems.push(...apiPathOverlaps(api.path, input.admin as Record<string, unknown>));
  listeners.forEach((l, i) => {
    const path = Array.isArray(input.listen) ? `listen[${i}]` : "listen";
    if (isRecord(l) && l.protocol === "HTTPS" && !isRecord(l.certificate)) {
      problems.push(`${path}.certificate: required for an HTTPS listener (certFile and keyFile)`);
    }
    if (isRecord(l) && isRecord(l.defaultAction)) {
      checkGroup(`${path}.defaultAction.forward`, l.defaultAction.forward);
      if (isRecord(l.defaultAction.forward) && "canary" in l.defaultAction.forward) {
        problems.push(
          `${path}.defaultAction.forward.canary: a canary runs on a rule or on the config's defaultAction (fulcrum canary RULE names it); move it there`,
        );
      }
      problems.push(...ruleProblems({ defaultAction: l.defaultAction }, groups).map((p) => p.replace(/^defaultAction/, `${path}.defaultAction`)));
    }
    if (isRecord(l) && Array.isArray(l.rules)) {
      problems.push(...ruleProblems({ rules: l.rules }, groups).map((p) => p.replace(/^rules/, `${path}.rules`)));
    }
  });
  problems.push(...listenerRuleProblems(input, listeners));
  return problems;
}

/** Rate limits (ratelimit/): a sync interval without sharing would do nothing. */
function rateLimitProblems(input: Record<string, unknown>): string[] {
  const limits: [string, unknown][] = [["rateLimit", input.rateLimit]];
  const rulesAt = (path: string, rules: unknown) => {
    if (Array.isArray(rules)) rules.forEach((r, i) => isRecord(r) && limits.push([`${path}[${i}].rateLimit`, r.rateLimit]));
  };
  rulesAt("rules", input.rules);
  const listeners = Array.isArray(input.listen) ? input.listen : [input.listen];
  listeners.forEach((l, i) => isRecord(l) && rulesAt(`${Array.isArray(input.listen) ? `listen[${i}]` : "listen"}.rules`, l.rules));
  return limits.flatMap(([at, limit]) =>
    isRecord(limit) && "syncInterval" in limit && limit.shared !== true
      ? [`${at}.syncInterval: does nothing without shared: true (counts exchanged with the other instances); add it, or remove this`]
      : []
  );
}

/**
 * A target group's failover (pool/failover.ts): its fallback exists and is not itself, the
 * fallbacks form no loop, `minHealthy` is not more than the group has targets (it would never
 * serve), and neither it nor `failbackDelay` is set without a fallback (they would do nothing);
 * likewise a retry budget's floor without the budget, and a queue without connection limits.
 */
function failoverProblems(groups: Record<string, unknown>, checkGroup: (path: string, name: unknown) => void): string[] {
  const problems: string[] = [];
  const fallbackOf = (name: string): unknown => {
    const g = Object.hasOwn(groups, name) ? groups[name] : undefined;
    return isRecord(g) ? g.fallbackGroup : undefined;
  };
  for (const [name, g] of Object.entries(groups)) {
    if (!isRecord(g)) continue;
    const at = `targetGroups.${name}`;
    // The retry budget's floor, without the budget (retries.budgetPercent), would do nothing.
    if (isRecord(g.retries) && "minRetryConcurrency" in g.retries && !(typeof g.retries.budgetPercent === "number" && g.retries.budgetPercent > 0)) {
      problems.push(`${at}.retries.minRetryConcurrency: does nothing without retries.budgetPercent (the retry budget); add it, or remove this`);
    }
    // A queue waits for a target under its limit: with no limit, nothing ever waits.
    const limited = g.maxConnections !== undefined || (Array.isArray(g.targets) && g.targets.some((t) => isRecord(t) && t.maxConnections !== undefined));
    if ("queue" in g && !limited) problems.push(`${at}.queue: does nothing without maxConnections (on the group or a target); add it, or remove the queue`);
    // A group serves its listed targets and those it discovers: one of them, at least.
    if ((g.targets === undefined || (Array.isArray(g.targets) && g.targets.length === 0)) && !isRecord(g.discover)) {
      problems.push(`${at}.targets: expected at least one target, or a discover block that finds them`);
    }
    // A mirror's copies go to another group that exists.
    if (isRecord(g.mirror) && typeof g.mirror.group === "string") {
      if (g.mirror.group === name) problems.push(`${at}.mirror.group: a group cannot mirror to itself`);
      else checkGroup(`${at}.mirror.group`, g.mirror.group);
    }
    if (g.fallbackGroup === undefined) {
      for (const key of ["minHealthy", "failbackDelay"]) {
        if (key in g) problems.push(`${at}.${key}: does nothing without fallbackGroup (the group that takes the traffic); add one, or remove it`);
      }
      continue;
    }
    if (g.fallbackGroup === name) {
      problems.push(`${at}.fallbackGroup: a group cannot fall back to itself`);
      continue;
    }
    checkGroup(`${at}.fallbackGroup`, g.fallbackGroup);
    const chain = [name];
    for (let next = fallbackOf(name); typeof next === "string" && Object.hasOwn(groups, next); next = fallbackOf(next)) {
      if (chain.includes(next)) {
        if (next === name) problems.push(`${at}.fallbackGroup: the fallback groups form a loop: ${[...chain, next].join(" -> ")}`);
        break;
      }
      chain.push(next);
    }
    const targets = Array.isArray(g.targets) ? g.targets.length : 0;
    const named = isRecord(g.discover) || (Array.isArray(g.targets) && g.targets.some((t) => isRecord(t) && ("dns" in t || "srv" in t)));
    if (typeof g.minHealthy === "number" && targets > 0 && !named && g.minHealthy > targets) {
      problems.push(`${at}.minHealthy: ${g.minHealthy} is more than the group's ${targets} target(s): its traffic would always go to ${g.fallbackGroup}`);
    }
  }
  return problems;
}

/**
 * Which listener runs which rules (ALB: rules belong to a listener): its own `rules`, none when it
 * has only its own `defaultAction`, else the config's. So every listener needs a default action
 * from somewhere, a config-wide list or default that no listener uses is a mistake to name, and
 * a priority names one rule in the whole config (`fulcrum route 10`).
 */
function listenerRuleProblems(input: Record<string, unknown>, listeners: unknown[]): string[] {
  const problems: string[] = [];
  // A listen that is not there or not an object is the schema's to report.
  if (listeners.length === 0 || !listeners.every(isRecord)) return problems;
  const listed = Array.isArray(input.listen);
  const at = (i: number) => (listed ? `listen[${i}]` : "listen");
  let sharedRulesUsed = false;
  let sharedDefaultUsed = false;
  listeners.forEach((l, i) => {
    if (!isRecord(l)) return;
    const ownDefault = isRecord(l.defaultAction);
    if (!Array.isArray(l.rules) && !ownDefault) sharedRulesUsed = true;
    if (!ownDefault) {
      sharedDefaultUsed = true;
      if (input.defaultAction === undefined) problems.push(`${at(i)}.defaultAction: required, since the config has no top-level defaultAction`);
    }
  });
  if (Array.isArray(input.rules) && input.rules.length > 0 && !sharedRulesUsed) {
    problems.push("rules: no listener runs these: each has rules or a defaultAction of its own (move them into listen[].rules)");
  }
  if (input.defaultAction !== undefined && !sharedDefaultUsed) {
    problems.push("defaultAction: no listener runs it: each has a defaultAction of its own");
  }
  // Priorities across the lists: the top level's, then each listener's.
  const first = new Map<number, string>();
  const lists: [string, unknown][] = [
    ["rules", input.rules],
    ...listeners.map((l, i) => [`${at(i)}.rules`, isRecord(l) ? l.rules : undefined] as [string, unknown]),
  ];
  for (const [path, rules] of lists) {
    if (!Array.isArray(rules)) continue;
    const mine = new Set<number>();
    rules.forEach((r, j) => {
      const p = isRecord(r) ? r.priority : undefined;
      if (typeof p !== "number" || mine.has(p)) return; // a duplicate within one list is ruleProblems'
      mine.add(p);
      const seen = first.get(p);
      if (seen !== undefined) {
        problems.push(`${path}[${j}].priority: duplicate priority ${p}, also used by ${seen} (a priority names one rule: fulcrum route ${p})`);
      } else first.set(p, `${path}[${j}]`);
    });
  }
  return problems;
}

/** Wildcard addresses: a listener on one of these takes the port on every address. */
const ANY = new Set(["0.0.0.0", "::", "[::]"]);

/**
 * Two listeners on one port cannot both bind (the second fails with
 * EADDRINUSE), unless both name different specific addresses. Port 0 asks the
 * system for a free port, so it never conflicts.
 */
function listenerConflicts(listeners: readonly { readonly at: string; readonly l: unknown }[]): string[] {
  const problems: string[] = [];
  const seen: { port: number; host: string; at: string }[] = [];
  for (const { at, l } of listeners) {
    if (!isRecord(l) || typeof l.port !== "number" || l.port === 0) continue;
    const host = typeof l.host === "string" ? l.host : "0.0.0.0";
    const clash = seen.find((o) => o.port === l.port && (o.host === host || ANY.has(o.host) || ANY.has(host)));
    if (clash) {
      problems.push(`${at}.port: ${l.port} is also the port of ${clash.at} (${clash.host}:${clash.port}); one address and port can have one listener`);
    }
    seen.push({ port: l.port, host, at });
  }
  return problems;
}

/** The API's path must not take over the other admin paths, nor they its routes. */
function apiPathOverlaps(path: string, admin: Record<string, unknown>): string[] {
  const under = (a: string, b: string) => a === b || a.startsWith(b + "/");
  const others: [string, unknown][] = [
    ["admin.healthPath", admin.healthPath ?? "/__fulcrum/health"],
    ["admin.stats.path", isRecord(admin.stats) ? admin.stats.path ?? "/__fulcrum/stats" : undefined],
    ["admin.metrics.path", isRecord(admin.metrics) ? admin.metrics.path ?? "/__fulcrum/metrics" : undefined],
  ];
  return others
    .filter(([, p]) => typeof p === "string" && (under(p, path) || under(path, p)))
    .map(([at, p]) => `admin.api.path: ${JSON.stringify(path)} overlaps ${at} (${JSON.stringify(p)}); give the API a path of its own`);
}

/**
 * A target listed twice in one group (the same origin, however written) would
 * be one target in the pool under two entries; a name used twice could not
 * say which one a command means.
 */
function targetDuplicates(groups: Record<string, unknown>): string[] {
  const problems: string[] = [];
  for (const [group, g] of Object.entries(groups)) {
    if (!isRecord(g) || !Array.isArray(g.targets)) continue;
    const origins = new Map<string, number>();
    const names = new Map<string, number>();
    g.targets.forEach((t: unknown, i: number) => {
      if (!isRecord(t)) return;
      const at = `targetGroups.${group}.targets[${i}]`;
      const origin = typeof t.url === "string" && URL.canParse(t.url) ? new URL(t.url).origin : undefined;
      if (origin !== undefined) {
        const first = origins.get(origin);
        if (first !== undefined) problems.push(`${at}.url: the same target as targets[${first}] (${origin}); list a target once (its weight sets its share)`);
        else origins.set(origin, i);
      }
      if (typeof t.name === "string") {
        const first = names.get(t.name);
        if (first !== undefined) problems.push(`${at}.name: ${JSON.stringify(t.name)} is also the name of targets[${first}]; names are unique in a group`);
        else names.set(t.name, i);
      }
    });
  }
  return problems;
}

/** Keys JavaScript gives a meaning of its own: valibot drops them (a group named `__proto__` vanished), so they are refused by name. */
const RESERVED_KEYS = new Set(["__proto__", "constructor", "prototype"]);

function reservedKeys(value: unknown, path = ""): string[] {
  if (Array.isArray(value)) return value.flatMap((item, i) => reservedKeys(item, `${path}[${i}]`));
  if (!isRecord(value)) return [];
  return Object.keys(value).flatMap((key) => {
    const at = path ? `${path}.${key}` : key;
    if (RESERVED_KEYS.has(key)) return [`${at}: "${key}" cannot be used as a name or key (JavaScript reserves it); choose another`];
    return reservedKeys(value[key], at);
  });
}

/** Valibot's issues as `field.path: what was expected, got what` lines, unions flattened to the branch meant. */
export function problemsOf(issues: readonly Issue[], prefix = ""): string[] {
  return [
    ...new Set(
      issues.flatMap(leaves).map((i) => {
        const path = pathOf(i);
        return `${prefix && path === "(root)" ? prefix : prefix ? `${prefix}.${path}` : path}: ${describe(i)}`;
      }),
    ),
  ];
}

/** `textProblems`: what reading the file found (duplicate keys), reported with the rest. */
export function validateConfig(input: unknown, source?: string, textProblems: readonly string[] = []): Config {
  const result = v.safeParse(ConfigSchema, input);
  const problems = [...textProblems, ...reservedKeys(input)];
  if (!result.success) {
    // Unknown keys: every one with a suggestion (valibot names the first of each object only).
    problems.push(...problemsOf(result.issues).filter((p) => !p.endsWith(": unknown key")), ...unknownKeys(ConfigSchema, input));
  }
  problems.push(...references(input));
  if (problems.length || !result.success) throw new ConfigError([...new Set(problems)], source);
  return result.output;
}

export function parseConfig(text: string, source?: string): Config {
  return parseConfigText(text, source).config;
}

/** The config and the JSON it was written as (for checks that tell a key given from a default). */
export function parseConfigText(text: string, source?: string): { config: Config; raw: unknown } {
  const json = parseJsonText(text);
  if (json.value === undefined) throw new ConfigError(json.problems, source);
  return { config: validateConfig(json.value, source, json.problems), raw: json.value };
}

/** One line for `fulcrum check`, like `nginx -t`'s "syntax is ok". */
export function summarize(config: Config): string {
  const groups = Object.entries(config.targetGroups).map(
    ([name, g]) => `${name} (${g.strategy}, ${g.targets.length} target${g.targets.length === 1 ? "" : "s"})`,
  );
  const listen = listenersOf(config).map((l) => `${l.protocol === "HTTPS" ? "https" : "http"} :${l.port}`).join(" + ");
  const d = config.defaultAction;
  const action = d === undefined
    ? "each listener's own"
    : d.forward !== undefined
    ? `forward ${typeof d.forward === "string" ? d.forward : d.forward.targetGroups.map((g) => `${g.group}:${g.weight}`).join("/")}`
    : d.redirect
    ? "redirect"
    : "fixed response";
  const count = allRules(config).length;
  const rules = count ? `, ${count} rule${count === 1 ? "" : "s"}` : "";
  return `config ok: listen ${listen}, ${groups.length} target group${groups.length === 1 ? "" : "s"}: ${groups.join(", ")}${rules}; default action ${action}`;
}
