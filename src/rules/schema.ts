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
import { quote } from "../config/units.ts";
import { parseCidr } from "../net/ip.ts";

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

const values = <S extends v.GenericSchema>(item: S) => v.strictObject({ values: v.pipe(v.array(item), v.minLength(1, "expected at least one value")) });

const headerName = v.pipe(v.string(), v.regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, (i) => `expected a header name, got ${quote(i.input)}`));

export const ConditionSchema = oneKeyObject(
  {
    /** Path without the query, normalised first (see normalize-path.ts); case-sensitive; `*` and `?`. */
    pathPattern: v.optional(values(conditionValue("path pattern"))),
    /** Host header without its port; case-insensitive; `*` and `?`. */
    hostHeader: v.optional(values(conditionValue("host pattern"))),
    /** Any header but Host; values case-insensitive with `*` and `?`. */
    httpHeader: v.optional(
      v.strictObject({
        name: v.pipe(
          headerName,
          v.check((n) => n.toLowerCase() !== "host", "expected a header other than Host (use hostHeader)"),
        ),
        values: v.pipe(v.array(conditionValue("header value pattern")), v.minLength(1, "expected at least one value")),
      }),
    ),
    /** Exact, case-sensitive method names (ALB: A-Z, `-`, `_`). */
    httpRequestMethod: v.optional(
      values(v.pipe(v.string(), v.regex(/^[A-Z_-]{1,40}$/, (i) => `expected an upper-case method name such as GET, got ${quote(i.input)}`))),
    ),
    /** Percent-decoded key/value pairs, case-insensitive, `*` and `?` (escape with `\`); no key = any key. */
    queryString: v.optional(
      values(
        v.strictObject({
          key: v.optional(conditionValue("query key pattern")),
          value: conditionValue("query value pattern"),
        }),
      ),
    ),
    /** Client address (after trusted-proxy handling) in any of these IPv4/IPv6 CIDRs. */
    sourceIp: v.optional(
      values(v.pipe(v.string(), v.check((s) => parseCidr(s) !== undefined, (i) => `expected an IPv4/IPv6 address or CIDR, got ${quote(i.input)}`))),
    ),
  },
  "condition",
);

// ------------------------------------------------------------------- actions

const groupName = v.pipe(v.string(), v.nonEmpty("expected a target group name"));

/** Group-level stickiness of a weighted forward (ALB `TargetGroupStickinessConfig`, cookie `AWSALBTG`). */
export const GroupStickinessSchema = v.strictObject({
  enabled: v.optional(v.boolean(), true),
  /**
   * Seconds a client stays on the group it was sent to (ALB: 1 s to 7 days).
   * ALB's API has no default (it is required when enabled); Fulcrum uses one
   * hour, long enough for a canary session, short enough to follow a weight shift.
   */
  duration: v.optional(
    v.pipe(
      v.number(),
      v.integer("expected whole seconds"),
      v.minValue(1, "expected seconds from 1 to 604800"),
      v.maxValue(604800, "expected seconds from 1 to 604800"),
    ),
    3600,
  ),
  cookieName: v.optional(v.pipe(v.string(), v.regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, (i) => `expected a cookie name, got ${quote(i.input)}`)), "FulcrumTG"),
});

export const WeightedForwardSchema = v.strictObject({
  targetGroups: v.pipe(
    v.array(
      v.strictObject({
        group: groupName,
        /** ALB: 0–999; 0 = no new traffic (sticky clients already there stay unless the weight is 0). */
        weight: v.optional(
          v.pipe(
            v.number(),
            v.integer("expected an integer weight"),
            v.minValue(0, "expected a weight from 0 to 999"),
            v.maxValue(999, "expected a weight from 0 to 999"),
          ),
          1,
        ),
      }),
    ),
    v.minLength(1, "expected at least one target group"),
  ),
  stickiness: v.optional(GroupStickinessSchema),
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
    protocol: v.optional(v.picklist(["HTTP", "HTTPS", "#{protocol}"], (i) => `expected HTTP, HTTPS or #{protocol}, got ${quote(i.input)}`)),
    host: v.optional(placeholderText("host")),
    port: v.optional(
      v.pipe(
        v.union([v.number(), v.string()]),
        v.check(
          (p) => p === "#{port}" || (/^[1-9][0-9]{0,4}$/.test(String(p)) && Number(p) <= 65535),
          (i) => `expected a port from 1 to 65535 or "#{port}", got ${quote(i.input)}`,
        ),
      ),
    ),
    path: v.optional(v.pipe(placeholderText("path"), v.startsWith("/", (i) => `expected a path starting with /, got ${quote(i.input)}`))),
    query: v.optional(
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
    statusCode: v.picklist([301, 302, 307, 308], (i) => `expected 301, 302, 307 or 308, got ${quote(i.input)}`),
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
    /** ALB allows 2XX, 4XX and 5XX. */
    statusCode: v.pipe(
      v.number(),
      v.check(
        (n) => Number.isInteger(n) && ((n >= 200 && n <= 299) || (n >= 400 && n <= 599)),
        (i) => `expected a status code 200-299 or 400-599, got ${quote(i.input)}`,
      ),
    ),
    contentType: v.optional(
      v.pipe(
        v.string(),
        v.regex(
          /^[\w!#$&^.+-]+\/[\w!#$&^.+-]+(\s*;\s*[\w!#$&^.+-]+=("[^"]*"|[\w!#$&^.+-]+))*$/,
          (i) => `expected a media type such as text/plain, got ${quote(i.input)}`,
        ),
      ),
      "text/plain; charset=utf-8",
    ),
    /** ALB limits the body to 1024 bytes. */
    messageBody: v.optional(v.pipe(v.string(), v.check((s) => utf8.encode(s).length <= 1024, "expected a message body of at most 1024 bytes"))),
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
    forward: v.optional(ForwardSchema),
    redirect: v.optional(RedirectSchema),
    fixedResponse: v.optional(FixedResponseSchema),
  },
  "action",
);

export const RuleSchema = v.strictObject({
  /** ALB: 1–50000, unique, lower runs first. */
  priority: v.pipe(
    v.number(),
    v.integer("expected an integer priority"),
    v.minValue(1, "expected a priority from 1 to 50000"),
    v.maxValue(50000, "expected a priority from 1 to 50000"),
  ),
  /** AND-ed; values inside one condition are OR-ed. */
  conditions: v.pipe(v.array(ConditionSchema), v.minLength(1, "expected at least one condition")),
  action: ActionSchema,
});

export type RuleConfig = v.InferOutput<typeof RuleSchema>;
export type ConditionConfig = v.InferOutput<typeof ConditionSchema>;
export type ActionConfig = v.InferOutput<typeof ActionSchema>;
export type RedirectConfig = v.InferOutput<typeof RedirectSchema>;
export type FixedResponseConfig = v.InferOutput<typeof FixedResponseSchema>;
export type WeightedForwardConfig = v.InferOutput<typeof WeightedForwardSchema>;
export type GroupStickinessConfig = v.InferOutput<typeof GroupStickinessSchema>;

export { ruleProblems } from "./problems.ts";
