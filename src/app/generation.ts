/**
 * A generation: one config compiled for serving, immutable, swapped whole.
 * It holds what follows from the config (each listener's rule router, each
 * group's strategy tiers, health table view, stickiness and timeouts, the
 * forwarding settings and access log) over targets that come from the pool
 * and outlive it (pool/target.ts). A request reads the current generation
 * once and uses only it, so it sees one config or the next, never a mix:
 * Pingora swaps its selector the same way (ArcSwap) when its backends change.
 *
 * Runtime overrides of rule actions (blue/green, canary weights) make a new
 * generation too (`withActions`), sharing the groups: only the routers change.
 */
import type { Hono } from "hono";
import { allRules, type Config, listenerRules, listenersOf } from "../config/schema.ts";
import { createAccessLog } from "../metrics/access-log.ts";
import type { Metrics, RuleMetrics } from "../metrics/registry.ts";
import type { Geo, Platform } from "../platform.ts";
import { TargetGroup } from "../pool/group.ts";
import type { TargetPool } from "../pool/pool.ts";
import { clientAddressing, type ClientAddressOf } from "../proxy/client-address.ts";
import type { ProxyContext } from "../proxy/context.ts";
import type { OpenWebSockets } from "../proxy/websocket-registry.ts";
import { compileRules, type Router } from "../rules/compile.ts";
import type { ActionConfig, RuleConfig } from "../rules/schema.ts";
import type { RateLimiter } from "../ratelimit/limiter.ts";
import { compileTransform, type Transform } from "../transform/transform.ts";
import { own } from "../state/store.ts";
import type { RateLimiters } from "../ratelimit/limiters.ts";
import type { CanaryMeasures } from "../../routes/proxy.ts";

/** Rule action overrides from the state store: a rule's priority, or "default", to the action to run instead. */
export type ActionOverrides = ReadonlyMap<number | "default", ActionConfig>;

export interface Generation {
  /** The config it serves: the file's, with the targets added and removed at run time (overlay.ts). */
  readonly config: Config;
  /** overlay.ts's key of those run-time targets: a snapshot with another key needs a new generation. */
  readonly overlayKey: string;
  /** The Hono app of each listener, by listener key (listener.ts). */
  readonly apps: ReadonlyMap<string, Hono>;
  /** By name; a Map, so no group name can collide with Object.prototype. */
  readonly groups: ReadonlyMap<string, TargetGroup>;
  /** One router per listener, in config order. */
  readonly routers: readonly Router[];
  readonly proxy: ProxyContext;
  readonly clientAddress: ClientAddressOf;
  /** The metrics handle of a rule (its priority; undefined: the default action). */
  ruleMetrics(rule: number | undefined): RuleMetrics;
  /** The group an action names (the config's references are checked, so it exists). */
  group(name: string): TargetGroup;
  /** The rate limit of a rule's requests (its priority; undefined: the default action): its own, or the config's. */
  rateLimit(rule: number | undefined): RateLimiter | undefined;
  /** Where canary rules' requests are measured (the balancer's, across configs). */
  readonly canaries: CanaryMeasures;
  /** The transform of a rule's requests to a group (the rule's, then the group's); undefined when neither has one. */
  transform(rule: number | undefined, group: string): Transform | undefined;
  /** Where the client is (geo conditions): the runtime's own knowledge, else a trusted proxy's headers. */
  geo(request: Request, trusted: boolean): Geo | undefined;
}

export interface GenerationDeps {
  readonly pool: TargetPool;
  readonly platform: Platform;
  readonly metrics: Metrics;
  readonly sockets: OpenWebSockets;
  readonly rateLimiters: RateLimiters;
  readonly canaries: CanaryMeasures;
}

/**
 * The overrides of `actions` that `config` cannot run, each with why: one forwarding to a group
 * it does not have (written by an instance whose config has it, or before a reload removed it).
 * They are left out of the routers, so the rule keeps the file's action, rather than failing
 * every request it matches.
 */
export function unusableActions(config: Config, actions: ActionOverrides): Map<number | "default", string> {
  const out = new Map<number | "default", string>();
  for (const [rule, action] of actions) {
    const missing = forwardGroups(action).find((g) => !Object.hasOwn(config.targetGroups, g));
    if (missing !== undefined) out.set(rule, `no target group ${missing}`);
  }
  return out;
}

function forwardGroups(action: ActionConfig): string[] {
  const f = action.forward;
  if (f === undefined) return [];
  return typeof f === "string" ? [f] : f.targetGroups.map((t) => t.group);
}

