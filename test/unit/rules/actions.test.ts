import { describe, expect, test } from "bun:test";
import * as v from "valibot";
import { chooseWeightedGroup, fixedResponse, groupStickinessCookie, redirectLocation, redirectResponse, stickyGroupFrom } from "../../../src/rules/actions.ts";
import { compileAction } from "../../../src/rules/compile.ts";
import { ActionSchema, RedirectSchema } from "../../../src/rules/schema.ts";
import { mulberry32 } from "../strategies/helpers.ts";

const redirect = (r: Record<string, unknown>) => v.parse(RedirectSchema, r);

describe("redirect", () => {
  test("classic HTTP → HTTPS: 301, default port dropped, path and query kept", () => {
    const res = redirectResponse({ redirect: redirect({ protocol: "HTTPS", statusCode: 301 }) }, { url: "http://example.com/a/b?x=1&y=%20", proto: "http" });
    expect(res.status).toBe(301);
    expect(res.headers.get("location")).toBe("https://example.com/a/b?x=1&y=%20");
  });

  test("unspecified port follows a scheme change; an explicit or unchanged one is kept", () => {
    expect(redirectLocation(redirect({ protocol: "HTTPS", statusCode: 301 }), { url: "http://example.com:8080/", proto: "http" })).toBe("https://example.com/");
    expect(redirectLocation(redirect({ protocol: "HTTPS", port: "#{port}", statusCode: 301 }), { url: "http://example.com:8080/", proto: "http" })).toBe(
      "https://example.com:8080/",
    );
    expect(redirectLocation(redirect({ protocol: "HTTPS", port: 8443, statusCode: 302 }), { url: "http://example.com/", proto: "http" })).toBe(
      "https://example.com:8443/",
    );
    expect(redirectLocation(redirect({ protocol: "HTTPS", port: "443", statusCode: 302 }), { url: "http://example.com/", proto: "http" })).toBe(
      "https://example.com/",
    );
    expect(redirectLocation(redirect({ host: "new.example.com", statusCode: 308 }), { url: "http://old.example.com:8080/p", proto: "http" })).toBe(
      "http://new.example.com:8080/p",
    );
  });

  test("a trusted X-Forwarded-Proto decides the request scheme", () => {
    // Behind a TLS terminator: the URL says http, the client used https.
    expect(redirectLocation(redirect({ host: "www.#{host}", statusCode: 301 }), { url: "http://example.com/x", proto: "https" })).toBe(
      "https://www.example.com/x",
    );
  });

  test("placeholders: #{path} has no leading slash (ALB), all five reusable", () => {
    const r = redirect({ host: "#{host}.eu", path: "/new/#{path}", query: "#{query}&from=#{protocol}-#{port}", statusCode: 302 });
    expect(redirectLocation(r, { url: "http://example.com/old/page?a=1", proto: "http" })).toBe("http://example.com.eu/new/old/page?a=1&from=http-80");
    expect(redirectLocation(redirect({ path: "/moved", statusCode: 307 }), { url: "https://example.com/x?q=1", proto: "https" })).toBe(
      "https://example.com/moved?q=1",
    );
    expect(redirectLocation(redirect({ path: "/moved", query: "", statusCode: 307 }), { url: "https://example.com/x?q=1", proto: "https" })).toBe(
      "https://example.com/moved",
    );
    expect(redirectLocation(redirect({ path: "/#{path}", query: "#{query}", host: "b.com", statusCode: 301 }), { url: "http://a.com/", proto: "http" })).toBe(
      "http://b.com/",
    );
    expect(redirectLocation(redirect({ path: "/v2/#{path}", statusCode: 301 }), { url: "http://[::1]:8080/x", proto: "http" })).toBe("http://[::1]:8080/v2/x");
  });
});

