/**
 * The path that `pathPattern` conditions are matched against.
 *
 * Rules must not be bypassable by spelling the same resource differently
 * (`/static/../admin`, `/%61dmin`, `//admin`, `/admin\x`), so matching uses
 * one normal form that every common target reads the same way or more
 * narrowly:
 *   - `\` is a `/`: WHATWG URL parsers (Node, Bun, Deno, browsers) read it so
 *     in http(s) URLs; a target that reads it as a character sees a path no
 *     rule was written for, so matching it as `/` can only be stricter.
 *   - RFC 3986 §6.2.2: percent-encoded *unreserved* characters are decoded
 *     (§2.3: ALPHA DIGIT - . _ ~ mean the same either way), the remaining
 *     percent-encodings upper-cased (§6.2.2.1). Reserved characters stay
 *     encoded: `%2F` is data inside a segment, not a separator.
 *   - Runs of `/` are merged, as nginx does before matching locations
 *     (`merge_slashes on`, its default); Bun's fetch merges them on the way
 *     out too, so `//admin/x` reached the target as `/admin/x` unmatched.
 *   - Dot segments are removed (§5.2.4; after decoding, so `%2e%2e` is `..`).
 * Where merging and dot segments disagree (`/a//../b` is `/b` to nginx, Go
 * and Tomcat, which merge first, and `/a/b` to WHATWG parsers), the path
 * means different resources to different targets: `ambiguousPath` says so and
 * the request is refused rather than matched against one reading.
 *
 * The forwarded path is NOT rewritten: the target receives the path byte for
 * byte as the client sent it (see README "Proxy behaviour"), like nginx's
 * `proxy_pass` without a URI, HAProxy and ALB.
 */

const HEX = "0123456789ABCDEF";

function hexValue(c: number): number {
  if (c >= 48 && c <= 57) return c - 48; // 0-9
  if (c >= 65 && c <= 70) return c - 55; // A-F
  if (c >= 97 && c <= 102) return c - 87; // a-f
  return -1;
}

function isUnreserved(b: number): boolean {
  return (
    (b >= 0x41 && b <= 0x5a) || // A-Z
    (b >= 0x61 && b <= 0x7a) || // a-z
    (b >= 0x30 && b <= 0x39) || // 0-9
    b === 0x2d || b === 0x2e || b === 0x5f || b === 0x7e // - . _ ~
  );
}

/** Decode %XX of unreserved characters, upper-case the hex of the rest; malformed `%` is left alone. */
export function normalizePercentEncoding(s: string): string {
  if (!s.includes("%")) return s;
  let out = "";
  let from = 0;
  let i = s.indexOf("%");
  while (i >= 0 && i + 2 < s.length) {
    const hi = hexValue(s.charCodeAt(i + 1));
    const lo = hexValue(s.charCodeAt(i + 2));
    if (hi >= 0 && lo >= 0) {
      const b = hi * 16 + lo;
      out += s.slice(from, i) + (isUnreserved(b) ? String.fromCharCode(b) : "%" + HEX[hi] + HEX[lo]);
      from = i + 3;
    }
    i = s.indexOf("%", from > i ? from : i + 1);
  }
  return from === 0 ? s : out + s.slice(from);
}

/** RFC 3986 §5.2.4 on a path that starts with `/` (empty segments are kept, as the RFC does). */
export function removeDotSegments(path: string): string {
  if (!path.startsWith("/")) return path;
  const segments = path.split("/");
  const out: string[] = [];
  const lastIndex = segments.length - 1;
  for (let i = 1; i <= lastIndex; i++) {
    const seg = segments[i]!;
    if (seg === "." || seg === "..") {
      if (seg === "..") out.pop();
      // `/a/b/.` and `/a/b/..` name a directory: keep the trailing slash.
      if (i === lastIndex) out.push("");
      continue;
    }
    out.push(seg);
  }
  return "/" + out.join("/");
}

/** Runs of `/` as one (nginx `merge_slashes`). */
export function mergeSlashes(path: string): string {
  return path.replace(/\/{2,}/g, "/");
}

/** The path rules are matched against. Fast path: nothing to do for most paths. */
export function normalizePath(rawPath: string): string {
  let path = rawPath;
  if (path.includes("\\")) path = path.replaceAll("\\", "/");
  if (path.includes("%")) path = normalizePercentEncoding(path);
  if (path.includes("//")) path = mergeSlashes(path);
  if (path.includes("/.")) path = removeDotSegments(path);
  return path;
}

/**
 * True when the path names different resources to targets that merge slashes
 * before removing dot segments (nginx, Go, Tomcat) and to those that do not
 * (WHATWG URL): an empty segment before a `..`. No client needs to send one.
 */
export function ambiguousPath(rawPath: string): boolean {
  let path = rawPath;
  if (path.includes("\\")) path = path.replaceAll("\\", "/");
  if (!path.includes("//")) return false;
  if (path.includes("%")) path = normalizePercentEncoding(path);
  if (!path.includes("/.")) return false;
  return removeDotSegments(mergeSlashes(path)) !== mergeSlashes(removeDotSegments(path));
}
