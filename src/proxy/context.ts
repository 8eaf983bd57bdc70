/**
 * What forwarding needs from the rest of the balancer, and nothing more: the
 * platform's upstream client and clock, the metrics, the forwarding settings
 * and access log of the current config. The request path goes down from here
 * (to the pool, the health table, the strategies) and never back up into the
 * app that built it.
 */
import type { Context } from "hono";
import type { ForwardingConfig } from "../config/schema.ts";
import type { AccessLogger } from "../metrics/access-log.ts";
import type { Metrics, RuleMetrics } from "../metrics/registry.ts";
import type { Platform } from "../platform.ts";
import type { AttemptDeps } from "./attempt.ts";
import type { ClientAddress } from "./client-address.ts";
import type { WebSocketConfig } from "./websocket-schema.ts";
import type { Transform } from "../transform/transform.ts";
import type { TargetGroup } from "../pool/group.ts";
import type { OpenWebSockets } from "./websocket-registry.ts";

export interface ProxyContext extends AttemptDeps {
  readonly platform: Pick<Platform, "now" | "timer" | "upstream" | "log" | "fixedLength" | "streamReadSize" | "websocket" | "random" | "background">;
  readonly metrics: Metrics;
  readonly forwarding: ForwardingConfig;
  /** Undefined when access logging is off (the entry is then never built). */
  readonly accessLog: AccessLogger | undefined;
  readonly websocket: WebSocketConfig;
  /** Every relay open on this balancer (graceful shutdown closes them). */
  readonly sockets: OpenWebSockets;
}

/** One request as the proxy route hands it to forwarding. */
export interface ForwardRequest {
  readonly c: Context;
  readonly client: ClientAddress;
  /** The matched rule's metrics handle (its name is its priority, or "default"). */
  readonly rule: RuleMetrics;
  /** The client's path and query, as sent. */
  readonly path: string;
  /** The group a copy of the request goes to (the group's `mirror`), when one does. */
  readonly mirrorTo?: TargetGroup | undefined;
  /** The rule's and the group's `transform`, when either has one. */
  readonly transform?: Transform | undefined;
}
