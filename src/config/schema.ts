/**
 * The configuration file, as a valibot schema. Types are inferred from here
 * (never duplicated by hand) and the editor JSON Schema is generated from it.
 * Vocabulary follows AWS ALB (listeners, target groups, actions); durations
 * are seconds, as in ALB and nginx's `60s`.
 */
import * as v from "valibot";
import { StateSchema } from "../state/schema.ts";
import { WebSocketSchema } from "../proxy/websocket-schema.ts";
import { strategyNames } from "../../strategies/index.ts";
import { strategyOptionEntries } from "../../strategies/options.ts";
import { parseCidr } from "../net/ip.ts";
import { isBindableHost } from "../net/host.ts";
import { NAME, port, quote, seconds } from "./units.ts";
import { ActionSchema, type RuleConfig, RuleSchema } from "../rules/schema.ts";
import { StickinessSchema } from "../sticky/schema.ts";
import { healthEntries } from "../health/schema.ts";
import { AccessLogSchema } from "../metrics/schema.ts";
import { MetricsEndpointSchema, StatsSchema } from "../stats/schema.ts";
import { ApiSchema } from "../admin/schema.ts";

export const httpUrl = v.pipe(
  v.string(),
  v.check((s) => {
    try {
      const u = new URL(s);
      return (u.protocol === "http:" || u.protocol === "https:") && u.username === "" && !u.hash;
    } catch {
      return false;
    }
  }, (i) => `expected an http(s) URL, got ${quote(i.input)}`),
);

/**
 * A target: an origin only (the client's path is forwarded as is), kept in its one spelling
 * (`http://10.0.0.2:80/` is `http://10.0.0.2`), because a target's URL is its identity: the pool,
 * its health and the state store's overrides are keyed by it, across reloads and instances.
 */
export const originUrl = v.pipe(
  httpUrl,
  v.check((s) => {
    const u = URL.canParse(s) ? new URL(s) : undefined;
    return !u || ((u.pathname === "/" || u.pathname === "") && !u.search);
  }, (i) => `expected an origin without path or query (scheme://host:port), got ${quote(i.input)}`),
  v.transform((s) => new URL(s).origin),
);

const cidr = v.pipe(
  v.string(),
  v.check((s) => parseCidr(s) !== undefined, (i) => `expected an IPv4/IPv6 address or CIDR, got ${quote(i.input)}`),
);

export const TargetSchema = v.strictObject({
  /** What commands and the stats page call it (HAProxy's server name, `app1`); unique in its group. Default: its URL. */
  name: v.optional(v.pipe(v.string(), v.regex(NAME, (i) => `expected a name of letters, digits, _ . - (up to 64), got ${quote(i.input)}`))),
  /** Origin of the target; a path prefix is not supported (the client's path is forwarded as is). */
  url: originUrl,
  /** Relative share of new traffic (nginx `weight=`, default 1). 0 = no new traffic. */
  weight: v.optional(
    v.pipe(
      v.number(),
      v.integer("expected an integer weight"),
      v.minValue(0, "expected a weight from 0 to 1000"),
      v.maxValue(1000, "expected a weight from 0 to 1000"),
    ),
    1,
  ),
  /** Used only when no primary target is available (nginx/HAProxy `backup`). */
  backup: v.optional(v.boolean(), false),
  /** Draining: no new requests or sessions; sticky clients stay until `deregistrationDelay` passes. */
  drain: v.optional(v.boolean(), false),
});

/** Where the `hash` strategy takes its key from. */
export const HashKeySchema = v.variant("source", [
  v.strictObject({ source: v.literal("header"), name: v.pipe(v.string(), v.nonEmpty("expected a header name")) }),
  v.strictObject({ source: v.literal("cookie"), name: v.pipe(v.string(), v.nonEmpty("expected a cookie name")) }),
  v.strictObject({ source: v.literal("query"), name: v.pipe(v.string(), v.nonEmpty("expected a query parameter name")) }),
  v.strictObject({ source: v.literal("path") }),
  v.strictObject({ source: v.literal("client_ip") }),
]);

export const TimeoutsSchema = v.strictObject({
  /** Time to establish the upstream connection where the runtime can tell it apart (Node, Deno). */
  connect: v.optional(seconds(0.001, 3600), 5),
  /** Time from the end of the request (its body sent) to the upstream's response headers (nginx `proxy_read_timeout` 60 s). */
  response: v.optional(seconds(0.001, 86400), 60),
  /**
   * Longest wait for the next bytes of the response body once it streams
   * (nginx `proxy_read_timeout` between two reads, HAProxy `timeout server`);
   * then the client's connection is aborted. Default: `response`.
   */
  read: v.optional(seconds(0.001, 86400)),
});

