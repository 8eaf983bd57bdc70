import { describe, expect, test } from "bun:test";
import * as v from "valibot";
import { createStickiness, privateCacheControl, targetToken } from "../../../src/sticky/affinity.ts";
import { cookieValues, setCookieDeletes, withoutCookie } from "../../../src/sticky/cookies.ts";
import { StickinessSchema } from "../../../src/sticky/schema.ts";
import { importHmacKey } from "../../../src/sticky/signer.ts";

const SECRET = "0123456789abcdef0123456789abcdef";
const NOW = 1_700_000_000;
const targets = [{ url: "http://10.0.0.1:9001" }, { url: "http://10.0.0.2:9002" }, { url: "http://10.0.0.3:9003" }];
const config = (over: Record<string, unknown> = {}) => v.parse(StickinessSchema, { type: "lb_cookie", secret: SECRET, ...over });
const cookieValue = (setCookie: string) => setCookie.slice(setCookie.indexOf("=") + 1, setCookie.indexOf(";"));
const withCookie = (cookie: string) => new Headers({ cookie });

describe("sticky schema", () => {
  const issues = (input: unknown) => {
    const r = v.safeParse(StickinessSchema, input);
    return r.success ? [] : r.issues.map((i) => `${(i.path ?? []).map((p) => String(p.key)).join(".")}: ${i.message}`);
  };

  test("ALB-like defaults", () => {
    expect(config()).toEqual({
      type: "lb_cookie",
      cookieName: "FulcrumLB",
      duration: 86400,
      path: "/",
      secure: false,
      httpOnly: true,
      sameSite: "Lax",
      indirect: false,
      nocache: false,
      secret: SECRET,
    });
    const app = v.parse(StickinessSchema, { type: "app_cookie", appCookieName: "JSESSIONID", secretEnv: "FULCRUM_STICKY_SECRET" });
    expect(app.cookieName).toBe("FulcrumAPP");
  });

  test("problems", () => {
    expect(issues({ type: "lb_cookie" })).toEqual([": expected secret or secretEnv (the HMAC key for the cookie), got neither"]);
    expect(issues({ type: "lb_cookie", secret: SECRET, secretEnv: "X" })).toEqual([": expected either secret or secretEnv, got both"]);
    expect(issues({ type: "lb_cookie", secret: "short" })).toEqual(["secret: expected a secret of at least 32 characters"]);
    expect(issues({ type: "app_cookie", secret: SECRET })[0]).toStartWith("appCookieName:");
    expect(issues({ type: "sticky", secret: SECRET })).toEqual(['type: expected type lb_cookie or app_cookie, got "sticky"']);
    expect(issues({ type: "lb_cookie", secret: SECRET, sameSite: "None" })).toEqual([": expected secure: true with sameSite None"]);
    expect(issues({ type: "lb_cookie", secret: SECRET, duration: 604801 })).toEqual(["duration: expected seconds from 1 to 604800"]);
    expect(issues({ type: "lb_cookie", secret: SECRET, cookieName: "a b" })).toEqual(['cookieName: expected a cookie name (RFC 6265 token), got "a b"']);
  });
});

