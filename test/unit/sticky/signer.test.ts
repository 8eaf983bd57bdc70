import { describe, expect, test } from "bun:test";
import { base64url, createCookieSigner, fromBase64url } from "../../../src/sticky/signer.ts";

const SECRET = "0123456789abcdef0123456789abcdef";
const NOW = 1_700_000_000;

describe("cookie signer", () => {
  test("round trip, with the payload and expiry inside", async () => {
    const s = await createCookieSigner(SECRET);
    const token = await s.sign("target-id", NOW + 60);
    expect(token).toMatch(/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{43}$/);
    expect(await s.verify(token, NOW)).toBe("target-id");
    expect(await s.open(token, NOW)).toEqual({ payload: "target-id", expiresAtSec: NOW + 60 });
    // Payloads may contain the separator: the expiry is after the last one.
    expect(await s.verify(await s.sign("a|b", NOW + 1), NOW)).toBe("a|b");
  });

  test("expired tokens are rejected, also when they were cached while valid", async () => {
    const s = await createCookieSigner(SECRET);
    const token = await s.sign("x", NOW + 60);
    expect(await s.verify(token, NOW + 59)).toBe("x");
    expect(await s.verify(token, NOW + 60)).toBeUndefined();
    expect(await s.verify(token, NOW + 10_000)).toBeUndefined();
    const fresh = await createCookieSigner(SECRET);
    expect(await fresh.verify(token, NOW + 60)).toBeUndefined();
  });

  test("tampered tokens are rejected", async () => {
    const s = await createCookieSigner(SECRET);
    const token = await s.sign("target-a", NOW + 60);
    const [body, mac] = token.split(".") as [string, string];
    const forgedBody = base64url(new TextEncoder().encode(`target-b|${NOW + 60}`));
    const longer = base64url(new TextEncoder().encode(`target-a|${NOW + 999_999}`));
    const flipped = mac.slice(0, 10) + (mac[10] === "A" ? "B" : "A") + mac.slice(11);
    for (const bad of [`${forgedBody}.${mac}`, `${longer}.${mac}`, `${body}.${flipped}`, `${body}.${mac.slice(0, -2)}`]) {
      expect(await s.verify(bad, NOW)).toBeUndefined();
    }
    const other = await createCookieSigner("another secret of thirty-two chars!!");
    expect(await other.verify(token, NOW)).toBeUndefined();
  });

  test("malformed tokens are rejected without throwing", async () => {
    const s = await createCookieSigner(SECRET);
    for (const bad of ["", ".", "abc", "abc.", ".abc", "a.b.c", "!!!.???", "x".repeat(600), `${base64url(new TextEncoder().encode("no-expiry"))}.abc`]) {
      expect(await s.verify(bad, NOW)).toBeUndefined();
    }
    // A correctly signed body that is not payload|exp is still rejected.
    const key = await crypto.subtle.importKey("raw", new TextEncoder().encode(SECRET), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
    for (const text of ["no-bar", "x|soon", "x|", "x|1e9"]) {
      const body = base64url(new TextEncoder().encode(text));
      const mac = base64url(new Uint8Array(await crypto.subtle.sign("HMAC", key, new TextEncoder().encode(body))));
      expect(await s.verify(`${body}.${mac}`, NOW)).toBeUndefined();
    }
  });

  test("the verified-token cache is bounded and still answers correctly after eviction", async () => {
    const s = await createCookieSigner(SECRET, { cacheSize: 2 });
    const tokens = await Promise.all(["a", "b", "c"].map((p) => s.sign(p, NOW + 60)));
    for (const t of tokens) await s.verify(t, NOW);
    expect(await Promise.all(tokens.map((t) => s.verify(t, NOW)))).toEqual(["a", "b", "c"]);
  });

  test("base64url round trip", () => {
    for (const n of [0, 1, 2, 3, 4, 31, 32]) {
      const bytes = crypto.getRandomValues(new Uint8Array(n));
      expect([...fromBase64url(base64url(bytes))!]).toEqual([...bytes]);
    }
    expect(fromBase64url("a")).toBeUndefined();
    expect(fromBase64url("a+b/")).toBeUndefined();
  });
});