export const TargetGroupSchema = v.strictObject({
  strategy: v.optional(v.picklist(strategyNames, (i) => `expected one of ${strategyNames.join(", ")}, got ${quote(i.input)}`), "round_robin"),
  targets: v.pipe(v.array(TargetSchema), v.minLength(1, "expected at least one target")),
  /** `preserve` sends the client's Host (HAProxy, ALB); `target` sends the target's host (nginx `$proxy_host`). */
  hostHeader: v.optional(v.picklist(["preserve", "target"]), "preserve"),
  /** Key for the `hash` strategy (default: client IP). */
  hashKey: v.optional(HashKeySchema, { source: "client_ip" }),
  timeouts: v.optional(TimeoutsSchema, {}),
  /** Sticky sessions (ALB lb_cookie / app_cookie, HAProxy cookie insert). */
  stickiness: v.optional(StickinessSchema),
  /** Passive and active health, retries, slow start, draining, panic (src/health/schema.ts). */
  ...healthEntries,
  ...strategyOptionEntries,
});

/**
 * One listener (ALB vocabulary). HTTPS listeners terminate TLS with a
 * certificate and key from PEM files on Bun, Deno and Node (HAProxy
 * `bind *:443 ssl crt`); on Workers TLS ends at Cloudflare's edge and
 * listeners are ignored.
 */
export const ListenerSchema = v.strictObject({
  port,
  /** Address to bind (Bun, Deno, Node): an IPv4 or IPv6 address, or a host name. Ignored on Workers. */
  host: v.optional(v.pipe(v.string(), v.check(isBindableHost, (i) => `expected an IP address or a host name, got ${quote(i.input)}`)), "0.0.0.0"),
  protocol: v.optional(v.picklist(["HTTP", "HTTPS"]), "HTTP"),
  /** PEM files, required for HTTPS. */
  certificate: v.optional(v.strictObject({ certFile: v.pipe(v.string(), v.nonEmpty()), keyFile: v.pipe(v.string(), v.nonEmpty()) })),
  /**
   * This listener's own rules (in ALB rules belong to a listener). Without them a listener uses
   * the config's `rules`, unless it has its own `defaultAction`: then it runs only that (a `:80`
   * that redirects to HTTPS redirects everything).
   */
  rules: v.optional(v.array(RuleSchema)),
  /** This listener's own default action (e.g. :80 redirecting to HTTPS); the config's `defaultAction` otherwise. */
  defaultAction: v.optional(ActionSchema),
});

export const ForwardingSchema = v.strictObject({
  /**
   * Peers whose X-Forwarded-* / Forwarded / X-Real-IP headers are believed
   * and appended to (Envoy `xff_num_trusted_hops`, Caddy `trusted_proxies`).
   * From anyone else those headers are replaced, not appended to.
   */
  trustedProxies: v.optional(v.array(cidr), []),
  /** Send X-Forwarded-For/-Proto/-Host and X-Real-IP (nginx's usual set). */
  xForwarded: v.optional(v.boolean(), true),
  /** Also send the RFC 7239 `Forwarded` header. */
  forwarded: v.optional(v.boolean(), false),
  /** Request id header: forwarded when present, generated when absent, echoed on the response. */
  requestIdHeader: v.optional(v.pipe(v.string(), v.regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, "expected a header name")), "X-Request-Id"),
});

export const AdminSchema = v.strictObject({
  /** The balancer's own health endpoint (not forwarded): 200, or 503 while shutting down. */
  healthPath: v.optional(v.pipe(v.string(), v.startsWith("/", "expected a path starting with /")), "/__fulcrum/health"),
  /** HAProxy `stats uri` + `stats auth`: live HTML page and JSON status. Off unless configured (it shows internal addresses). */
  stats: v.optional(StatsSchema),
  /** Prometheus text exposition. Off unless configured. */
  metrics: v.optional(MetricsEndpointSchema),
  /** The admin API (`fulcrum status`, `route`, `drain`, ...): its own loopback port by default on servers, `false` to turn it off. */
  api: v.optional(ApiSchema),
});

/**
 * Graceful shutdown on SIGTERM/SIGINT (Bun, Deno, Node): the health endpoint
 * turns 503 at once; new connections are still accepted for `grace` seconds
 * so that whatever balances in front notices (Kubernetes preStop, ALB
 * deregistration); then listening stops and in-flight requests get up to
 * `deadline` seconds to finish (nginx `worker_shutdown_timeout`).
 */
