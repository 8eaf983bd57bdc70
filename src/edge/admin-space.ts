/**
 * The balancer's own paths are a reserved space: a request in it is answered
 * by the balancer (the admin route, or 404/405 here) and never forwarded.
 *
 * The admin routes match their paths exactly, so any other spelling of them
 * (`/__fulcrum/stats/`, `//__fulcrum/stats`, `/__FULCRUM/stats`,
 * `/__fulcrum/stats;x`, `/__fulcrum%2fstats`, or a POST) used to fall through
 * to the targets with the client's `Authorization` header intact. Browsers
 * also resend Basic credentials to every path at or below the protection
 * space of the page that asked for them (RFC 7617 §2.2: everything under
 * `/__fulcrum/` for the default stats page), so nothing there may leave the
 * balancer. A path is in the space when any common reading of it is:
 * percent-decoded in full, `\` as `/`, `;params` dropped (Tomcat, Jetty),
 * slashes merged, dot segments removed, case folded.
 *
 * The space is `/__fulcrum` and everything below it, plus each admin path
 * configured elsewhere (the stats page with everything below it, where its
 * `status.json` lives).
 */
import { mergeSlashes, removeDotSegments } from "../rules/normalize-path.ts";
import { methodNotAllowed, notFound } from "../proxy/errors.ts";

/** Always reserved, whatever the config says. */
export const RESERVED_ROOT = "/__fulcrum";

export interface AdminPaths {
  /** Paths an admin route answers exactly (GET and HEAD). */
  readonly exact: readonly string[];
  /** Paths reserved with everything below them. */
  readonly subtrees: readonly string[];
}

/** Every `%XX` decoded (as Latin-1: only ASCII prefixes are compared); malformed escapes stay. */
function decodeAll(path: string): string {
  return path.replace(/%([0-9A-Fa-f]{2})/g, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)));
}

/** The readings of a raw path a target might act on, case-folded. */
function readings(raw: string): string[] {
  let p = raw.includes("%") ? decodeAll(raw) : raw;
  if (p.includes("\\")) p = p.replaceAll("\\", "/");
  if (p.includes(";")) p = p.replace(/;[^/]*/g, "");
  p = p.toLowerCase();
  const merged = removeDotSegments(mergeSlashes(p));
  const kept = mergeSlashes(removeDotSegments(p));
  return merged === kept ? [merged] : [merged, kept];
}

const escapeRegex = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

/**
 * `answer(method, rawPath)`: the balancer's answer when the request is in the
 * reserved space and no admin route took it, else undefined (forward it).
 * The common request costs two regular-expression tests on its raw path.
 */
export function adminSpace(paths: AdminPaths): (method: string, rawPath: string) => Response | undefined {
  const subtrees = [RESERVED_ROOT, ...paths.subtrees].map((p) => p.toLowerCase());
  const exact = new Set(paths.exact.map((p) => p.toLowerCase()));
  const roots = [...subtrees, ...exact];
  // Plain spellings: a path that starts with a root (any case); anything that could be decoded into one.
  const plain = new RegExp(`^(?:${roots.map(escapeRegex).join("|")})(?:[/;]|$)`, "i");
  const disguised = /[%\\;]|\/\/|\/\./;
  const inSpace = (p: string) => exact.has(p) || subtrees.some((root) => p === root || p.startsWith(root + "/"));
  const allowed = new Set(paths.exact);
  return function answer(method, rawPath) {
    if (!plain.test(rawPath) && !disguised.test(rawPath)) return undefined;
    if (!readings(rawPath).some(inSpace)) return undefined;
    // The exact path of an admin route reached here only by its method.
    if (allowed.has(rawPath) && method !== "GET" && method !== "HEAD") return methodNotAllowed("GET, HEAD");
    return notFound();
  };
}
