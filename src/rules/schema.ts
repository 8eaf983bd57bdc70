/**
 * Listener rules and actions (AWS ALB vocabulary and semantics): a request is
 * checked against `rules` by ascending `priority`; the first rule whose
 * conditions all match runs its action, else `defaultAction` runs.
 *
 * Conditions and actions are written with ALB's key names, one key per object
 * (`{ "pathPattern": { "values": ["/api/*"] } }`, `{ "forward": "app" }`).
 * They are strict objects with every key optional plus an "exactly one" check,
 * rather than valibot unions: a union reports every branch's complaints, while
 * this reports the one mistake by its field path (`rules[2].action.redirect.
 * statusCode: ...`). A final transform narrows the output type to a union
 * discriminated by which key is present.
 *
 * Cross checks (duplicate priorities, unknown target groups, all-zero
 * weights) need the whole config: see `ruleProblems` in ./problems.ts.
 */
import * as v from "valibot";
import { described, quote } from "../config/units.ts";
import { parseCidr } from "../net/ip.ts";
import { RateLimitSchema } from "../ratelimit/schema.ts";
import { CanarySchema } from "../canary/schema.ts";
import { TransformSchema } from "../transform/schema.ts";

/** Keeps exactly one present key of T and types the others as absent. */
export type OneKeyOf<T> = {
  [K in keyof T]-?: { [P in K]-?: Exclude<T[P], undefined> } & { [P in Exclude<keyof T, K>]?: undefined };
}[keyof T];

/**
 * A strict object whose keys are all optional, of which exactly one must be
 * present; its output type is narrowed to `OneKeyOf` (discriminate with
 * `if (x.forward !== undefined)`).
 */
function oneKeyObject<E extends v.ObjectEntries>(entries: E, what: string) {
  const keys = Object.keys(entries);
  const schema = v.strictObject(entries);
  type T = v.InferOutput<typeof schema>;
  const present = (o: unknown) => keys.filter((k) => (o as Record<string, unknown>)[k] !== undefined);
  return v.pipe(
    schema,
    v.check(
      (o: T) => present(o).length === 1,
      (i) => {
        const got = present(i.input);
        return `expected exactly one ${what} (${keys.join(", ")}), got ${got.length ? got.join(" and ") : "none"}`;
      },
    ),
    v.transform((o: T) => o as unknown as OneKeyOf<T>),
  );
}

// ---------------------------------------------------------------- conditions

/** ALB limits each condition value to 128 characters. */
const conditionValue = (what: string) =>
  v.pipe(
    v.string(),
    v.minLength(1, `expected a non-empty ${what}`),
    v.maxLength(128, `expected a ${what} of at most 128 characters`),
    // ALB rules apply to visible ASCII only; a control character can never match.
    v.regex(/^[\x20-\x7e]*$/, (i) => `expected visible ASCII characters, got ${quote(i.input)}`),
  );

/** `{ values: [...] }`, `text` describing the list. */
const values = <S extends v.GenericSchema>(item: S, text: string) =>
  v.strictObject({ values: described(v.pipe(v.array(item), v.minLength(1, "expected at least one value")), text) });

/** A non-empty list of location codes of one kind. */
const geoCodes = (form: RegExp, what: string) =>
  v.pipe(v.array(v.pipe(v.string(), v.regex(form, (i) => `expected ${what}, got ${quote(i.input)}`))), v.minLength(1, "expected at least one code"));

const headerName = v.pipe(v.string(), v.regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, (i) => `expected a header name, got ${quote(i.input)}`));