export const ShutdownSchema = v.strictObject({
  grace: v.optional(seconds(0, 3600), 0),
  deadline: v.optional(seconds(0, 3600), 30),
});

/**
 * How long the balancer waits on its clients (Bun, Deno, Node; Cloudflare's
 * edge owns client connections on Workers). Without them any client could
 * hold a connection open for good by sending half a request, or nothing.
 */
export const ClientTimeoutsSchema = v.strictObject({
  /** A request's headers must arrive within this (nginx `client_header_timeout` 60 s, HAProxy `timeout http-request`). Also the TLS handshake's limit. */
  clientHeader: v.optional(seconds(1, 3600), 60),
  /** A keep-alive connection with no request is closed after this (nginx `keepalive_timeout` 75 s, HAProxy `timeout http-keep-alive`). */
  clientIdle: v.optional(seconds(1, 3600), 75),
});

export const ConfigSchema = v.strictObject({
  /** Editors' JSON Schema reference; ignored. */
  $schema: v.optional(v.string()),
  /** One listener, or a list (e.g. :80 redirecting to :443). */
  listen: v.union(
    [ListenerSchema, v.pipe(v.array(ListenerSchema), v.minLength(1, "expected at least one listener"))],
    "expected a listener object or a list of listeners",
  ),
  /** None at all is a config that only redirects or answers itself. */
  targetGroups: v.optional(v.record(v.pipe(v.string(), v.regex(NAME, "expected a name of letters, digits, _ . -")), TargetGroupSchema), {}),
  /** ALB rules of the listeners that have neither rules nor a defaultAction of their own: lowest priority first; the first match's action runs. */
  rules: v.optional(v.array(RuleSchema), []),
  /** What those listeners run when no rule matches (`fulcrum route default` changes it). */
  defaultAction: v.optional(ActionSchema),
  forwarding: v.optional(ForwardingSchema, {}),
  admin: v.optional(AdminSchema, {}),
  shutdown: v.optional(ShutdownSchema, {}),
  /** One JSON (or common log format) line per request, off or sampled. */
  accessLog: v.optional(AccessLogSchema, {}),
  /** Shared state between instances (health, passive failures, overrides): memory, redis, deno-kv or cloudflare. */
  state: v.optional(StateSchema, { store: "memory" }),
  /** Client header and keep-alive timeouts (the targets' timeouts are per target group). */
  timeouts: v.optional(ClientTimeoutsSchema, {}),
  /** WebSocket relay: idle timeout, keep-alive pings, buffer bound. */
  websocket: v.optional(WebSocketSchema, {}),
});

export type Config = v.InferOutput<typeof ConfigSchema>;
export type ConfigInput = v.InferInput<typeof ConfigSchema>;
export type ListenerConfig = v.InferOutput<typeof ListenerSchema>;
export type TargetGroupConfig = v.InferOutput<typeof TargetGroupSchema>;
export type TargetConfig = v.InferOutput<typeof TargetSchema>;
export type HashKeyConfig = v.InferOutput<typeof HashKeySchema>;
export type ForwardingConfig = v.InferOutput<typeof ForwardingSchema>;
export type ClientTimeoutsConfig = v.InferOutput<typeof ClientTimeoutsSchema>;

/**
 * What identifies a listener across reloads: the address it binds. Port 0
 * (the system picks one) is only ever the same listener by its position.
 */
export function listenerKey(l: Pick<ListenerConfig, "host" | "port">, index = 0): string {
  const host = l.host.includes(":") ? `[${l.host}]` : l.host;
  return l.port === 0 ? `${host}:0#${index}` : `${host}:${l.port}`;
}

/** The rules a listener runs: its own, none when it has its own default action only, else the config's. */
export function listenerRules(l: ListenerConfig, config: Pick<Config, "rules">): readonly RuleConfig[] {
  return l.rules ?? (l.defaultAction ? [] : config.rules);
}

/** Every rule of the config, the listeners' own included (priorities are unique across them). */
export function allRules(config: Pick<Config, "rules" | "listen">): RuleConfig[] {
  return [...config.rules, ...listenersOf(config).flatMap((l) => l.rules ?? [])];
}

/** The listeners as a list, whichever form the file used. */
export function listenersOf(config: Pick<Config, "listen">): readonly ListenerConfig[] {
  return Array.isArray(config.listen) ? config.listen : [config.listen];
}
