/**
 * Credentials check for the stats page and the metrics endpoint: HTTP Basic
 * (RFC 7617) and Bearer (RFC 6750).
 *
 * Constant time: the presented and the expected credentials are each run
 * through HMAC-SHA-256 under a per-process random key and the digests are
 * compared with a loop that always visits all 32 bytes. Equal-length digests
 * hide the secret's length, and the random key means an attacker cannot
 * steer the digests' bytes (the double-HMAC comparison).
 */
import type { AuthConfig } from "./schema.ts";

export interface AuthCheck {
  /** True when the request carries valid credentials. */
  verify(req: Request): Promise<boolean>;
  /** Who the credentials are (`user alice`, `token deploy-bot`, `token`), or undefined when they are not valid. */
  identify(req: Request): Promise<string | undefined>;
  /** `WWW-Authenticate` challenges for a 401, one per configured scheme. */
  readonly challenges: readonly string[];
}

const encoder = new TextEncoder();

export function timingSafeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}

/** The secret itself, or the environment variable it names; a missing variable fails at startup, not open. */
function secretOf(value: string | undefined, envName: string | undefined, env: Readonly<Record<string, unknown>>, field: string): string {
  if (value !== undefined) return value;
  const fromEnv = env[envName!];
  if (typeof fromEnv !== "string" || fromEnv === "") {
    throw new Error(`${field}: expected environment variable ${envName} to be set, got ${fromEnv === "" ? "an empty string" : "nothing"}`);
  }
  return fromEnv;
}

/** `Authorization: <scheme> <credentials>` → credentials, scheme matched case-insensitively (RFC 9110 §11.1). */
function credentials(req: Request, scheme: string): string | undefined {
  const h = req.headers.get("authorization");
  if (h === null) return undefined;
  const m = /^([A-Za-z]+) +(\S+) *$/.exec(h);
  return m && m[1]!.toLowerCase() === scheme ? m[2] : undefined;
}

/** base64 → the raw bytes (the user-pass is compared as bytes, whatever its charset). */
function base64Bytes(s: string): Uint8Array<ArrayBuffer> | undefined {
  try {
    const bin = atob(s);
    const out = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out;
  } catch {
    return undefined;
  }
}

/**
 * @param field config path for error messages, e.g. `admin.stats.auth`
 * @throws when a `passwordEnv`/`tokenEnv` variable is not set
 */
/** A bearer token as the config gives it: one, or several with names (the admin API's `admin.api.auth`). */
type BearerConfig = { readonly name?: string | undefined; readonly token?: string | undefined; readonly tokenEnv?: string | undefined };
export type AuthInput = Omit<AuthConfig, "bearer"> & { readonly bearer?: BearerConfig | readonly BearerConfig[] | undefined };

export function createAuthCheck(auth: AuthInput, env: Readonly<Record<string, unknown>>, realm: string, field: string): AuthCheck {
  const basic = auth.basic &&
    encoder.encode(`${auth.basic.username}:${secretOf(auth.basic.password, auth.basic.passwordEnv, env, `${field}.basic.passwordEnv`)}`);
  const list = auth.bearer === undefined ? [] : Array.isArray(auth.bearer) ? auth.bearer : [auth.bearer as BearerConfig];
  const tokens = list.map((t, i) => ({
    who: t.name === undefined ? "token" : `token ${t.name}`,
    secret: encoder.encode(secretOf(t.token, t.tokenEnv, env, `${field}.bearer${Array.isArray(auth.bearer) ? `[${i}]` : ""}.tokenEnv`)),
  }));

  const key = crypto.subtle.importKey("raw", crypto.getRandomValues(new Uint8Array(32)), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  const mac = async (data: Uint8Array<ArrayBuffer>) => new Uint8Array(await crypto.subtle.sign("HMAC", await key, data));
  const expectedBasic = basic && mac(basic);
  const expectedTokens = tokens.map((t) => ({ who: t.who, digest: mac(t.secret) }));

  const quotedRealm = `"${realm.replace(/["\\]/g, "\\$&")}"`;
  const challenges = [
    ...(basic ? [`Basic realm=${quotedRealm}, charset="UTF-8"`] : []),
    ...(tokens.length ? [`Bearer realm=${quotedRealm}`] : []),
  ];

  const identify = async (req: Request): Promise<string | undefined> => {
    if (expectedBasic) {
      const raw = credentials(req, "basic");
      const bytes = raw === undefined ? undefined : base64Bytes(raw);
      if (bytes && timingSafeEqual(await mac(bytes), await expectedBasic)) return `user ${auth.basic!.username}`;
    }
    const raw = credentials(req, "bearer");
    if (raw === undefined || expectedTokens.length === 0) return undefined;
    const presented = await mac(encoder.encode(raw));
    // Every token is compared, the match or not, so the time taken does not say which one matched.
    let who: string | undefined;
    for (const t of expectedTokens) if (timingSafeEqual(presented, await t.digest)) who ??= t.who;
    return who;
  };
  return { challenges, identify, verify: async (req) => (await identify(req)) !== undefined };
}

/** 401 with one `WWW-Authenticate` per scheme (RFC 9110 §11.6.1). */
export function unauthorized(check: AuthCheck): Response {
  const headers = new Headers({ "content-type": "text/plain; charset=utf-8", "cache-control": "no-store" });
  for (const c of check.challenges) headers.append("www-authenticate", c);
  return new Response("401 Unauthorized\n", { status: 401, headers });
}
