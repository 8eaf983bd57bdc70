/**
 * Who may use the admin API, checked before any handler runs:
 *
 * - Browsers elsewhere may not: a request whose `Origin` is not the API's
 *   own, or whose `Sec-Fetch-Site` says it came from another site, is refused,
 *   so a page on the internet cannot drive an API on localhost with the
 *   viewer's browser (CSRF), as Caddy's admin endpoint refuses such origins.
 * - DNS rebinding: an API listening on loopback answers only requests whose
 *   `Host` names loopback, so a name an attacker points at 127.0.0.1 gets
 *   nothing (Caddy's `enforce_origin`, the Docker and Jupyter fixes).
 * - Credentials, where configured (required off loopback and on a traffic
 *   listener, admin/schema.ts): Basic or named bearer tokens, compared in
 *   constant time (stats/auth.ts). Who they are goes into the change log.
 */
import { isLoopback } from "../net/host.ts";
import { createAuthCheck, unauthorized } from "../stats/auth.ts";
import type { ApiConfig } from "./schema.ts";

export type Access = { readonly who: string } | { readonly refused: Response };

function refused(status: 403, error: string): { refused: Response } {
  return { refused: Response.json({ error }, { status, headers: { "cache-control": "no-store" } }) };
}

/** `host[:port]` without the port, brackets kept for IPv6. */
function hostnameOf(host: string): string {
  return host.startsWith("[") ? host.slice(0, host.indexOf("]") + 1) : host.replace(/:\d*$/, "");
}

/**
 * @throws at startup (and reload) when a token's environment variable is not set
 */
export function apiAccess(api: ApiConfig, env: Readonly<Record<string, unknown>>): (req: Request) => Promise<Access> {
  const auth = api.auth && createAuthCheck(api.auth, env, "fulcrum admin", "admin.api.auth");
  const loopbackOnly = api.path === undefined && isLoopback(api.listen?.host ?? "127.0.0.1");
  return async function access(req) {
    const host = req.headers.get("host") ?? "";
    if (loopbackOnly && !isLoopback(hostnameOf(host))) return refused(403, `host ${JSON.stringify(host)} refused: this API answers loopback names only`);
    const origin = req.headers.get("origin");
    if (origin !== null && !(URL.canParse(origin) && new URL(origin).host.toLowerCase() === host.toLowerCase())) {
      return refused(403, "cross-origin requests are refused");
    }
    const site = req.headers.get("sec-fetch-site");
    if (site !== null && site !== "same-origin" && site !== "none") return refused(403, "cross-site requests are refused");
    if (!auth) return { who: "" };
    const who = await auth.identify(req);
    return who === undefined ? { refused: unauthorized(auth) } : { who };
  };
}