export const ConditionSchema = oneKeyObject(
  {
    // The normal form: see normalize-path.ts.
    pathPattern: described(
      v.optional(values(conditionValue("path pattern"), "Path patterns (up to 128 characters each); the condition matches when any of them does.")),
      "Matches the request path without the query, normalised first (duplicate slashes merged, dot segments removed, unreserved %-escapes decoded): case-sensitive, * matches any characters and ? one (ALB path-pattern).",
    ),
    hostHeader: described(
      v.optional(values(conditionValue("host pattern"), "Host patterns (up to 128 characters each); the condition matches when any of them does.")),
      "Matches the Host header without its port: case-insensitive, * matches any characters and ? one (ALB host-header).",
    ),
    httpHeader: described(
      v.optional(
        v.strictObject({
          name: described(
            v.pipe(
              headerName,
              v.check((n) => n.toLowerCase() !== "host", "expected a header other than Host (use hostHeader)"),
            ),
            "The header's name (any header but Host: use hostHeader for that).",
          ),
          values: described(
            v.pipe(v.array(conditionValue("header value pattern")), v.minLength(1, "expected at least one value")),
            "Value patterns (up to 128 characters each): case-insensitive, * and ?; the condition matches when any of them does.",
          ),
        }),
      ),
      "Matches a request header's value (ALB http-header).",
    ),
    httpRequestMethod: described(
      v.optional(
        values(
          v.pipe(v.string(), v.regex(/^[A-Z_-]{1,40}$/, (i) => `expected an upper-case method name such as GET, got ${quote(i.input)}`)),
          "Method names such as GET or POST; the condition matches when any of them does.",
        ),
      ),
      "Matches the request method: exact, case-sensitive names (ALB http-request-method: A-Z, - and _).",
    ),
    queryString: described(
      v.optional(
        values(
          v.strictObject({
            key: described(v.optional(conditionValue("query key pattern")), "Key pattern (* and ?, escape with \\); absent = any key."),
            value: described(conditionValue("query value pattern"), "Value pattern (* and ?, escape with \\)."),
          }),
          "Key/value pairs; the condition matches when any of them does.",
        ),
      ),
      "Matches query parameters, percent-decoded and case-insensitive (ALB query-string).",
    ),
    sourceIp: described(
      v.optional(
        values(
          v.pipe(v.string(), v.check((s) => parseCidr(s) !== undefined, (i) => `expected an IPv4/IPv6 address or CIDR, got ${quote(i.input)}`)),
          "IPv4 or IPv6 addresses or CIDRs (e.g. 10.0.0.0/8); the condition matches when any of them does.",
        ),
      ),
      "Matches the client's address, after trusted-proxy handling (ALB source-ip).",
    ),
    geo: described(
      v.optional(
        v.pipe(
          v.strictObject({
            country: described(
              v.optional(geoCodes(/^[A-Za-z0-9]{2}$/, "an ISO 3166-1 country code such as DE")),
              "Country codes (ISO 3166-1 alpha-2, as Cloudflare's: T1 is Tor, XX unknown).",
            ),
            continent: described(
              v.optional(geoCodes(/^(AF|AN|AS|EU|NA|OC|SA|af|an|as|eu|na|oc|sa)$/, "a continent code: AF, AN, AS, EU, NA, OC or SA")),
              "Continent codes.",
            ),
            region: described(
              v.optional(geoCodes(/^[A-Za-z0-9-]{1,8}$/, "an ISO 3166-2 region code such as TX")),
              "Region codes (ISO 3166-2, without the country: Cloudflare's regionCode).",
            ),
            colo: described(
              v.optional(geoCodes(/^[A-Za-z]{3}$/, "a three-letter data center code such as FRA")),
              "Cloudflare data centers (IATA codes) that received the request.",
            ),
          }),
          v.check((g) => Object.values(g).some((x) => x !== undefined), "expected at least one of country, continent, region or colo"),
        ),
      ),
      "Matches where the client is: on Workers from Cloudflare's request.cf, elsewhere from headers a trusted proxy sets (forwarding.geoHeaders). Every attribute given must match one of its values; case-insensitive. A request whose location is unknown matches no geo condition.",
    ),
  },
  "condition",
);

// ------------------------------------------------------------------- actions

const groupName = v.pipe(v.string(), v.nonEmpty("expected a target group name"));

/** Group-level stickiness of a weighted forward (ALB `TargetGroupStickinessConfig`, cookie `AWSALBTG`). */
export const GroupStickinessSchema = v.strictObject({
  enabled: described(v.optional(v.boolean(), true), "Keep each client on the target group it was first sent to. Default true."),
  // ALB's API has no default (it is required when enabled); an hour is long
  // enough for a canary session, short enough to follow a weight shift.
  duration: described(
    v.optional(
      v.pipe(
        v.number(),
        v.integer("expected whole seconds"),
        v.minValue(1, "expected seconds from 1 to 604800"),
        v.maxValue(604800, "expected seconds from 1 to 604800"),
      ),
      3600,
    ),
    "Whole seconds a client stays on the group it was sent to, 1 to 604800 (7 days, as in ALB). Default 3600.",
  ),
  cookieName: described(
    v.optional(v.pipe(v.string(), v.regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, (i) => `expected a cookie name, got ${quote(i.input)}`)), "FulcrumTG"),
    "Name of the cookie naming the client's group (ALB's AWSALBTG). Default FulcrumTG.",
  ),
});

export const WeightedForwardSchema = v.strictObject({
  targetGroups: described(
    v.pipe(
      v.array(
        v.strictObject({
          group: described(groupName, "Name of a target group (a key of targetGroups)."),
          weight: described(
            v.optional(
              v.pipe(
                v.number(),
                v.integer("expected an integer weight"),
                v.minValue(0, "expected a weight from 0 to 999"),
                v.maxValue(999, "expected a weight from 0 to 999"),
              ),
              1,
            ),
            "Relative share of the traffic, 0 to 999 (ALB); 0 sends nothing to this group, sticky clients included. Default 1.",
          ),
        }),
      ),
      v.minLength(1, "expected at least one target group"),
    ),
    "The target groups to split traffic between, by weight (blue/green, canary).",
  ),
  stickiness: described(
    v.optional(GroupStickinessSchema),
    "Group-level stickiness by cookie (ALB target group stickiness): a client stays on its group while that group's weight is above 0.",
  ),
  canary: described(
    v.optional(CanarySchema),
    "An automatic canary: the canary group's share goes up step by step while its 5xx rate and p99 stay within limits, and back to 0 at once when they do not (fulcrum canary).",
  ),
}, (i) => `expected a target group name or { targetGroups: [...] }, got ${quote(i.input)}`);

