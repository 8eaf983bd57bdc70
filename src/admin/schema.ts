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
import { NAME, port, quote } from "../config/units.ts";
import { BasicAuthSchema, bearerEntries, exactlyOne } from "../stats/schema.ts";

export const DEFAULT_API_PORT = 9901;
export const DEFAULT_API_HOST = "127.0.0.1";

/** A bearer token with a name the change log records (`api 10.0.0.5 (token deploy-bot)`). */
const NamedTokenSchema = v.pipe(
  v.strictObject({
    name: v.optional(v.pipe(v.string(), v.regex(NAME, (i) => `expected a name of letters, digits, _ . -, got ${quote(i.input)}`))),
    ...bearerEntries,
  }),
  exactlyOne("token", "tokenEnv"),
);

export const ApiAuthSchema = v.pipe(
  v.strictObject({
    /** For people and for the stats page's actions: the browser sends what it was asked for. */
    basic: v.optional(BasicAuthSchema),
    /** For `fulcrum` commands and scripts (`FULCRUM_ADMIN_TOKEN`); several, each with its name, for several callers. */
    bearer: v.optional(v.union([NamedTokenSchema, v.pipe(v.array(NamedTokenSchema), v.minLength(1, "expected at least one token"))])),
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
        /** Its own port (Bun, Deno, Node). Default 127.0.0.1:9901. */
        listen: v.optional(
          v.strictObject({
            port: v.optional(port, DEFAULT_API_PORT),
            host: v.optional(
              v.pipe(v.string(), v.check(isBindableHost, (i) => `expected an IP address or a host name, got ${quote(i.input)}`)),
              DEFAULT_API_HOST,
            ),
          }),
        ),
        /** A path on the traffic listeners instead (Workers, Deno Deploy: no second port), e.g. `/__fulcrum/api`. Needs `auth`. */
        path: v.optional(apiPath),
        auth: v.optional(ApiAuthSchema),
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
