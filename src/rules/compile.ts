/**
 * `compileRules(rules, defaultAction)`: the listener's rules compiled once at
 * start into a router whose per-request cost stays flat as rules grow.
 *
 * Every rule is filed under one index key taken from its most selective
 * indexable condition, and a request only evaluates the rules filed under keys
 * it actually has:
 *   - exact hosts → a Map to a per-host bucket; inside a bucket (and in the
 *     bucket for rules without an exact host), rules are filed by the literal
 *     path prefix before the first wildcard in a radix trie, else by an exact
 *     header value, else by method, else in a small "rest" list;
 *   - wildcard hosts with a literal suffix (`*.example.com`) → a trie over
 *     reversed suffixes.
 * The index only narrows: each candidate is still checked against all of its
 * conditions. Candidate lists are sorted by priority and merged, so the first
 * full match is the lowest-priority-number matching rule (ALB order).
 */
import { compileCondition, indexKeys, type Predicate } from "./conditions.ts";
import { PrefixTrie } from "./prefix-trie.ts";
import { RequestView, type RuleRequest } from "./request-view.ts";
import type { ActionConfig, FixedResponseConfig, GroupStickinessConfig, RedirectConfig, RuleConfig } from "./schema.ts";

export type { RuleRequest };

export interface WeightedGroup {
  readonly group: string;
  readonly weight: number;
}

/** An action ready to run; `kind` discriminates. A plain `forward: "app"` is one group of weight 1. */
export type CompiledAction =
  | {
    readonly kind: "forward";
    readonly targetGroups: readonly WeightedGroup[];
    readonly stickiness: GroupStickinessConfig | undefined;
    /** The canary group of an automatic canary (canary/): its requests are measured by the route. */
    readonly canary?: string;
  }
  | { readonly kind: "redirect"; readonly redirect: RedirectConfig }
  | { readonly kind: "fixedResponse"; readonly fixedResponse: FixedResponseConfig };

export interface MatchResult {
  /** Priority of the matching rule, or undefined when the default action runs. */
  readonly rule: number | undefined;
  readonly action: CompiledAction;
}

export interface Router {
  match(req: RuleRequest): MatchResult;
  /** Rules in evaluation order (for logs and the stats page). */
  readonly priorities: readonly number[];
  /** Some rule has a geo condition: requests must say where the client is (RuleRequest.geo). */
  readonly usesGeo: boolean;
}

export function compileAction(a: ActionConfig): CompiledAction {
  if (a.forward !== undefined) {
    const f = a.forward;
    if (typeof f === "string") return { kind: "forward", targetGroups: [{ group: f, weight: 1 }], stickiness: undefined };
    const stickiness = f.stickiness?.enabled ? f.stickiness : undefined;
    const targetGroups = f.targetGroups.map((g) => ({ group: g.group, weight: g.weight }));
    return f.canary === undefined ? { kind: "forward", targetGroups, stickiness } : { kind: "forward", targetGroups, stickiness, canary: f.canary.group };
  }
  if (a.redirect !== undefined) return { kind: "redirect", redirect: a.redirect };
  if (a.fixedResponse !== undefined) return { kind: "fixedResponse", fixedResponse: a.fixedResponse };
  throw new Error("action without a known key");
}

function addTo(map: Map<string, number[]>, key: string, ordinal: number): void {
  let list = map.get(key);
  if (!list) map.set(key, list = []);
  // Ordinals are filed in ascending order, so lists stay sorted.
  if (list[list.length - 1] !== ordinal) list.push(ordinal);
}

/** Rules filed by literal path prefix, else exact header value, else method, else unindexed. */
class Bucket {
  readonly paths = new PrefixTrie();
  /** lower-cased header name → exact lower-cased value → rules. */
  readonly headers = new Map<string, Map<string, number[]>>();
  readonly methods = new Map<string, number[]>();
  readonly rest: number[] = [];

  file(ordinal: number, conditions: RuleConfig["conditions"]): void {
    let bestPaths: string[] | undefined;
    let header: { name: string; values: string[] } | undefined;
    let methods: string[] | undefined;
    for (const c of conditions) {
      const k = indexKeys(c);
      // A prefix of "/" or "" narrows nothing; prefer the condition whose shortest prefix is longest.
      if (k.pathPrefixes && minLength(k.pathPrefixes) > 1) {
        if (!bestPaths || minLength(k.pathPrefixes) > minLength(bestPaths)) bestPaths = k.pathPrefixes;
      }
      if (k.header) header ??= k.header;
      if (k.methods) methods = k.methods;
    }
    if (bestPaths) { for (const p of bestPaths) this.paths.insert(p, ordinal); }
    else if (header) {
      let byValue = this.headers.get(header.name);
      if (!byValue) this.headers.set(header.name, byValue = new Map());
      for (const value of header.values) addTo(byValue, value, ordinal);
    } else if (methods) { for (const m of methods) addTo(this.methods, m, ordinal); }
    else this.rest.push(ordinal);
  }

