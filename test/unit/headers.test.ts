import { describe, expect, test } from "bun:test";
import { applyForwarding, ensureRequestId, stripHopByHop } from "../../src/proxy/headers.ts";
import { rawPathAndQuery } from "../../src/proxy/upstream-request.ts";

const cfg = { trustedProxies: [], xForwarded: true, forwarded: true, requestIdHeader: "X-Request-Id" };

describe("hop-by-hop", () => {
  test("removes the RFC 9110 set and whatever Connection names", () => {
    const h = new Headers({
      connection: "keep-alive, X-Foo, ,x-bar",
      "x-foo": "1",
      "x-bar": "2",
      "keep-alive": "5",
      te: "trailers",
      "transfer-encoding": "chunked",
      upgrade: "h2c",
      "proxy-connection": "x",
      "x-keep": "k",
    });
    stripHopByHop(h);
    expect([...h.keys()]).toEqual(["x-keep"]);
  });
});

describe("forwarding headers", () => {
  test("untrusted: replaced, not appended", () => {
    const h = new Headers({ "x-forwarded-for": "6.6.6.6", forwarded: "for=6.6.6.6", "x-real-ip": "6.6.6.6", "x-forwarded-proto": "https" });
    applyForwarding(h, { ip: "10.0.0.1", trusted: false, proto: "http", host: "a.test" }, cfg);
    expect(h.get("x-forwarded-for")).toBe("10.0.0.1");
    expect(h.get("x-real-ip")).toBe("10.0.0.1");
    expect(h.get("x-forwarded-proto")).toBe("http");
    expect(h.get("x-forwarded-host")).toBe("a.test");
    expect(h.get("forwarded")).toBe("for=10.0.0.1;host=a.test;proto=http");
  });
  test("trusted: appended like $proxy_add_x_forwarded_for; IPv6 quoted in Forwarded (RFC 7239 §6)", () => {
    const h = new Headers({ "x-forwarded-for": "1.1.1.1", forwarded: "for=1.1.1.1", "x-forwarded-proto": "https" });
    applyForwarding(h, { ip: "2001:db8::1", trusted: true, proto: "http", host: "a.test:8080" }, cfg);
    expect(h.get("x-forwarded-for")).toBe("1.1.1.1, 2001:db8::1");
    expect(h.get("x-forwarded-proto")).toBe("https");
    expect(h.get("forwarded")).toBe('for=1.1.1.1, for="[2001:db8::1]";host="a.test:8080";proto=http');
  });
  test("unknown client address", () => {
    const h = new Headers();
    applyForwarding(h, { ip: undefined, trusted: false, proto: "https", host: null }, cfg);
    expect(h.get("x-forwarded-for")).toBeNull();
    expect(h.get("forwarded")).toBe("for=unknown;proto=https");
  });
});

describe("request id", () => {
  test("kept when sane, replaced when absent or hostile", () => {
    const h = new Headers({ "x-request-id": "abc" });
    expect(ensureRequestId(h, "X-Request-Id")).toBe("abc");
    const h2 = new Headers({ "x-request-id": "a b" });
    expect(ensureRequestId(h2, "X-Request-Id")).toMatch(/^[0-9a-f-]{36}$/);
  });
});

describe("raw path", () => {
  test("everything after the authority, empty query kept", () => {
    expect(rawPathAndQuery("http://h:1/a%2Fb?")).toBe("/a%2Fb?");
    expect(rawPathAndQuery("https://h")).toBe("/");
    expect(rawPathAndQuery("http://h/?q=//x")).toBe("/?q=//x");
  });
});