/** Either forward form; what JSON Schema generators name (the lazy schema below resolves to it). */
export const ForwardUnion = v.union([groupName, WeightedForwardSchema]);

/**
 * `"group"` or `{ targetGroups, stickiness? }`. Dispatching on the input's
 * type (instead of a bare union) reports `{ targetGroups: [{ grp: "a" }] }`
 * as that object's problems only, not also "expected string". `optional`
 * above never hands `undefined` to the getter at run time; to-json-schema
 * calls it with `undefined` to read the shape, and gets the full union.
 */
const ForwardSchema = v.lazy((input: unknown) => input === undefined ? ForwardUnion : typeof input === "string" ? groupName : WeightedForwardSchema);

const PLACEHOLDER = /#\{(protocol|host|port|path|query)\}/g;
const withoutPlaceholders = (s: string) => s.replace(PLACEHOLDER, "");
const knownPlaceholders = v.check(
  (s: string) => !withoutPlaceholders(s).includes("#{"),
  (i) => `expected only the placeholders #{protocol}, #{host}, #{port}, #{path}, #{query}, got ${quote(i.input)}`,
);

const placeholderText = (what: string) =>
  v.pipe(
    v.string(),
    knownPlaceholders,
    v.minLength(1, `expected a non-empty ${what}`),
    v.maxLength(128, `expected a ${what} of at most 128 characters`),
    // No spaces or controls: the result goes into a Location header verbatim.
    v.regex(/^[\x21-\x7e]*$/, (i) => `expected a ${what} without spaces or control characters, got ${quote(i.input)}`),
  );

/**
 * ALB `RedirectActionConfig`. Unspecified parts keep the request's values;
 * `#{protocol}`, `#{host}`, `#{port}`, `#{path}` (without its leading `/`,
 * as in ALB) and `#{query}` reuse them. Defaults: protocol `#{protocol}`,
 * host `#{host}`, port `#{port}` (but see actions.ts: a protocol change with
 * no port given goes to the new scheme's default port), path `/#{path}`,
 * query `#{query}`.
 */
