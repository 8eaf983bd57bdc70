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
import { bytes, described, NAME, port, quote, seconds } from "./units.ts";
import { RateLimitSchema } from "../ratelimit/schema.ts";
import { TransformSchema } from "../transform/schema.ts";
import { MirrorSchema } from "../mirror/schema.ts";
import { type DiscoverConfig, DiscoverSchema, ResolverSchema } from "../discovery/schema.ts";
import { failoverEntries, limitEntries, maxConnections } from "../pool/schema.ts";
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
  name: described(
    v.optional(v.pipe(v.string(), v.regex(NAME, (i) => `expected a name of letters, digits, _ . - (up to 64), got ${quote(i.input)}`))),
    "What commands, logs and the stats page call the target (HAProxy's server name, e.g. app1): letters, digits, _ . -, unique in its group. Default: its URL.",
  ),
  url: described(
    originUrl,
    "The target's origin, scheme://host:port (e.g. http://10.0.0.2:8080), without path or query: the client's path is forwarded as is.",
  ),
  weight: described(
    v.optional(
      v.pipe(
        v.number(),
        v.integer("expected an integer weight"),
        v.minValue(0, "expected a weight from 0 to 1000"),
        v.maxValue(1000, "expected a weight from 0 to 1000"),
      ),
      1,
    ),
    "Relative share of new traffic, 0 to 1000 (nginx weight=); 0 = no new traffic. Default 1.",
  ),
  backup: described(v.optional(v.boolean(), false), "Use this target only when no primary target is available (nginx and HAProxy backup). Default false."),
  drain: described(
    v.optional(v.boolean(), false),
    "Drain the target: no new requests or sessions; sticky clients stay until the group's deregistrationDelay passes. Default false.",
  ),
  maxConnections: maxConnections("this target"),
});

const hashKeyName = (what: string) => described(v.pipe(v.string(), v.nonEmpty(`expected a ${what} name`)), `Name of the ${what} whose value is the key.`);

/** Where the `hash` strategy takes its key from. */
export const HashKeySchema = v.variant("source", [
  v.strictObject({ source: described(v.literal("header"), "Hash a request header's value."), name: hashKeyName("header") }),
  v.strictObject({ source: described(v.literal("cookie"), "Hash a request cookie's value."), name: hashKeyName("cookie") }),
  v.strictObject({ source: described(v.literal("query"), "Hash a query parameter's value."), name: hashKeyName("query parameter") }),
  v.strictObject({ source: described(v.literal("path"), "Hash the request path (without the query).") }),
  v.strictObject({ source: described(v.literal("client_ip"), "Hash the client's address (after trusted-proxy handling).") }),
]);

export const TimeoutsSchema = v.strictObject({
  connect: described(
    v.optional(seconds(0.001, 3600), 5),
    "Seconds to establish the connection to a target, where the runtime can tell it apart (Node, Deno). Default 5.",
  ),
  response: described(
    v.optional(seconds(0.001, 86400), 60),
    "Seconds from the end of the request (its body sent) to the target's response headers (nginx proxy_read_timeout). Default 60.",
  ),
  read: described(
    v.optional(seconds(0.001, 86400)),
    "Longest wait in seconds for the next bytes of a streaming response body (nginx proxy_read_timeout between two reads, HAProxy timeout server); then the client's connection is aborted. Default: the response timeout.",
  ),
});

const workersExpected = (i: { input: unknown }) => `expected a number of worker processes from 1 to 256, or "auto", got ${quote(i.input)}`;

/**
 * A target as listed: `{ url, ... }`, or a name to find targets by in DNS (`{ dns, port }`,
 * `{ srv }`, discovery/schema.ts). Dispatched on the input's keys, so each form reports its own
 * mistakes by field path.
 */
const ListedTargetSchema = v.lazy((input: unknown) =>
  input !== null && typeof input === "object" && ("dns" in input || "srv" in input) ? DiscoverSchema : TargetSchema
);

