/**
 * The request a target gets, built once per client request and shared by HTTP
 * and WebSocket forwarding: the headers (hop-by-hop removed, request id,
 * forwarding headers), the client's sticky binding in the group, and the
 * choice of target (a valid binding first, then the strategy).
 */
import type { Context } from "hono";
import type { ForwardingConfig } from "../config/schema.ts";
import type { TargetGroup } from "../pool/group.ts";
import type { PoolTarget } from "../pool/target.ts";
import type { Stickiness, StickyBinding } from "../sticky/affinity.ts";
import type { ClientAddress } from "./client-address.ts";
import { applyForwarding, ensureRequestId, FORWARDING_HEADERS, stripHopByHop } from "./headers.ts";

/** Path and query exactly as the client sent them: everything after the authority. */
export function rawPathAndQuery(url: string): string {
  const slash = url.indexOf("/", url.indexOf("//") + 2);
  return slash < 0 ? "/" : url.slice(slash);
}

/** The client's headers as a target gets them: hop-by-hop removed, request id ensured, forwarding headers applied. */
export function upstreamHeaders(forwarding: ForwardingConfig, request: Request, client: ClientAddress): { headers: Headers; requestId: string } {
  const headers = new Headers(request.headers);
  stripHopByHop(headers, client.trusted ? undefined : FORWARDING_HEADERS, true);
  const requestId = ensureRequestId(headers, forwarding.requestIdHeader);
  const url = request.url;
  applyForwarding(
    headers,
    { ip: client.peer, realIp: client.client, trusted: client.trusted, proto: url.startsWith("https:") ? "https" : "http", host: request.headers.get("host") },
    forwarding,
    true,
  );
  return { headers, requestId };
}

/** What stickiness decided for one request. */
export interface StickyState {
  readonly sticky: Stickiness | undefined;
  readonly nowSec: number;
  readonly binding: StickyBinding | undefined;
  readonly bound: PoolTarget | undefined;
}

const NOT_STICKY: StickyState = { sticky: undefined, nowSec: 0, binding: undefined, bound: undefined };

/**
 * The client's sticky binding in this group, if any (and the cookie header the
 * target gets: the binding cookie removed in `indirect` mode). Synchronous
 * when there is nothing to verify (no stickiness, or no cookie at all): the
 * common first request pays no promise for it.
 */
export function stickyBinding(group: TargetGroup, request: Request, headers: Headers): StickyState | Promise<StickyState> {
  const sticky = group.stickinessReady;
  if (sticky === undefined) return group.stickiness === undefined ? NOT_STICKY : group.stickiness.then(() => stickyBinding(group, request, headers));
  if (sticky === null) return NOT_STICKY; // its key failed to import: serving without (logged once)
  const nowSec = Math.floor(Date.now() / 1000);
  const cookie = request.headers.get("cookie");
  if (cookie === null) return { sticky, nowSec, binding: undefined, bound: undefined };
  const forwarded = sticky.forwardedCookieHeader(cookie);
  if (forwarded === null) headers.delete("cookie");
  else if (forwarded !== cookie) headers.set("cookie", forwarded);
  return sticky.targetFor(request.headers, nowSec).then((binding) => ({ sticky, nowSec, binding, bound: binding ? group.targets[binding.index] : undefined }));
}

/** A valid sticky binding wins while its target can take traffic; otherwise the strategy picks (skipping targets tried). */
export function pickTarget(
  group: TargetGroup,
  c: Context,
  client: ClientAddress,
  bound: PoolTarget | undefined,
  tried: ReadonlySet<PoolTarget>,
  now: number,
): PoolTarget | undefined {
  return bound && !tried.has(bound) && group.canTake(bound, now) ? bound : group.select(c, client.client, tried, now);
}