describe("lb_cookie affinity", () => {
  test("cookie string carries every attribute, and only an opaque id", async () => {
    const s = await createStickiness(config({ domain: "example.com", secure: true, sameSite: "Strict", duration: 3600 }), targets, {});
    const set = await s.cookieFor(1, NOW);
    expect(set).toMatch(
      new RegExp(
        `^FulcrumLB=[A-Za-z0-9_.-]+; Max-Age=3600; Expires=${
          new Date((NOW + 3600) * 1000).toUTCString()
        }; Path=/; Domain=example.com; Secure; HttpOnly; SameSite=Strict$`,
      ),
    );
    // Nothing about the target leaks: not the URL, host, port or index, in clear or base64.
    const decoded = atob(cookieValue(set).split(".")[0]!.replace(/-/g, "+").replace(/_/g, "/"));
    for (const leak of ["10.0.0.2", "9002", "http"]) {
      expect(set).not.toContain(leak);
      expect(decoded).not.toContain(leak);
    }
    const minimal = await (await createStickiness(config({ httpOnly: false }), targets, {})).cookieFor(0, NOW);
    expect(minimal).toEndWith("; Path=/; SameSite=Lax");
  });

  test("target ids: keyed, stable, distinct, 16 characters", async () => {
    const key = await importHmacKey(SECRET);
    const ids = await Promise.all(targets.map((t) => targetToken(t.url, key)));
    expect(new Set(ids).size).toBe(3);
    for (const id of ids) expect(id).toMatch(/^[A-Za-z0-9_-]{16}$/);
    expect(await targetToken(targets[0]!.url, key)).toBe(ids[0]!);
    expect(await targetToken(targets[0]!.url, await importHmacKey("another secret of thirty-two chars!!"))).not.toBe(ids[0]!);
    // Plain SHA-256 of the URL would be guessable; the id is not that.
    const plain = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(targets[0]!.url)));
    expect(btoa(String.fromCharCode(...plain.subarray(0, 12))).replace(/\+/g, "-").replace(/\//g, "_")).not.toBe(ids[0]!);
  });

  test("round trip: the issued cookie binds the next request to the same target, across target list changes", async () => {
    const s = await createStickiness(config(), targets, {});
    const set = await s.cookieFor(2, NOW);
    const binding = await s.targetFor(withCookie(`a=1; FulcrumLB=${cookieValue(set)}; b=2`), NOW + 10);
    expect(binding).toEqual({ index: 2, expiresAtSec: NOW + 86400 });
    // Another replica (same secret) with the targets in another order and one added.
    const other = await createStickiness(config(), [{ url: "http://10.0.0.9:1" }, targets[2]!, targets[0]!], {});
    expect((await other.targetFor(withCookie(`FulcrumLB=${cookieValue(set)}`), NOW))?.index).toBe(1);
    // A target removed from the group: no binding.
    const without = await createStickiness(config(), [targets[0]!, targets[1]!], {});
    expect(await without.targetFor(withCookie(`FulcrumLB=${cookieValue(set)}`), NOW)).toBeUndefined();
  });

  test("no, tampered, expired or foreign cookies give no binding", async () => {
    const s = await createStickiness(config({ duration: 60 }), targets, {});
    const token = cookieValue(await s.cookieFor(0, NOW));
    expect(await s.targetFor(new Headers(), NOW)).toBeUndefined();
    expect(await s.targetFor(withCookie(`FulcrumLB=${token}x`), NOW)).toBeUndefined();
    expect(await s.targetFor(withCookie(`FulcrumLB=${token}`), NOW + 60)).toBeUndefined();
    expect(await s.targetFor(withCookie("FulcrumLB=http://10.0.0.1:9001"), NOW)).toBeUndefined();
    const foreign = await createStickiness(config({ secret: "another secret of thirty-two chars!!" }), targets, {});
    expect(await foreign.targetFor(withCookie(`FulcrumLB=${token}`), NOW)).toBeUndefined();
    // With two cookies of the name (e.g. two paths), the valid one wins.
    expect((await s.targetFor(withCookie(`FulcrumLB=garbage; FulcrumLB=${token}`), NOW))?.index).toBe(0);
  });

  test("when to issue: new clients, failover, renewal past half-life; not on every response", async () => {
    const s = await createStickiness(config({ duration: 100 }), targets, {});
    const h = new Headers();
    expect(s.shouldIssue(h, 0, undefined, NOW)).toBe(true);
    expect(s.shouldIssue(h, 0, { index: 0, expiresAtSec: NOW + 90 }, NOW)).toBe(false);
    expect(s.shouldIssue(h, 1, { index: 0, expiresAtSec: NOW + 90 }, NOW)).toBe(true);
    expect(s.shouldIssue(h, 0, { index: 0, expiresAtSec: NOW + 49 }, NOW)).toBe(true);
  });

  test("issue appends Set-Cookie, and with nocache makes the response private", async () => {
    const plain = await createStickiness(config(), targets, {});
    const h1 = new Headers({ "set-cookie": "app=1", "cache-control": "public, max-age=60" });
    await plain.issue(h1, 0, NOW);
    expect(h1.getSetCookie()).toHaveLength(2);
    expect(h1.get("cache-control")).toBe("public, max-age=60");
    const nocache = await createStickiness(config({ nocache: true }), targets, {});
    const h2 = new Headers({ "cache-control": "public, max-age=60" });
    await nocache.issue(h2, 0, NOW);
    expect(h2.get("cache-control")).toBe("private, max-age=60");
    expect(privateCacheControl(null)).toBe("private");
    expect(privateCacheControl("no-store")).toBe("no-store");
    expect(privateCacheControl("private, max-age=5")).toBe("private, max-age=5");
  });

  test("indirect strips the binding cookie from the forwarded Cookie header", async () => {
    const indirect = await createStickiness(config({ indirect: true }), targets, {});
    expect(indirect.forwardedCookieHeader("a=1; FulcrumLB=tok; b=2")).toBe("a=1; b=2");
    expect(indirect.forwardedCookieHeader("FulcrumLB=tok")).toBeNull();
    expect(indirect.forwardedCookieHeader("FulcrumLBX=1;FulcrumLB=tok")).toBe("FulcrumLBX=1");
    expect(indirect.forwardedCookieHeader(null)).toBeNull();
    const direct = await createStickiness(config(), targets, {});
    expect(direct.forwardedCookieHeader("a=1; FulcrumLB=tok")).toBe("a=1; FulcrumLB=tok");
  });

  test("secretEnv reads the secret from the environment", async () => {
    const c = v.parse(StickinessSchema, { type: "lb_cookie", secretEnv: "STICKY" });
    const s = await createStickiness(c, targets, { STICKY: SECRET });
    const byConfig = await createStickiness(config(), targets, {});
    expect((await byConfig.targetFor(withCookie(`FulcrumLB=${cookieValue(await s.cookieFor(1, NOW))}`), NOW))?.index).toBe(1);
    await expect(createStickiness(c, targets, {})).rejects.toThrow("environment variable STICKY");
  });
});