const TargetGroupEntries = v.strictObject({
  strategy: described(
    v.optional(v.picklist(strategyNames, (i) => `expected one of ${strategyNames.join(", ")}, got ${quote(i.input)}`), "round_robin"),
    "How a target is picked: round_robin (weighted, nginx's smooth round robin; weighted_round_robin is the same), least_connections (nginx least_conn), least_request (Envoy, power of two choices), random, ip_hash (nginx ip_hash), hash (consistent hash of hashKey), latency_aware (peak EWMA latency). Default round_robin.",
  ),
  targets: described(
    v.optional(v.array(ListedTargetSchema), []),
    'The group\'s targets (nginx upstream servers, HAProxy backend servers): { "url" }, or a DNS name whose records are targets ({ "dns", "port" } or { "srv" }, as discover); at least one.',
  ),
  discover: described(
    v.optional(DiscoverSchema),
    "Targets found in DNS beside the listed ones: a name's A/AAAA records with a port, or SRV records; re-resolved at their TTL, health checks applied (Bun, Deno, Node).",
  ),
  hostHeader: described(
    v.optional(v.picklist(["preserve", "target"]), "preserve"),
    'Host header sent to the target: "preserve" sends the client\'s Host (HAProxy, ALB); "target" sends the target\'s host (nginx $proxy_host). Default "preserve".',
  ),
  hashKey: described(
    v.optional(HashKeySchema, { source: "client_ip" }),
    "Where the hash strategy takes its key from: a header, cookie or query parameter (with name), the path, or the client IP. A request without the key goes to a random target. Default: the client IP.",
  ),
  timeouts: described(v.optional(TimeoutsSchema, {}), "Timeouts towards the targets, in seconds: connect, response headers, body reads."),
  stickiness: described(v.optional(StickinessSchema), "Sticky sessions by cookie (ALB lb_cookie / app_cookie, HAProxy cookie insert). Absent = off."),
  maxRequestBodySize: described(
    v.optional(bytes(0, Number.MAX_SAFE_INTEGER)),
    'Largest request body this group takes, in bytes or with a unit ("10MiB"); a larger one gets 413 (nginx client_max_body_size). Default: the top-level maxRequestBodySize.',
  ),
  /** Passive and active health, retries, slow start, draining, panic (src/health/schema.ts). */
  ...healthEntries,
  /** Failover to another group (src/pool/schema.ts). */
  ...failoverEntries,
  /** Connection limits and their queue (src/pool/schema.ts). */
  ...limitEntries,
  transform: described(
    v.optional(TransformSchema),
    "Headers and path of every request this group's targets get, and headers of what the client gets back (after a rule's own transform).",
  ),
  mirror: described(
    v.optional(MirrorSchema),
    "Send a copy of some of this group's requests to another group, whose answers are thrown away (nginx mirror, Envoy request mirroring): it never slows or fails the client's request.",
  ),
  ...strategyOptionEntries,
});

/** A target group: DNS names listed among its targets are gathered with its `discover` (discovery/). */
export const TargetGroupSchema = v.pipe(
  TargetGroupEntries,
  v.transform((g) => {
    const named = (t: (typeof g.targets)[number]): t is DiscoverConfig => "dns" in t || "srv" in t;
    return {
      ...g,
      targets: g.targets.filter((t): t is TargetConfig => !named(t)),
      /** Every DNS name the group's targets are found by: its `discover` and those listed in `targets`. */
      discover: [...(g.discover ? [g.discover] : []), ...g.targets.filter(named)],
    };
  }),
);

/**
 * One listener (ALB vocabulary). HTTPS listeners terminate TLS with a
 * certificate and key from PEM files on Bun, Deno and Node (HAProxy
 * `bind *:443 ssl crt`); on Workers TLS ends at Cloudflare's edge and
 * listeners are ignored.
 */
