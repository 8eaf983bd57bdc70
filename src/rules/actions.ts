/**
 * Running a matched action: ALB redirects and fixed responses as web-standard
 * Responses, and the weighted choice between target groups with ALB's
 * group-level stickiness (`AWSALBTG`; here `FulcrumTG` by default).
 */
import { cookieValues, serializeSetCookie } from "../sticky/cookies.ts";
import type { WeightedGroup } from "./compile.ts";
import type { FixedResponseConfig, GroupStickinessConfig, RedirectConfig } from "./schema.ts";

export interface RedirectRequest {
  /** Full request URL (scheme, Host, path, query), as the client asked for it. */
  readonly url: string;
  /** The scheme the client used: from the URL, or a trusted X-Forwarded-Proto (the caller decides). */
  readonly proto: "http" | "https";
}

const defaultPort = (proto: string) => (proto === "https" ? "443" : "80");
const PLACEHOLDER = /#\{(protocol|host|port|path|query)\}/g;

/** The Location a redirect action sends this request to. */
export function redirectLocation(r: RedirectConfig, req: RedirectRequest): string {
  const u = new URL(req.url);
  const values: Record<string, string> = {
    protocol: req.proto,
    host: u.hostname,
    port: u.port || defaultPort(req.proto),
    // ALB: `#{path}` is the path without its leading "/" (so the default path is "/#{path}").
    path: u.pathname.slice(1),
    query: u.search.slice(1),
  };
  const fill = (template: string) => template.replace(PLACEHOLDER, (_, name: string) => values[name]!);

  const proto = r.protocol === undefined || r.protocol === "#{protocol}" ? req.proto : r.protocol === "HTTPS" ? "https" : "http";
  const host = r.host === undefined ? values.host! : fill(r.host);
  // An unspecified port keeps the request's port only while the scheme stays the
  // same: `{ protocol: "HTTPS" }` on a request to :80 goes to :443, not https://…:80.
  // An explicit "#{port}" always keeps it (ALB).
  const port = r.port === undefined ? (proto === req.proto ? values.port! : defaultPort(proto)) : fill(String(r.port));
  const path = r.path === undefined ? u.pathname : fill(r.path);
  const query = r.query === undefined ? values.query! : fill(r.query);
  const portPart = port === defaultPort(proto) ? "" : `:${port}`;
  return `${proto}://${host}${portPart}${path}${query ? `?${query}` : ""}`;
}

export function redirectResponse(action: { readonly redirect: RedirectConfig }, req: RedirectRequest): Response {
  return new Response(null, { status: action.redirect.statusCode, headers: { location: redirectLocation(action.redirect, req) } });
}

export function fixedResponse(action: { readonly fixedResponse: FixedResponseConfig }): Response {
  const f = action.fixedResponse;
  // 204/205 carry no content (RFC 9110 §15.3.5/§15.3.6); the schema rejects a body with them.
  if (f.statusCode === 204 || f.statusCode === 205) return new Response(null, { status: f.statusCode });
  return new Response(f.messageBody ?? "", { status: f.statusCode, headers: { "content-type": f.contentType } });
}

export interface WeightedChoice {
  readonly group: string;
  /** True when the response should (re)set the group stickiness cookie. */
  readonly setStickiness: boolean;
}

/**
 * Pick a target group of a (weighted) forward. With stickiness, a client whose
 * cookie names a group that is still in the action with weight > 0 stays
 * there (ALB); a weight set to 0 moves sticky clients away too.
 */
export function chooseWeightedGroup(
  action: { readonly targetGroups: readonly WeightedGroup[]; readonly stickiness?: GroupStickinessConfig | undefined },
  random: () => number,
  stickyGroup: string | undefined,
): WeightedChoice {
  const groups = action.targetGroups;
  if (groups.length === 1) return { group: groups[0]!.group, setStickiness: false };
  const sticky = action.stickiness?.enabled ? action.stickiness : undefined;
  if (sticky && stickyGroup !== undefined) {
    for (const g of groups) if (g.group === stickyGroup && g.weight > 0) return { group: g.group, setStickiness: false };
  }
  let total = 0;
  for (const g of groups) total += g.weight;
  let r = random() * total;
  let chosen = groups[0]!.group;
  for (const g of groups) {
    if (g.weight <= 0) continue;
    chosen = g.group;
    r -= g.weight;
    if (r < 0) break;
  }
  return { group: chosen, setStickiness: sticky !== undefined };
}

/** The group named by the request's group stickiness cookie, if any (the Cookie header is read only when the action has group stickiness). */
export function stickyGroupFrom(headers: Headers, stickiness: GroupStickinessConfig | undefined): string | undefined {
  if (!stickiness?.enabled) return undefined;
  return cookieValues(headers.get("cookie"), stickiness.cookieName, 1)[0];
}

/**
 * `Set-Cookie` binding the client to `group`. The value is the group name:
 * group names are configuration vocabulary, not internal addresses, and a
 * client choosing its own group can only reach groups this action already
 * sends traffic to (the weight > 0 check above), so it is not signed.
 */
export function groupStickinessCookie(stickiness: GroupStickinessConfig, group: string, nowSec: number): string {
  return serializeSetCookie(stickiness.cookieName, group, {
    maxAge: stickiness.duration,
    expires: new Date((nowSec + stickiness.duration) * 1000),
    path: "/",
    secure: false,
    httpOnly: true,
    sameSite: "Lax",
  });
}
