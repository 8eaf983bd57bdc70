/**
 * `stickiness` of a target group: session affinity by cookie, ALB semantics
 * with HAProxy's `indirect` and `nocache` options.
 *
 * - `lb_cookie` (ALB `lb_cookie`, HAProxy `cookie … insert`): the balancer
 *   issues its own cookie (`cookieName`, default `FulcrumLB`) binding the
 *   client to a target.
 * - `app_cookie` (ALB `app_cookie`): the binding cookie (`cookieName`, default
 *   `FulcrumAPP`) is issued when the application sets its own session cookie
 *   (`appCookieName`), and is honoured only while the client also sends that
 *   application cookie.
 *
 * The cookie value is an HMAC-signed, expiring token around an opaque target
 * id (never the target URL). The key is `secret` (at least 32 characters) or
 * the name of an environment variable / Worker binding holding it
 * (`secretEnv`, the way to keep it out of the config file); exactly one is
 * required. Every balancer replica serving the same clients needs the same
 * secret, or each rejects the others' cookies.
 */
import * as v from "valibot";
import { described, quote } from "../config/units.ts";

const cookieName = v.pipe(v.string(), v.regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, (i) => `expected a cookie name (RFC 6265 token), got ${quote(i.input)}`));

const common = {
  duration: described(
    v.optional(
      v.pipe(
        v.number(),
        v.integer("expected whole seconds"),
        v.minValue(1, "expected seconds from 1 to 604800"),
        v.maxValue(604800, "expected seconds from 1 to 604800"),
      ),
      86400,
    ),
    "Whole seconds the binding lasts (the cookie's Max-Age and the signed expiry), 1 to 604800 (7 days, as in ALB). Default 86400 (1 day).",
  ),
  path: described(
    v.optional(
      v.pipe(v.string(), v.regex(/^\/[\x21-\x3a\x3c-\x7e]*$/, (i) => `expected a cookie path starting with / (no ; or spaces), got ${quote(i.input)}`)),
      "/",
    ),
    "The cookie's Path attribute. Default /.",
  ),
  domain: described(
    v.optional(
      v.pipe(
        v.string(),
        v.regex(
          /^\.?[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*$/,
          (i) => `expected a domain name, got ${quote(i.input)}`,
        ),
      ),
    ),
    "The cookie's Domain attribute, to share the binding across subdomains. Default: none (the request's host only).",
  ),
  secure: described(v.optional(v.boolean(), false), "Set the cookie's Secure attribute (sent over HTTPS only); required with sameSite None. Default false."),
  httpOnly: described(v.optional(v.boolean(), true), "Set the cookie's HttpOnly attribute (hidden from page scripts). Default true."),
  sameSite: described(
    v.optional(v.picklist(["Strict", "Lax", "None"], (i) => `expected Strict, Lax or None, got ${quote(i.input)}`), "Lax"),
    "The cookie's SameSite attribute: Strict, Lax or None (None needs secure). Default Lax.",
  ),
  indirect: described(
    v.optional(v.boolean(), false),
    "Remove the binding cookie from the request before it reaches the target (HAProxy indirect). Default false.",
  ),
  nocache: described(
    v.optional(v.boolean(), false),
    "Mark responses that set the cookie Cache-Control: private, so a shared cache never hands one client's binding to others (HAProxy nocache). Default false.",
  ),
  secret: described(
    v.optional(v.pipe(v.string(), v.minLength(32, "expected a secret of at least 32 characters"))),
    "HMAC key that signs the cookie, at least 32 characters; the same on every replica. Exactly one of secret and secretEnv.",
  ),
  secretEnv: described(
    v.optional(v.pipe(v.string(), v.regex(/^[A-Za-z_][A-Za-z0-9_]*$/, (i) => `expected an environment variable name, got ${quote(i.input)}`))),
    "Name of the environment variable (or Worker binding) holding the secret, to keep it out of this file. Exactly one of secret and secretEnv.",
  ),
};

export const StickinessSchema = v.pipe(
  v.variant(
    "type",
    [
      v.strictObject({
        type: described(v.literal("lb_cookie"), "The balancer issues its own cookie binding the client to a target (ALB lb_cookie, HAProxy cookie insert)."),
        cookieName: described(v.optional(cookieName, "FulcrumLB"), "Name of the binding cookie. Default FulcrumLB."),
        ...common,
      }),
      v.strictObject({
        type: described(
          v.literal("app_cookie"),
          "Bind only clients of an application session (ALB app_cookie): the binding cookie is issued when the application sets appCookieName, and honoured only while the client also sends it.",
        ),
        appCookieName: described(cookieName, "The application's own session cookie, whose presence keeps the binding alive."),
        cookieName: described(v.optional(cookieName, "FulcrumAPP"), "Name of the binding cookie; must differ from appCookieName. Default FulcrumAPP."),
        ...common,
      }),
    ],
    (i) => `expected type lb_cookie or app_cookie, got ${quote(i.input)}`,
  ),
  v.check(
    (s) => (s.secret === undefined) !== (s.secretEnv === undefined),
    (i) =>
      i.input.secret !== undefined
        ? "expected either secret or secretEnv, got both"
        : "expected secret or secretEnv (the HMAC key for the cookie), got neither",
  ),
  // Browsers drop `SameSite=None` cookies without `Secure`.
  v.check((s) => s.sameSite !== "None" || s.secure, "expected secure: true with sameSite None"),
  v.check((s) => s.type !== "app_cookie" || s.appCookieName !== s.cookieName, "expected cookieName to differ from appCookieName"),
);

export type StickinessConfig = v.InferOutput<typeof StickinessSchema>;