export const RedirectSchema = v.pipe(
  v.strictObject({
    protocol: described(
      v.optional(v.picklist(["HTTP", "HTTPS", "#{protocol}"], (i) => `expected HTTP, HTTPS or #{protocol}, got ${quote(i.input)}`)),
      "HTTP, HTTPS, or #{protocol} to keep the request's. Default #{protocol}.",
    ),
    host: described(
      v.optional(placeholderText("host")),
      "Host name, up to 128 characters; may use #{host} and the other placeholders. Default #{host} (the request's).",
    ),
    port: described(
      v.optional(
        v.pipe(
          v.union([v.number(), v.string()]),
          v.check(
            (p) => p === "#{port}" || (/^[1-9][0-9]{0,4}$/.test(String(p)) && Number(p) <= 65535),
            (i) => `expected a port from 1 to 65535 or "#{port}", got ${quote(i.input)}`,
          ),
        ),
      ),
      "Port from 1 to 65535, or #{port} to keep the request's. Default: the request's port, or the new scheme's default port when protocol changes it.",
    ),
    path: described(
      v.optional(v.pipe(placeholderText("path"), v.startsWith("/", (i) => `expected a path starting with /, got ${quote(i.input)}`))),
      "Path starting with /, up to 128 characters; #{path} is the request's path without its leading /. Default /#{path}.",
    ),
    query: described(
      v.optional(
        v.pipe(
          v.string(),
          v.maxLength(128, "expected a query of at most 128 characters"),
          v.check(
            // deno-lint-ignore no-control-regex -- control characters are what it refuses
            (q) => !q.startsWith("?") && /^[^#\s\x00-\x1f\x7f]*$/.test(withoutPlaceholders(q)),
            (i) => `expected a query without the leading ?, spaces or #, got ${quote(i.input)}`,
          ),
          knownPlaceholders,
        ),
      ),
      'Query without the leading ?, up to 128 characters; "" drops it. Default #{query} (the request\'s).',
    ),
    statusCode: described(
      v.picklist([301, 302, 307, 308], (i) => `expected 301, 302, 307 or 308, got ${quote(i.input)}`),
      "301 or 308 (permanent), 302 or 307 (temporary); 307 and 308 keep the method and body.",
    ),
  }),
  // ALB: "you must modify at least one component to avoid a redirect loop".
  v.check(
    (r) =>
      (r.protocol !== undefined && r.protocol !== "#{protocol}") ||
      (r.host !== undefined && r.host !== "#{host}") ||
      (r.port !== undefined && r.port !== "#{port}") ||
      (r.path !== undefined && r.path !== "/#{path}") ||
      (r.query !== undefined && r.query !== "#{query}"),
    "expected at least one of protocol, host, port, path or query to change (a redirect to the same URL loops)",
  ),
);

const utf8 = new TextEncoder();

/** ALB `FixedResponseActionConfig`. */
export const FixedResponseSchema = v.pipe(
  v.strictObject({
    statusCode: described(
      v.pipe(
        v.number(),
        v.check(
          (n) => Number.isInteger(n) && ((n >= 200 && n <= 299) || (n >= 400 && n <= 599)),
          (i) => `expected a status code 200-299 or 400-599, got ${quote(i.input)}`,
        ),
      ),
      "Status code of the answer: 200-299 or 400-599 (as in ALB).",
    ),
    contentType: described(
      v.optional(
        v.pipe(
          v.string(),
          v.regex(
            /^[\w!#$&^.+-]+\/[\w!#$&^.+-]+(\s*;\s*[\w!#$&^.+-]+=("[^"]*"|[\w!#$&^.+-]+))*$/,
            (i) => `expected a media type such as text/plain, got ${quote(i.input)}`,
          ),
        ),
        "text/plain; charset=utf-8",
      ),
      "Content-Type of the answer. Default text/plain; charset=utf-8.",
    ),
    messageBody: described(
      v.optional(v.pipe(v.string(), v.check((s) => utf8.encode(s).length <= 1024, "expected a message body of at most 1024 bytes"))),
      "Body of the answer, at most 1024 bytes in UTF-8 (as in ALB); none with 204 or 205. Default: empty.",
    ),
  }),
  v.check((f) => !(f.messageBody && (f.statusCode === 204 || f.statusCode === 205)), "expected no messageBody with status 204 or 205"),
);

/**
 * One action: `{ forward: "group" }`, `{ forward: { targetGroups, stickiness? } }`,
 * `{ redirect: {...} }` or `{ fixedResponse: {...} }`. The output type is a
 * union discriminated by the present key.
 */
export const ActionSchema = oneKeyObject(
  {
    forward: described(
      v.optional(ForwardSchema),
      'Send the request to a target group: its name ("app"), or { targetGroups: [{ group, weight }], stickiness } to split by weight.',
    ),
    redirect: described(
      v.optional(RedirectSchema),
      "Answer with a redirect (ALB redirect action): parts not given keep the request's, and #{protocol}, #{host}, #{port}, #{path} and #{query} reuse them; at least one part must change.",
    ),
    fixedResponse: described(v.optional(FixedResponseSchema), "Answer directly with a status, content type and short body (ALB fixed-response action)."),
  },
  "action",
);

export const RuleSchema = v.strictObject({
  priority: described(
    v.pipe(
      v.number(),
      v.integer("expected an integer priority"),
      v.minValue(1, "expected a priority from 1 to 50000"),
      v.maxValue(50000, "expected a priority from 1 to 50000"),
    ),
    "1 to 50000, unique across the config; lower runs first (as in ALB). Also the rule's name in commands (fulcrum route 10).",
  ),
  conditions: described(
    v.pipe(v.array(ConditionSchema), v.minLength(1, "expected at least one condition")),
    "All must match (AND); the values inside one condition are alternatives (OR). Each is an object with one key.",
  ),
  action: described(ActionSchema, "What runs when the rule matches: forward, redirect or fixedResponse (one key)."),
  rateLimit: described(
    v.optional(RateLimitSchema),
    "A token bucket per key for the requests this rule matches, in place of the config's rateLimit: over it, 429 with Retry-After. Absent: the config's, if any.",
  ),
  transform: described(
    v.optional(TransformSchema),
    "Headers and path of what the rule forwards, and headers of what the client gets back; applied before the target group's own transform.",
  ),
});

export type RuleConfig = v.InferOutput<typeof RuleSchema>;
export type ConditionConfig = v.InferOutput<typeof ConditionSchema>;
export type ActionConfig = v.InferOutput<typeof ActionSchema>;
export type RedirectConfig = v.InferOutput<typeof RedirectSchema>;
export type FixedResponseConfig = v.InferOutput<typeof FixedResponseSchema>;
export type WeightedForwardConfig = v.InferOutput<typeof WeightedForwardSchema>;
export type GroupStickinessConfig = v.InferOutput<typeof GroupStickinessSchema>;

export { ruleProblems } from "./problems.ts";