export const ListenerSchema = v.strictObject({
  port: described(port, "Port to listen on (Bun, Deno, Node); 0 lets the system pick a free one. Ignored on Workers."),
  host: described(
    v.optional(v.pipe(v.string(), v.check(isBindableHost, (i) => `expected an IP address or a host name, got ${quote(i.input)}`)), "0.0.0.0"),
    "Address to bind (Bun, Deno, Node): an IPv4 or IPv6 address, or a host name. Ignored on Workers. Default 0.0.0.0 (every IPv4 address).",
  ),
  protocol: described(
    v.optional(v.picklist(["HTTP", "HTTPS"]), "HTTP"),
    "HTTP, or HTTPS to terminate TLS with certificate (HAProxy bind ... ssl crt). Default HTTP.",
  ),
  certificate: described(
    v.optional(
      v.strictObject({
        certFile: described(v.pipe(v.string(), v.nonEmpty()), "Path of the PEM certificate file."),
        keyFile: described(v.pipe(v.string(), v.nonEmpty()), "Path of the PEM private key file."),
      }),
    ),
    "PEM certificate and key files; required for HTTPS.",
  ),
  rules: described(
    v.optional(v.array(RuleSchema)),
    "This listener's own rules (in ALB rules belong to a listener). Without them the listener runs the config's rules, unless it has its own defaultAction: then it runs only that (a :80 that redirects to HTTPS redirects everything).",
  ),
  defaultAction: described(
    v.optional(ActionSchema),
    "This listener's own default action (e.g. :80 redirecting to HTTPS); the config's defaultAction otherwise.",
  ),
});

const geoHeader = v.pipe(v.string(), v.regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, (i) => `expected a header name, got ${quote(i.input)}`));

export const ForwardingSchema = v.strictObject({
  trustedProxies: described(
    v.optional(v.array(cidr), []),
    "Addresses or CIDRs of the proxies whose X-Forwarded-*, Forwarded and X-Real-IP headers are believed and appended to (Envoy xff_num_trusted_hops, Caddy trusted_proxies). From anyone else those headers are replaced. Default: none.",
  ),
  xForwarded: described(
    v.optional(v.boolean(), true),
    "Send X-Forwarded-For, X-Forwarded-Proto, X-Forwarded-Host and X-Real-IP to targets (nginx's usual set). Default true.",
  ),
  forwarded: described(v.optional(v.boolean(), false), "Also send the RFC 7239 Forwarded header. Default false."),
  requestIdHeader: described(
    v.optional(v.pipe(v.string(), v.regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, "expected a header name")), "X-Request-Id"),
    "Request id header: forwarded when present, generated when absent, echoed on the response. Default X-Request-Id.",
  ),
  geoHeaders: described(
    v.optional(
      v.strictObject({
        country: described(v.optional(geoHeader), "Header with the client's country code (Cloudflare CF-IPCountry)."),
        continent: described(v.optional(geoHeader), "Header with the client's continent code."),
        region: described(v.optional(geoHeader), "Header with the client's region code."),
        colo: described(v.optional(geoHeader), "Header with the code of the data center that received the request."),
      }),
      { country: "CF-IPCountry" },
    ),
    "Where geo rule conditions read the client's location on Bun, Deno and Node: headers set by a proxy in front, believed only from trustedProxies (on Workers Cloudflare's request.cf is used). Default: CF-IPCountry for the country.",
  ),
});

export const AdminSchema = v.strictObject({
  healthPath: described(
    v.optional(v.pipe(v.string(), v.startsWith("/", "expected a path starting with /")), "/__fulcrum/health"),
    "Path of the balancer's own health endpoint (answered, not forwarded): 200, or 503 while shutting down. Default /__fulcrum/health.",
  ),
  stats: described(
    v.optional(StatsSchema),
    "Live HTML stats page and JSON status (HAProxy stats uri and stats auth). Off unless configured, since it shows internal addresses.",
  ),
  metrics: described(v.optional(MetricsEndpointSchema), "Prometheus metrics endpoint (text exposition format). Off unless configured."),
  api: described(
    v.optional(ApiSchema),
    "The admin API used by fulcrum status, route, drain, ...: on Bun, Deno and Node its own loopback port (127.0.0.1:9901) by default; false turns it off.",
  ),
});

export const ShutdownSchema = v.strictObject({
  grace: described(
    v.optional(seconds(0, 3600), 0),
    "Seconds after SIGTERM/SIGINT during which the health endpoint already answers 503 but new connections are still accepted, so that whatever balances in front notices (Kubernetes preStop, ALB deregistration). Default 0.",
  ),
  deadline: described(
    v.optional(seconds(0, 3600), 30),
    "Seconds in-flight requests get to finish once listening stops; then remaining connections are closed (nginx worker_shutdown_timeout). Default 30.",
  ),
});

