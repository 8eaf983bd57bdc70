/**
 * `admin.api`: where the admin API listens and who may use it. On Bun, Deno
 * and Node it has a port of its own on loopback by default (Caddy's admin
 * endpoint on `localhost:2019`, Envoy's admin port), so that changing a
 * balancer never shares a port with its traffic; `false` turns it off. Where
 * there is no second port (Workers, Deno Deploy) it is a path on the traffic
 * listeners, and then, like any listen address other than loopback, it needs
 * credentials: whoever reaches it can move all traffic.
 */
import * as v from "valibot";
import { isBindableHost, isLoopback } from "../net/host.ts";
import { described, NAME, port, quote } from "../config/units.ts";
import { BasicAuthSchema, bearerEntries, exactlyOne } from "../stats/schema.ts";

export const DEFAULT_API_PORT = 9901;
export const DEFAULT_API_HOST = "127.0.0.1";

/** A bearer token with a name the change log records (`api 10.0.0.5 (token deploy-bot)`). */
const NamedTokenSchema = v.pipe(
  v.strictObject({
    name: described(
      v.optional(v.pipe(v.string(), v.regex(NAME, (i) => `expected a name of letters, digits, _ . -, got ${quote(i.input)}`))),
      'Name of whoever uses this token, recorded in the change log as "token <name>" (e.g. deploy-bot): letters, digits, _ . -. Default: just "token".',
    ),
    ...bearerEntries,
  }),
  exactlyOne("token", "tokenEnv"),
);

export const ApiAuthSchema = v.pipe(
  v.strictObject({
    basic: described(
      v.optional(BasicAuthSchema),
      "HTTP Basic credentials, for people and for the stats page's actions: the browser sends what it was asked for.",
    ),
    bearer: described(
      v.optional(v.union([NamedTokenSchema, v.pipe(v.array(NamedTokenSchema), v.minLength(1, "expected at least one token"))])),
      "Bearer token(s) for fulcrum commands and scripts (FULCRUM_ADMIN_TOKEN): one, or a list with a name each, for several callers.",
    ),
  }),
  v.check((o) => o.basic !== undefined || o.bearer !== undefined, "expected basic or bearer, got neither"),
);

const apiPath = v.pipe(
  v.string(),
  v.startsWith("/", "expected a path starting with /"),
  v.check((s) => s.length > 1 && !s.endsWith("/"), (i) => `expected a path without a trailing slash, got ${quote(i.input)}`),
);

export const ApiSchema = v.union(
  [
    v.literal(false),
    v.pipe(
      v.strictObject({
        listen: described(
          v.optional(
            v.strictObject({
              port: described(v.optional(port, DEFAULT_API_PORT), `Port of the admin API. Default ${DEFAULT_API_PORT}.`),
              host: described(
                v.optional(
                  v.pipe(v.string(), v.check(isBindableHost, (i) => `expected an IP address or a host name, got ${quote(i.input)}`)),
                  DEFAULT_API_HOST,
                ),
                `Address to bind; anything but loopback requires auth. Default ${DEFAULT_API_HOST}.`,
              ),
            }),
          ),
          `The API's own port (Bun, Deno, Node). Default ${DEFAULT_API_HOST}:${DEFAULT_API_PORT}. Not with path.`,
        ),
        path: described(
          v.optional(apiPath),
          "A path on the traffic listeners instead of a port (Workers, Deno Deploy: no second port), e.g. /__fulcrum/api. Requires auth.",
        ),
        auth: described(
          v.optional(ApiAuthSchema),
          "Credentials the API requires: basic, bearer, or both. Required with path or a non-loopback host: whoever reaches the API can move all traffic.",
        ),
      }),
      v.check((o) => o.listen === undefined || o.path === undefined, "expected listen or path, got both"),
      v.forward(
        v.check(
          (o) => o.auth !== undefined || (o.path === undefined && isLoopback(o.listen?.host ?? DEFAULT_API_HOST)),
          (i) =>
            i.input.path !== undefined
              ? "required for an API on the traffic listeners (admin.api.path): whoever reaches it can move all traffic"
              : `required when the API listens on ${quote(i.input.listen?.host)}, not a loopback address`,
        ),
        ["auth"],
      ),
    ),
  ],
  "expected false, or an object with listen or path, and auth",
);

export type ApiConfig = Exclude<v.InferOutput<typeof ApiSchema>, false>;
export type ApiAuthConfig = v.InferOutput<typeof ApiAuthSchema>;
