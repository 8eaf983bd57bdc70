/**
 * The `transform` block of a rule or a target group (transform.ts): headers
 * set, added and removed on the way to the target and back to the client,
 * with placeholders, and the path rewritten (ALB transforms, Traefik's
 * StripPrefix / AddPrefix / ReplacePathRegex and Headers, Caddy's
 * header_up / header_down and rewrite).
 */
import * as v from "valibot";
import { described, quote } from "../config/units.ts";

/** What a header value may say about the request: `{client_ip}` and the rest (transform.ts fills them in). */
export const PLACEHOLDERS = ["client_ip", "request_id", "group", "target", "host", "method", "path", "scheme"] as const;
export type Placeholder = (typeof PLACEHOLDERS)[number];

/** Headers the connection or the message framing owns: changing them would break the exchange. */
const FRAMING = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
  "content-length",
  // The upstream clients refuse it (undici): every request would fail.
  "expect",
  // A WebSocket handshake's own, negotiated per leg.
  "sec-websocket-key",
  "sec-websocket-version",
  "sec-websocket-extensions",
  "sec-websocket-accept",
]);

const name = v.pipe(
  v.string(),
  v.regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, (i) => `expected a header name, got ${quote(i.input)}`),
  v.check((n) => !FRAMING.has(n.toLowerCase()), (i) => `${quote(i.input)} belongs to the connection or the message framing; it cannot be changed`),
);

const value = v.pipe(
  v.string(),
  v.regex(/^[\t\x20-\x7e\x80-\xff]*$/, (i) => `expected a header value without control characters, got ${quote(i.input)}`),
  v.check(
    (s) => [...s.matchAll(/\{([^{}]*)\}/g)].every((m) => (PLACEHOLDERS as readonly string[]).includes(m[1]!)),
    (i) => `unknown placeholder in ${quote(i.input)}; placeholders: ${PLACEHOLDERS.map((p) => `{${p}}`).join(", ")}`,
  ),
);

const HeaderOpsSchema = v.strictObject({
  set: described(
    v.optional(v.record(name, value)),
    "Headers set to these values, replacing any the message has; placeholders such as {client_ip} are filled in.",
  ),
  add: described(v.optional(v.record(name, value)), "Headers added beside any of the same name the message has; placeholders are filled in."),
  remove: described(v.optional(v.array(name)), "Headers removed."),
});

const prefix = (what: string) =>
  v.pipe(
    v.string(),
    v.regex(/^\/[\x21-\x7e]*$/, (i) => `expected ${what} of visible ASCII characters starting with / (e.g. "/api"), got ${quote(i.input)}`),
    v.regex(/^[^?#]*[^/?#]$/, (i) => `expected ${what} without ? or # and not ending with / (e.g. "/api"), got ${quote(i.input)}`),
  );

const PathSchema = v.strictObject({
  stripPrefix: described(
    v.optional(prefix("a prefix")),
    'Removed from the start of the path when the path is it or continues with "/" (Traefik StripPrefix): "/api/users" -> "/users".',
  ),
  addPrefix: described(v.optional(prefix("a prefix")), 'Put before the path (Traefik AddPrefix): "/users" -> "/v2/users", "/" -> "/v2/".'),
  replace: described(
    v.optional(
      v.strictObject({
        regex: described(
          v.pipe(
            v.string(),
            v.nonEmpty("expected a regular expression"),
            v.check((r) => {
              try {
                new RegExp(r);
                return true;
              } catch {
                return false;
              }
            }, (i) => `expected a JavaScript regular expression, got ${quote(i.input)}`),
          ),
          "A JavaScript regular expression over the path (without the query).",
        ),
        with: described(
          v.pipe(
            v.string(),
            v.regex(/^[\x21-\x7e]*$/, (i) => `expected visible ASCII characters (a path: percent-encode the others), got ${quote(i.input)}`),
            v.regex(/^[^?#]*$/, (i) => `expected a path without ? or # (the query is kept as the client sent it), got ${quote(i.input)}`),
          ),
          "What a match becomes; $1, $2 ... are its groups (Traefik ReplacePathRegex, ALB URL rewrite).",
        ),
      }),
    ),
    "Replace what the regular expression matches in the path, first match only.",
  ),
});

export const TransformSchema = v.strictObject({
  requestHeaders: described(v.optional(HeaderOpsSchema), "Headers of the request the target gets (Caddy header_up): set, add, remove."),
  responseHeaders: described(v.optional(HeaderOpsSchema), "Headers of the response the client gets, the balancer's own answers included (Caddy header_down)."),
  path: described(
    v.optional(PathSchema),
    "The path the target gets, the query kept: stripPrefix, then addPrefix, then replace. The rules match the client's path, before any of it.",
  ),
});

export type TransformConfig = v.InferOutput<typeof TransformSchema>;
export type HeaderOpsConfig = v.InferOutput<typeof HeaderOpsSchema>;
export type PathConfig = v.InferOutput<typeof PathSchema>;