/**
 * How long the balancer waits on its clients (Bun, Deno, Node; Cloudflare's
 * edge owns client connections on Workers). Without them any client could
 * hold a connection open for good by sending half a request, or nothing.
 */
export const ClientTimeoutsSchema = v.strictObject({
  clientHeader: described(
    v.optional(seconds(1, 3600), 60),
    "Seconds within which a request's headers must arrive, also the TLS handshake's limit (nginx client_header_timeout, HAProxy timeout http-request). Default 60.",
  ),
  clientIdle: described(
    v.optional(seconds(1, 3600), 75),
    "Seconds after which a keep-alive connection with no request is closed (nginx keepalive_timeout, HAProxy timeout http-keep-alive). Default 75.",
  ),
});

export const ConfigSchema = v.strictObject({
  $schema: described(v.optional(v.string()), "The JSON Schema editors check this file against; ignored by Fulcrum."),
  listen: described(
    v.union(
      [ListenerSchema, v.pipe(v.array(ListenerSchema), v.minLength(1, "expected at least one listener"))],
      "expected a listener object or a list of listeners",
    ),
    "One listener, or a list of them (e.g. :80 redirecting to :443).",
  ),
  targetGroups: described(
    v.optional(v.record(v.pipe(v.string(), v.regex(NAME, "expected a name of letters, digits, _ . -")), TargetGroupSchema), {}),
    "Target groups by name (nginx upstream, HAProxy backend, ALB target group). None at all is a config that only redirects or answers itself.",
  ),
  rules: described(
    v.optional(v.array(RuleSchema), []),
    "ALB listener rules for the listeners that have neither rules nor a defaultAction of their own: by ascending priority, the first rule that matches runs its action. Default: none.",
  ),
  defaultAction: described(
    v.optional(ActionSchema),
    "What those listeners run when no rule matches (fulcrum route default changes it); required unless every listener has its own.",
  ),
  forwarding: described(v.optional(ForwardingSchema, {}), "Headers that tell targets about the client: trusted proxies, X-Forwarded-*, Forwarded, request id."),
  admin: described(v.optional(AdminSchema, {}), "The balancer's own endpoints: health, stats page, Prometheus metrics, admin API."),
  shutdown: described(v.optional(ShutdownSchema, {}), "Graceful shutdown on SIGTERM/SIGINT (Bun, Deno, Node): grace, then deadline, in seconds."),
  accessLog: described(v.optional(AccessLogSchema, {}), "One JSON (or common log format) line per request; off by default, optionally sampled."),
  state: described(
    v.optional(StateSchema, { store: "memory" }),
    'What instances share (health, passive failures, runtime overrides): "memory" for one process, or a "redis", "deno-kv" or "cloudflare" store. Default memory.',
  ),
  timeouts: described(
    v.optional(ClientTimeoutsSchema, {}),
    "How long the balancer waits on its clients: header and keep-alive timeouts (the targets' timeouts are per target group).",
  ),
  websocket: described(v.optional(WebSocketSchema, {}), "WebSocket relay: idle timeout, keep-alive pings, buffer bound."),
  maxRequestBodySize: described(
    v.optional(bytes(0, Number.MAX_SAFE_INTEGER)),
    'Largest request body forwarded, in bytes or with a unit ("10MiB", nginx "10m"); a larger one gets 413 before anything reaches a target (nginx client_max_body_size). A target group may set its own. Default: no limit.',
  ),
  resolver: described(
    v.optional(ResolverSchema, {}),
    "How target groups' discover names are resolved: DNS servers and bounds on their TTLs (nginx resolver).",
  ),
  rateLimit: described(
    v.optional(RateLimitSchema),
    "A token bucket per key (client address, header, cookie or path) for every request on the traffic listeners, unless its rule has its own: over it, 429 with Retry-After and the IETF RateLimit fields. Absent: no limit.",
  ),
  workers: described(
    v.optional(
      v.union(
        [v.literal("auto"), v.pipe(v.number(), v.integer(workersExpected), v.minValue(1, workersExpected), v.maxValue(256, workersExpected))],
        workersExpected,
      ),
    ),
    'Worker processes sharing the listeners under one primary (Bun, Deno, Node; nginx worker_processes): a number, or "auto" for one per CPU. Unset: one process serves alone. --workers overrides it.',
  ),
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