describe("app_cookie affinity", () => {
  const appConfig = () => v.parse(StickinessSchema, { type: "app_cookie", appCookieName: "SESSION", secret: SECRET });

  test("issued when the application sets its cookie, not when it deletes it", async () => {
    const s = await createStickiness(appConfig(), targets, {});
    const sets = new Headers();
    sets.append("set-cookie", "other=1");
    sets.append("set-cookie", "SESSION=abc; Path=/; HttpOnly");
    expect(s.shouldIssue(sets, 0, undefined, NOW)).toBe(true);
    expect(s.shouldIssue(new Headers({ "set-cookie": "other=1" }), 0, undefined, NOW)).toBe(false);
    expect(s.shouldIssue(new Headers(), 0, undefined, NOW)).toBe(false);
    expect(s.shouldIssue(new Headers({ "set-cookie": "SESSION=; Max-Age=0" }), 0, undefined, NOW)).toBe(false);
    expect(s.shouldIssue(new Headers({ "set-cookie": "SESSION=x; Expires=Thu, 01 Jan 1970 00:00:00 GMT" }), 0, undefined, NOW)).toBe(false);
    // Failover still re-binds.
    expect(s.shouldIssue(new Headers(), 1, { index: 0, expiresAtSec: NOW + 86000 }, NOW)).toBe(true);
  });

  test("the binding counts only while the application cookie is sent too", async () => {
    const s = await createStickiness(appConfig(), targets, {});
    const token = cookieValue(await s.cookieFor(1, NOW));
    expect(await s.cookieFor(1, NOW)).toStartWith("FulcrumAPP=");
    expect((await s.targetFor(withCookie(`SESSION=abc; FulcrumAPP=${token}`), NOW))?.index).toBe(1);
    expect(await s.targetFor(withCookie(`FulcrumAPP=${token}`), NOW)).toBeUndefined();
  });
});

describe("cookie helpers", () => {
  test("parsing tolerates spacing, quotes and similar names", () => {
    expect(cookieValues('a=1;b="2" ; ab=3', "b")).toEqual(["2"]);
    expect(cookieValues("ab=3", "b")).toEqual([]);
    expect(withoutCookie("x=1;  ; y=2", "z")).toBe("x=1;  ; y=2");
    expect(withoutCookie("x=1;  ; y=2", "x")).toBe("y=2");
    expect(setCookieDeletes("a=1; Max-Age=10; Expires=Thu, 01 Jan 1970 00:00:00 GMT", NOW)).toBe(false);
    expect(setCookieDeletes("a=1", NOW)).toBe(false);
  });
});

describe("forged binding cookies", () => {
  test("a Cookie header of hundreds of well-formed forged values costs at most two MAC checks, and a valid first value still binds", async () => {
    const s = await createStickiness(config(), targets, {});
    const real = cookieValue(await s.cookieFor(1, NOW));
    // Well-formed: a body and a 32-byte MAC, signed with another key, each one distinct (no cache hit).
    const forger = await createStickiness(config({ secret: "f".repeat(32) }), targets, {});
    const forged = await Promise.all(Array.from({ length: 300 }, (_, i) => forger.cookieFor(i % 3, NOW + i).then(cookieValue)));
    const verify = crypto.subtle.verify.bind(crypto.subtle);
    let checks = 0;
    const spy = (...args: Parameters<SubtleCrypto["verify"]>) => {
      checks++;
      return verify(...args);
    };
    crypto.subtle.verify = spy as SubtleCrypto["verify"];
    try {
      expect(await s.targetFor(withCookie(forged.map((f) => `FulcrumLB=${f}`).join("; ")), NOW)).toBeUndefined();
      expect(checks).toBe(2);
      checks = 0;
      expect((await s.targetFor(withCookie([real, ...forged].map((f) => `FulcrumLB=${f}`).join("; ")), NOW))?.index).toBe(1);
      expect(checks).toBeLessThanOrEqual(1);
    } finally {
      crypto.subtle.verify = verify;
    }
  });

  test("cookieValues stops at its limit", () => {
    expect(cookieValues("a=1; b=2; a=3; a=4", "a", 2)).toEqual(["1", "3"]);
    expect(cookieValues("a=1; b=2; a=3; a=4", "a")).toEqual(["1", "3", "4"]);
  });
});