/** The routers of a config with `actions` in place of the rules' and the default's own (those it can run). */
function routersFor(config: Config, given: ActionOverrides): Router[] {
  const unusable = unusableActions(config, given);
  const actions = unusable.size ? new Map([...given].filter(([rule]) => !unusable.has(rule))) : given;
  const overridden = (rules: readonly RuleConfig[]) => rules.map((r) => ({ ...r, action: actions.get(r.priority) ?? r.action }));
  const defaultAction = actions.get("default") ?? config.defaultAction;
  // A listener's own default action (e.g. :80 redirecting to HTTPS) is its own; an override of "default" does not replace it.
  // Validation guarantees every listener one or the other.
  return listenersOf(config).map((l) => compileRules(overridden(listenerRules(l, config)), (l.defaultAction ?? defaultAction)!));
}

/** Compile `config` over the pool's targets. Its groups still need `activate` (see Balancer.swap) before it serves; the balancer adds the apps. */
export function buildGeneration(config: Config, deps: GenerationDeps, actions: ActionOverrides): Omit<Generation, "apps" | "overlayKey"> {
  const { platform, metrics } = deps;
  // A group without a body limit of its own takes the config's.
  const groups = new Map(
    Object.entries(config.targetGroups).map((
      [name, g],
    ) => [name, new TargetGroup(name, { ...g, maxRequestBodySize: g.maxRequestBodySize ?? config.maxRequestBodySize }, deps.pool, platform, metrics)]),
  );
  const rules = new Map<number | undefined, RuleMetrics>([
    [undefined, metrics.rule("default")],
    ...allRules(config).map((r) => [r.priority, metrics.rule(String(r.priority))] as const),
  ]);
  const proxy: ProxyContext = {
    platform,
    metrics,
    forwarding: config.forwarding,
    accessLog: createAccessLog(config.accessLog, { write: (line) => platform.log(line), random: platform.random }),
    websocket: config.websocket,
    sockets: deps.sockets,
  };
  // Each limit by where it applies: `default` for the config's, `rule-<priority>` for a rule's own.
  const limits = deps.rateLimiters.select([
    ...(config.rateLimit ? [["default", config.rateLimit] as const] : []),
    ...allRules(config).flatMap((r) => (r.rateLimit ? [[`rule-${r.priority}`, r.rateLimit] as const] : [])),
  ]);
  const everywhere = limits.get("default");
  // Compiled once per rule and group met (a rule's group may fail over to another).
  const ruleTransforms = new Map(allRules(config).flatMap((r) => (r.transform ? [[r.priority, r.transform] as const] : [])));
  const anyTransform = ruleTransforms.size > 0 || Object.values(config.targetGroups).some((g) => g.transform !== undefined);
  // null: compiled, and neither has a transform.
  const transforms = new Map<string, Transform | null>();
  return {
    config,
    groups,
    canaries: deps.canaries,
    geo: platform.geo
      ? (request) => platform.geo!(request)
      : (request, trusted) => (trusted ? geoFromHeaders(request.headers, config.forwarding.geoHeaders) : undefined),
    transform: anyTransform
      ? (rule, group) => {
        const key = `${rule} ${group}`;
        let t = transforms.get(key);
        if (t === undefined) {
          transforms.set(
            key,
            t = compileTransform(rule === undefined ? undefined : ruleTransforms.get(rule), own(config.targetGroups, group)?.transform) ?? null,
          );
        }
        return t ?? undefined;
      }
      : () => undefined,
    rateLimit: limits.size === 0 ? () => undefined : (rule) => (rule === undefined ? everywhere : (limits.get(`rule-${rule}`) ?? everywhere)),
    routers: routersFor(config, actions),
    proxy,
    clientAddress: clientAddressing((c) => platform.clientAddress(c), config.forwarding.trustedProxies),
    ruleMetrics: (rule) => rules.get(rule) ?? metrics.rule(String(rule)),
    group(name) {
      const g = groups.get(name);
      if (!g) throw new Error(`unknown target group ${name}`);
      return g;
    },
  };
}

/** A trusted proxy's location headers (forwarding.geoHeaders); undefined when it sent none. */
function geoFromHeaders(headers: Headers, names: Config["forwarding"]["geoHeaders"]): Geo | undefined {
  let geo: Record<string, string> | undefined;
  for (const k of ["country", "continent", "region", "colo"] as const) {
    const name = names[k];
    const value = name === undefined ? null : headers.get(name);
    if (value) (geo ??= {})[k] = value.trim().toUpperCase();
  }
  return geo;
}

/** The same generation with other rule action overrides: new routers, the same groups. */
export function withActions(gen: Generation, actions: ActionOverrides): Generation {
  return { ...gen, routers: routersFor(gen.config, actions) };
}