  collect(view: RequestView, out: (readonly number[])[]): void {
    if (!this.paths.isEmpty) this.paths.collect(view.path, out);
    for (const [name, byValue] of this.headers) {
      const value = view.header(name);
      const list = value === null ? undefined : byValue.get(value);
      if (list) out.push(list);
    }
    if (this.methods.size) {
      const list = this.methods.get(view.req.method);
      if (list) out.push(list);
    }
    if (this.rest.length) out.push(this.rest);
  }
}

const minLength = (xs: readonly string[]) => Math.min(...xs.map((x) => x.length));

export function compileRules(rules: readonly RuleConfig[], defaultAction: ActionConfig): Router {
  // Stable sort: equal priorities (rejected by ruleProblems) would keep config order.
  const ordered = rules.map((r, i) => ({ r, i })).sort((a, b) => a.r.priority - b.r.priority || a.i - b.i).map((x) => x.r);
  const predicates: (readonly Predicate[])[] = ordered.map((r) => r.conditions.map(compileCondition));
  const results: MatchResult[] = ordered.map((r) => ({ rule: r.priority, action: compileAction(r.action) }));
  const fallback: MatchResult = { rule: undefined, action: compileAction(defaultAction) };

  const byHost = new Map<string, Bucket>();
  const hostSuffixes = new PrefixTrie();
  const anyHost = new Bucket();
  ordered.forEach((rule, ordinal) => {
    let exactHosts: string[] | undefined;
    let suffixes: string[] | undefined;
    for (const c of rule.conditions) {
      const k = indexKeys(c);
      if (k.exactHosts) exactHosts = k.exactHosts;
      else if (k.reversedHostSuffixes) suffixes = k.reversedHostSuffixes;
    }
    if (exactHosts) {
      for (const h of exactHosts) {
        let bucket = byHost.get(h);
        if (!bucket) byHost.set(h, bucket = new Bucket());
        bucket.file(ordinal, rule.conditions);
      }
    } else if (suffixes) {
      for (const s of suffixes) hostSuffixes.insert(s, ordinal);
    } else anyHost.file(ordinal, rule.conditions);
  });

  // Scratch space reused across calls: match() is synchronous, so never re-entered.
  const lists: (readonly number[])[] = [];
  const positions: number[] = [];

  const matches = (ordinal: number, view: RequestView): boolean => {
    for (const p of predicates[ordinal]!) if (!p(view)) return false;
    return true;
  };

  function match(req: RuleRequest): MatchResult {
    if (ordered.length === 0) return fallback;
    const view = new RequestView(req);
    lists.length = 0;
    if (byHost.size) {
      const host = view.host;
      const bucket = host === null ? undefined : byHost.get(host);
      if (bucket) bucket.collect(view, lists);
    }
    if (!hostSuffixes.isEmpty) {
      const host = view.host;
      if (host !== null) hostSuffixes.collectFromEnd(host, lists);
    }
    anyHost.collect(view, lists);

    if (lists.length === 1) {
      for (const ordinal of lists[0]!) if (matches(ordinal, view)) return results[ordinal]!;
      return fallback;
    }
    // k-way merge by ordinal (= priority order); k is the handful of lists above.
    const k = lists.length;
    for (let i = 0; i < k; i++) positions[i] = 0;
    let last = -1;
    for (;;) {
      let best = -1;
      let bestOrdinal = Infinity;
      for (let i = 0; i < k; i++) {
        const list = lists[i]!;
        const pos = positions[i]!;
        if (pos < list.length && list[pos]! < bestOrdinal) {
          bestOrdinal = list[pos]!;
          best = i;
        }
      }
      if (best < 0) return fallback;
      positions[best]!++;
      // A rule filed under several matching keys appears in several lists; check it once.
      if (bestOrdinal === last) continue;
      last = bestOrdinal;
      if (matches(bestOrdinal, view)) return results[bestOrdinal]!;
    }
  }

  return { match, priorities: ordered.map((r) => r.priority), usesGeo: ordered.some((r) => r.conditions.some((c) => c.geo !== undefined)) };
}
