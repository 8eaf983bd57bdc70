/**
 * Config for the stats page (HAProxy `stats uri` / `stats auth` /
 * `stats refresh`) and the Prometheus endpoint, both under `admin`. Both are
 * off unless configured: they show internal target addresses, so the stats
 * page always requires credentials, and the metrics endpoint takes the same
 * (optional) auth block, matching Prometheus' `basic_auth` and
 * `authorization` scrape options. Secrets may come from the environment
 * (`passwordEnv`, `tokenEnv`) so they stay out of the config file.
 */
import * as v from "valibot";
import { quote } from "../config/units.ts";

const path = (fallback: string) =>
  v.optional(
    v.pipe(
      v.string(),
      v.startsWith("/", "expected a path starting with /"),
      v.check((s) => !s.endsWith("/") || s === "/", (i) => `expected a path without a trailing slash, got ${quote(i.input)}`),
    ),
    fallback,
  );
const secret = v.pipe(v.string(), v.nonEmpty("expected a non-empty secret"));
export const envName = v.pipe(v.string(), v.regex(/^[A-Za-z_][A-Za-z0-9_]*$/, "expected an environment variable name"));

/** `expected exactly one of a, b, got both|neither`, reported at the object's path. */
export const exactlyOne = <T extends Record<string, unknown>>(a: keyof T & string, b: keyof T & string) =>
  v.check(
    (o: T) => (o[a] === undefined) !== (o[b] === undefined),
    (i: v.CheckIssue<T>) => `expected exactly one of ${a}, ${b}, got ${i.input[a] === undefined ? "neither" : "both"}`,
  );

export const BasicAuthSchema = v.pipe(
  v.strictObject({
    /** RFC 7617: a user-id cannot contain a colon. */
    username: v.pipe(
      v.string(),
      v.nonEmpty("expected a username"),
      v.check((s) => !s.includes(":"), (i) => `expected a username without ":", got ${quote(i.input)}`),
    ),
    password: v.optional(secret),
    passwordEnv: v.optional(envName),
  }),
  exactlyOne("password", "passwordEnv"),
);

/** A bearer token, or the environment variable that holds it. */
export const bearerEntries = {
  /** RFC 6750 token (b64token characters). */
  token: v.optional(v.pipe(secret, v.regex(/^[A-Za-z0-9\-._~+/]+=*$/, "expected a token of letters, digits and -._~+/="))),
  tokenEnv: v.optional(envName),
};

export const BearerAuthSchema = v.pipe(v.strictObject(bearerEntries), exactlyOne("token", "tokenEnv"));

export const AuthSchema = v.pipe(
  v.strictObject({
    /** For people: browsers prompt for it and resend it to status.json by themselves. */
    basic: v.optional(BasicAuthSchema),
    /** For scripts and scrapers: `Authorization: Bearer <token>`. */
    bearer: v.optional(BearerAuthSchema),
  }),
  v.check((o) => o.basic !== undefined || o.bearer !== undefined, "expected basic or bearer, got neither"),
);

export const StatsSchema = v.strictObject({
  /** The page; its JSON is at `<path>/status.json`. */
  path: path("/__fulcrum/stats"),
  auth: AuthSchema,
  /** Seconds between the page's polls (HAProxy `stats refresh`). */
  refresh: v.optional(v.pipe(v.number(), v.minValue(0.5, "expected seconds from 0.5 to 3600"), v.maxValue(3600, "expected seconds from 0.5 to 3600")), 2),
});

export const MetricsEndpointSchema = v.strictObject({
  path: path("/__fulcrum/metrics"),
  auth: v.optional(AuthSchema),
});

export type AuthConfig = v.InferOutput<typeof AuthSchema>;
export type StatsConfig = v.InferOutput<typeof StatsSchema>;
export type MetricsEndpointConfig = v.InferOutput<typeof MetricsEndpointSchema>;
