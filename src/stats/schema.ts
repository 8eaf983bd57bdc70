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
import { described, quote } from "../config/units.ts";

const path = (fallback: string, text: string) =>
  described(
    v.optional(
      v.pipe(
        v.string(),
        v.startsWith("/", "expected a path starting with /"),
        v.check((s) => !s.endsWith("/") || s === "/", (i) => `expected a path without a trailing slash, got ${quote(i.input)}`),
      ),
      fallback,
    ),
    `${text} Default ${fallback}.`,
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
    // RFC 7617: a user-id cannot contain a colon.
    username: described(
      v.pipe(
        v.string(),
        v.nonEmpty("expected a username"),
        v.check((s) => !s.includes(":"), (i) => `expected a username without ":", got ${quote(i.input)}`),
      ),
      "User name for HTTP Basic authentication (no colon).",
    ),
    password: described(v.optional(secret), "The password. Exactly one of password and passwordEnv."),
    passwordEnv: described(
      v.optional(envName),
      "Name of the environment variable (or Worker binding) holding the password, to keep it out of this file. Exactly one of password and passwordEnv.",
    ),
  }),
  exactlyOne("password", "passwordEnv"),
);

/** A bearer token, or the environment variable that holds it. */
export const bearerEntries = {
  token: described(
    v.optional(v.pipe(secret, v.regex(/^[A-Za-z0-9\-._~+/]+=*$/, "expected a token of letters, digits and -._~+/="))),
    "The token (RFC 6750 characters: letters, digits, -._~+/ and trailing =). Exactly one of token and tokenEnv.",
  ),
  tokenEnv: described(
    v.optional(envName),
    "Name of the environment variable (or Worker binding) holding the token, to keep it out of this file. Exactly one of token and tokenEnv.",
  ),
};

export const BearerAuthSchema = v.pipe(v.strictObject(bearerEntries), exactlyOne("token", "tokenEnv"));

export const AuthSchema = v.pipe(
  v.strictObject({
    basic: described(
      v.optional(BasicAuthSchema),
      "HTTP Basic credentials, for people: browsers prompt for them and resend them to status.json by themselves.",
    ),
    bearer: described(v.optional(BearerAuthSchema), "A token sent as Authorization: Bearer <token>, for scripts and scrapers."),
  }),
  v.check((o) => o.basic !== undefined || o.bearer !== undefined, "expected basic or bearer, got neither"),
);

export const StatsSchema = v.strictObject({
  path: path("/__fulcrum/stats", "Path of the stats page (HAProxy stats uri); its JSON is at <path>/status.json."),
  auth: described(AuthSchema, "Credentials the page requires (HAProxy stats auth): basic, bearer, or both (either is accepted)."),
  refresh: described(
    v.optional(v.pipe(v.number(), v.minValue(0.5, "expected seconds from 0.5 to 3600"), v.maxValue(3600, "expected seconds from 0.5 to 3600")), 2),
    "Seconds between the page's polls, 0.5 to 3600 (HAProxy stats refresh). Default 2.",
  ),
});

export const MetricsEndpointSchema = v.strictObject({
  path: path("/__fulcrum/metrics", "Path of the Prometheus endpoint."),
  auth: described(
    v.optional(AuthSchema),
    "Credentials the endpoint requires: basic, bearer, or both, either accepted (Prometheus basic_auth and authorization scrape options). Absent = open.",
  ),
});

export type AuthConfig = v.InferOutput<typeof AuthSchema>;
export type StatsConfig = v.InferOutput<typeof StatsSchema>;
export type MetricsEndpointConfig = v.InferOutput<typeof MetricsEndpointSchema>;