describe("fixedResponse", () => {
  const fixed = (f: Record<string, unknown>) =>
    v.parse(ActionSchema, { fixedResponse: f }) as { fixedResponse: NonNullable<v.InferOutput<typeof ActionSchema>["fixedResponse"]> };

  test("status, content type and body", async () => {
    const res = fixedResponse(fixed({ statusCode: 503, contentType: "application/json", messageBody: '{"error":"maintenance"}' }));
    expect(res.status).toBe(503);
    expect(res.headers.get("content-type")).toBe("application/json");
    expect(await res.text()).toBe('{"error":"maintenance"}');
  });

  test("defaults: text/plain, empty body; 204 has no body", async () => {
    const res = fixedResponse(fixed({ statusCode: 404 }));
    expect(res.headers.get("content-type")).toBe("text/plain; charset=utf-8");
    expect(await res.text()).toBe("");
    const none = fixedResponse(fixed({ statusCode: 204 }));
    expect(none.status).toBe(204);
    expect(none.body).toBeNull();
  });
});

describe("weighted forward", () => {
  const action = (groups: { group: string; weight?: number }[], stickiness?: Record<string, unknown>) => {
    const a = compileAction(v.parse(ActionSchema, { forward: { targetGroups: groups, ...(stickiness ? { stickiness } : {}) } }));
    if (a.kind !== "forward") throw new Error("expected forward");
    return a;
  };

  test("distribution within ±2 % of the weights over 10,000 seeded draws", () => {
    const a = action([{ group: "blue", weight: 80 }, { group: "green", weight: 15 }, { group: "off", weight: 0 }, { group: "canary", weight: 5 }]);
    const random = mulberry32(42);
    const counts: Record<string, number> = {};
    for (let i = 0; i < 10_000; i++) {
      const c = chooseWeightedGroup(a, random, undefined);
      counts[c.group] = (counts[c.group] ?? 0) + 1;
      expect(c.setStickiness).toBe(false);
    }
    expect(counts.off).toBeUndefined();
    expect(Math.abs(counts.blue! / 10_000 - 0.8)).toBeLessThan(0.02);
    expect(Math.abs(counts.green! / 10_000 - 0.15)).toBeLessThan(0.02);
    expect(Math.abs(counts.canary! / 10_000 - 0.05)).toBeLessThan(0.02);
  });

  test("edges of random(): 0 picks the first weighted group, just below 1 the last", () => {
    const a = action([{ group: "zero", weight: 0 }, { group: "a", weight: 1 }, { group: "b", weight: 1 }]);
    expect(chooseWeightedGroup(a, () => 0, undefined).group).toBe("a");
    expect(chooseWeightedGroup(a, () => 0.999999, undefined).group).toBe("b");
  });

  test("group stickiness keeps a client on a group that still has weight", () => {
    const a = action([{ group: "blue", weight: 1 }, { group: "green", weight: 1 }, { group: "old", weight: 0 }], { duration: 600 });
    expect(chooseWeightedGroup(a, () => 0, "green")).toEqual({ group: "green", setStickiness: false });
    // A group whose weight went to 0, or that left the action, releases its clients.
    expect(chooseWeightedGroup(a, () => 0, "old")).toEqual({ group: "blue", setStickiness: true });
    expect(chooseWeightedGroup(a, () => 0, "gone")).toEqual({ group: "blue", setStickiness: true });
    expect(chooseWeightedGroup(a, () => 0.9, undefined)).toEqual({ group: "green", setStickiness: true });
    // Disabled stickiness ignores the cookie.
    const off = action([{ group: "blue" }, { group: "green" }], { enabled: false });
    expect(chooseWeightedGroup(off, () => 0, "green")).toEqual({ group: "blue", setStickiness: false });
  });

  test("group stickiness cookie: read and write", () => {
    const a = action([{ group: "blue" }, { group: "green" }], { duration: 600 });
    expect(groupStickinessCookie(a.stickiness!, "green", 1_700_000_000)).toBe(
      `FulcrumTG=green; Max-Age=600; Expires=${new Date(1_700_000_600_000).toUTCString()}; Path=/; HttpOnly; SameSite=Lax`,
    );
    expect(stickyGroupFrom(new Headers({ cookie: "a=1; FulcrumTG=green; b=2" }), a.stickiness)).toBe("green");
    expect(stickyGroupFrom(new Headers({ cookie: "a=1" }), a.stickiness)).toBeUndefined();
    expect(stickyGroupFrom(new Headers({ cookie: "FulcrumTG=green" }), undefined)).toBeUndefined();
  });
});
