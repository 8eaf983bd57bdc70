/**
 * A rule's and a group's `transform` compiled once per config: what the
 * target gets (its path, its headers for each attempt) and what the client
 * gets back. A rule's transform applies first, then the group's: the rule
 * is about the route, the group about what its servers expect.
 */
import type { HeaderOpsConfig, PathConfig, Placeholder, TransformConfig } from "./schema.ts";

/** What the placeholders of header values say, for one request (and attempt). */
export type Vars = Readonly<Record<Placeholder, string>>;

type Value = (vars: Vars) => string;

/** A header value with its placeholders resolved at compile time into a function. */
function compileValue(text: string): Value {
  const parts = text.split(/\{([a-z_]+)\}/);
  if (parts.length === 1) return () => text;
  return (vars) => {
    let out = parts[0]!;
    for (let i = 1; i < parts.length; i += 2) out += vars[parts[i] as Placeholder] + parts[i + 1]!;
    return out;
  };
}

type HeaderOps = (headers: Headers, vars: Vars) => void;

function compileHeaders(ops: HeaderOpsConfig | undefined): HeaderOps | undefined {
  if (ops === undefined) return undefined;
  const remove = ops.remove ?? [];
  const set = Object.entries(ops.set ?? {}).map(([k, v]) => [k, compileValue(v)] as const);
  const add = Object.entries(ops.add ?? {}).map(([k, v]) => [k, compileValue(v)] as const);
  return (headers, vars) => {
    for (const k of remove) headers.delete(k);
    for (const [k, v] of set) headers.set(k, v(vars));
    for (const [k, v] of add) headers.append(k, v(vars));
  };
}

type PathOps = (path: string) => string;

function compilePath(p: PathConfig | undefined): PathOps | undefined {
  if (p === undefined) return undefined;
  const { stripPrefix, addPrefix, replace } = p;
  const regex = replace && new RegExp(replace.regex);
  return (path) => {
    if (stripPrefix !== undefined && path.startsWith(stripPrefix) && (path.length === stripPrefix.length || path[stripPrefix.length] === "/")) {
      path = path.slice(stripPrefix.length) || "/";
    }
    if (addPrefix !== undefined) path = addPrefix + path;
    if (regex) path = path.replace(regex, replace!.with);
    return path.startsWith("/") ? path : `/${path}`;
  };
}

export interface Transform {
  /** The path and query the target gets, from the client's. */
  readonly path: ((pathAndQuery: string) => string) | undefined;
  /** Applied to the headers the target gets, once per attempt (the target is a placeholder). */
  readonly request: HeaderOps | undefined;
  /** Applied to the headers the client gets. */
  readonly response: HeaderOps | undefined;
}

function chain<T extends (...args: never[]) => unknown>(a: T | undefined, b: T | undefined, both: (a: T, b: T) => T): T | undefined {
  return a === undefined ? b : b === undefined ? a : both(a, b);
}

/** The transforms of a rule and of the group it forwards to, one after the other; undefined when neither has one. */
export function compileTransform(rule: TransformConfig | undefined, group: TransformConfig | undefined): Transform | undefined {
  if (rule === undefined && group === undefined) return undefined;
  const path = chain(compilePath(rule?.path), compilePath(group?.path), (a, b) => (p) => b(a(p)));
  const request = chain(compileHeaders(rule?.requestHeaders), compileHeaders(group?.requestHeaders), (a, b) => (h, v) => (a(h, v), b(h, v)));
  const response = chain(compileHeaders(rule?.responseHeaders), compileHeaders(group?.responseHeaders), (a, b) => (h, v) => (a(h, v), b(h, v)));
  return {
    path: path && ((pathAndQuery) => {
      const q = pathAndQuery.indexOf("?");
      return q < 0 ? path(pathAndQuery) : path(pathAndQuery.slice(0, q)) + pathAndQuery.slice(q);
    }),
    request,
    response,
  };
}
