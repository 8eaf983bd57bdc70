/**
 * One ALB condition → one predicate over a RequestView, built once at start.
 * Values inside a condition are OR-ed; the router AND-s a rule's predicates.
 * Case handling follows ALB: path patterns are case-sensitive; host, header
 * values and query strings are compared case-insensitively (both sides are
 * lower-cased: patterns here, request fields once per request in the view);
 * methods are exact.
 */
import { cidrContains, parseCidr } from "../net/ip.ts";
import type { ConditionConfig } from "./schema.ts";
import type { RequestView } from "./request-view.ts";
import { compileWildcards, hasWildcard, literalPrefix, literalSuffix, type StringMatcher, unescapeLiteral } from "./wildcard.ts";

export type Predicate = (view: RequestView) => boolean;

/** Host patterns are written like hosts are compared: lower case, no trailing root dot. */
export function normalizeHostPattern(pattern: string): string {
  const p = pattern.toLowerCase();
  return p.endsWith(".") && !p.endsWith("\\.") ? p.slice(0, -1) : p;
}

export function compileCondition(c: ConditionConfig): Predicate {
  if (c.pathPattern) {
    const m = compileWildcards(c.pathPattern.values);
    return (view) => m(view.path);
  }
  if (c.hostHeader) {
    const m = compileWildcards(c.hostHeader.values.map(normalizeHostPattern), true);
    return (view) => {
      const host = view.host;
      return host !== null && m(host);
    };
  }
  if (c.httpHeader) {
    const name = c.httpHeader.name.toLowerCase();
    const m = compileWildcards(c.httpHeader.values, true);
    return (view) => {
      const value = view.header(name);
      return value !== null && m(value);
    };
  }
  if (c.httpRequestMethod) {
    const methods = new Set(c.httpRequestMethod.values);
    return (view) => methods.has(view.req.method);
  }
  if (c.queryString) {
    const pairs = c.queryString.values.map((kv) => ({
      key: kv.key === undefined ? undefined : compileWildcards([kv.key], true),
      value: compileWildcards([kv.value], true),
    }));
    return (view) => {
      for (const q of view.query) {
        for (const p of pairs) if ((p.key === undefined || p.key(q.key)) && p.value(q.value)) return true;
      }
      return false;
    };
  }
  if (c.sourceIp) {
    const cidrs = c.sourceIp.values.map((text) => {
      const cidr = parseCidr(text);
      if (!cidr) throw new Error(`invalid CIDR ${JSON.stringify(text)}`);
      return cidr;
    });
    return (view) => {
      const ip = view.clientIpBytes;
      if (ip === null) return false;
      for (const cidr of cidrs) if (cidrContains(cidr, ip)) return true;
      return false;
    };
  }
  if (c.geo) {
    const sets = (["country", "continent", "region", "colo"] as const).flatMap((k) => {
      const values = c.geo![k];
      return values === undefined ? [] : [[k, new Set(values.map((x) => x.toUpperCase()))] as const];
    });
    return (view) => {
      const geo = view.geo;
      if (geo === undefined) return false;
      for (const [k, set] of sets) {
        const value = geo[k];
        if (value === undefined || !set.has(value)) return false;
      }
      return true;
    };
  }
  throw new Error("condition without a known key");
}

/** Index keys a condition offers to the router (every value must yield one, since values are OR-ed). */
export interface IndexKeys {
  /** Exact lower-cased hosts (hostHeader without wildcards). */
  exactHosts?: string[];
  /** Literal host suffixes after the last wildcard, reversed (`*.example.com` → `moc.elpmaxe.`). */
  reversedHostSuffixes?: string[];
  /** Literal path prefixes before the first wildcard. */
  pathPrefixes?: string[];
  methods?: string[];
  /** A header name (lower case) with exact lower-cased values (httpHeader without wildcards). */
  header?: { name: string; values: string[] };
}

export function indexKeys(c: ConditionConfig): IndexKeys {
  if (c.hostHeader) {
    const patterns = c.hostHeader.values.map(normalizeHostPattern);
    if (!patterns.some(hasWildcard)) return { exactHosts: patterns.map(unescapeLiteral) };
    const suffixes = patterns.map((p) => literalSuffix(p));
    return suffixes.every((s) => s.length > 0) ? { reversedHostSuffixes: suffixes.map((s) => [...s].reverse().join("")) } : {};
  }
  if (c.pathPattern) return { pathPrefixes: c.pathPattern.values.map(literalPrefix) };
  if (c.httpRequestMethod) return { methods: [...c.httpRequestMethod.values] };
  if (c.httpHeader && !c.httpHeader.values.some(hasWildcard)) {
    return { header: { name: c.httpHeader.name.toLowerCase(), values: c.httpHeader.values.map((x) => unescapeLiteral(x).toLowerCase()) } };
  }
  return {};
}

export type { StringMatcher };
