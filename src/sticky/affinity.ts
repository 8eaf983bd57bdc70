/**
 * Session affinity for a target group (see schema.ts), independent of the
 * balancing strategy: the caller asks `targetFor` first and uses that target
 * when it is available (not down or draining), else picks with the strategy
 * and issues a new cookie.
 *
 * The cookie never carries a target URL: clients must not learn internal
 * addresses. It carries a 16-character id, the first 12 bytes of
 * HMAC-SHA256(secret, url), base64url. Keyed rather than a plain hash,
 * because internal address spaces are small enough to brute-force a plain
 * hash of `http://10.x.y.z:port`. The id is stable across restarts and
 * replicas (same secret) and when other targets are added or removed.
 */
import { cookieValues, hasCookie, serializeSetCookie, setCookieDeletes, setCookieName, withoutCookie } from "./cookies.ts";
import type { StickinessConfig } from "./schema.ts";
import { base64url, type CookieSigner, createCookieSigner, importHmacKey } from "./signer.ts";

const encoder = new TextEncoder();

/** Opaque id of a target for the binding cookie. */
export async function targetToken(url: string, key: CryptoKey): Promise<string> {
  const mac = new Uint8Array(await crypto.subtle.sign("HMAC", key, encoder.encode(`fulcrum-target:${url}`)));
  return base64url(mac.subarray(0, 12));
}

/** The secret from the config, or from the named environment variable / binding. */
export function stickinessSecret(config: StickinessConfig, env: Readonly<Record<string, unknown>>): string {
  if (config.secret !== undefined) return config.secret;
  const name = config.secretEnv!;
  const value = env[name];
  if (typeof value !== "string" || value.length < 32) {
    throw new Error(`stickiness.secretEnv: environment variable ${name} must hold a secret of at least 32 characters`);
  }
  return value;
}

/**
 * Binding values checked per request. A browser sends one value per cookie
 * name, two when the same name was set for two paths or domains (RFC 6265
 * §5.4 orders the more specific first); more can only be forged.
 */
export const MAX_BINDING_VALUES = 2;

/** A valid binding presented by the request. */
export interface StickyBinding {
  /** Index into the targets given to createStickiness. */
  readonly index: number;
  readonly expiresAtSec: number;
}

export interface Stickiness {
  readonly config: StickinessConfig;
  /** The target the request is bound to, if its cookie is valid (signature, expiry, known target, app cookie present). */
  targetFor(requestHeaders: Headers, nowSec: number): Promise<StickyBinding | undefined>;
  /**
   * Should this response (from target `currentIndex`) carry a new binding cookie?
   * `binding` is what targetFor returned for the request.
   */
  shouldIssue(responseHeaders: Headers, currentIndex: number, binding: StickyBinding | undefined, nowSec: number): boolean;
  /** The `Set-Cookie` value binding the client to target `index` for `duration` seconds. */
  cookieFor(index: number, nowSec: number): Promise<string>;
  /** Append the cookie (and `Cache-Control: private` with `nocache`) to mutable response headers. */
  issue(responseHeaders: Headers, index: number, nowSec: number): Promise<void>;
  /** The Cookie header to forward: unchanged, or without the binding cookie with `indirect` (null = drop the header). */
  forwardedCookieHeader(requestCookieHeader: string | null): string | null;
}

/**
 * `Cache-Control` for a response that sets the binding cookie (HAProxy
 * `nocache`): `private` added, `public` removed, other directives kept.
 */
export function privateCacheControl(existing: string | null): string {
  if (!existing) return "private";
  const directives = existing
    .split(",")
    .map((d) => d.trim())
    .filter((d) => d !== "" && d.toLowerCase() !== "public");
  if (directives.some((d) => /^(private|no-store)\b/i.test(d))) return directives.join(", ");
  return ["private", ...directives].join(", ");
}

export async function createStickiness(
  config: StickinessConfig,
  targets: readonly { readonly url: string }[],
  env: Readonly<Record<string, unknown>>,
): Promise<Stickiness> {
  const secret = stickinessSecret(config, env);
  const signer: CookieSigner = await createCookieSigner(secret);
  const idKey = await importHmacKey(secret);
  const ids = await Promise.all(targets.map((t) => targetToken(t.url, idKey)));
  const indexOf = new Map<string, number>();
  ids.forEach((id, i) => {
    // The same URL listed twice maps to its first entry.
    if (!indexOf.has(id)) indexOf.set(id, i);
  });
  const appCookie = config.type === "app_cookie" ? config.appCookieName : undefined;

  // Every client bound to the same target in the same second gets the same
  // signed value (it carries only the target id and the expiry second), so one
  // HMAC per target per second serves them all: signing per new client cost a
  // quarter of the CPU under a stream of new clients.
  const issued: ({ sec: number; cookie: Promise<string> } | undefined)[] = [];
  const cookieFor = (index: number, nowSec: number): Promise<string> => {
    const sec = Math.floor(nowSec);
    const cached = issued[index];
    if (cached && cached.sec === sec) return cached.cookie;
    const cookie = signCookie(index, sec);
    issued[index] = { sec, cookie };
    return cookie;
  };
  const signCookie = async (index: number, nowSec: number): Promise<string> => {
    const id = ids[index];
    if (id === undefined) throw new Error(`no target at index ${index}`);
    const exp = nowSec + config.duration;
    const token = await signer.sign(id, exp);
    return serializeSetCookie(config.cookieName, token, {
      maxAge: config.duration,
      expires: new Date(exp * 1000),
      path: config.path,
      domain: config.domain,
      secure: config.secure,
      httpOnly: config.httpOnly,
      sameSite: config.sameSite,
    });
  };

  /** Does the application's response set (not delete) its session cookie? */
  const appSetsCookie = (headers: Headers, nowSec: number): boolean => {
    for (const line of headers.getSetCookie()) {
      if (setCookieName(line) === appCookie && !setCookieDeletes(line, nowSec)) return true;
    }
    return false;
  };

  return {
    config,

    async targetFor(requestHeaders, nowSec) {
      const header = requestHeaders.get("cookie");
      // ALB app_cookie: the binding only counts while the application session exists.
      if (appCookie !== undefined && !hasCookie(header, appCookie)) return undefined;
      // Each value costs an HMAC check: a header of forged values must not buy a client that much CPU.
      for (const token of cookieValues(header, config.cookieName, MAX_BINDING_VALUES)) {
        const opened = await signer.open(token, nowSec);
        const index = opened === undefined ? undefined : indexOf.get(opened.payload);
        if (index !== undefined) return { index, expiresAtSec: opened!.expiresAtSec };
      }
      return undefined;
    },

    shouldIssue(responseHeaders, currentIndex, binding, nowSec) {
      // Failover moved the client: bind it to where it is now (HAProxy re-inserts too).
      if (binding && binding.index !== currentIndex) return true;
      // Renew a binding past half its life, so an active session is not cut at `duration`
      // while Set-Cookie stays off most responses (better for caches than ALB's every-response refresh).
      if (binding && binding.expiresAtSec - nowSec < config.duration / 2) return true;
      if (appCookie !== undefined) return appSetsCookie(responseHeaders, nowSec);
      return binding === undefined;
    },

    cookieFor,

    async issue(responseHeaders, index, nowSec) {
      responseHeaders.append("set-cookie", await cookieFor(index, nowSec));
      if (config.nocache) responseHeaders.set("cache-control", privateCacheControl(responseHeaders.get("cache-control")));
    },

    forwardedCookieHeader(requestCookieHeader) {
      return config.indirect ? withoutCookie(requestCookieHeader, config.cookieName) : requestCookieHeader;
    },
  };
}
