import { describe, expect, test } from "bun:test";
import { hostProblem, rejectAtEdge } from "../../../src/edge/request-guard.ts";

/** A Request with headers exactly as a runtime hands them over (a duplicated field arrives joined by ", "). */
function request(method: string, headers: Record<string, string>, body?: string): Request {
  return new Request("http://lb.test/x", { method, headers, body });
}

describe("rejectAtEdge (RFC 9112)", () => {
  test("CONNECT is not implemented: 501", async () => {
    const r = rejectAtEdge(request("CONNECT", { host: "a.example:443" }));
    expect(r?.status).toBe(501);
  });

  test.each([
    ["5, 5", "a duplicated identical Content-Length"],
    ["5,6", "two different lengths"],
    ["abc", "not a number"],
    ["-1", "negative"],
    ["99999999999999999999999", "beyond a safe integer"],
  ])("Content-Length %p (%s): 400", (length) => {
    const headers = new Headers({ host: "a" });
    // Headers refuses nothing here: a runtime's parser passes such a field on as it was joined.
    headers.set("content-length", length);
    const r = rejectAtEdge(new Request("http://lb.test/x", { method: "POST", headers, body: "hello" }));
    expect(r?.status).toBe(400);
  });

  test("Content-Length together with Transfer-Encoding: 400", () => {
    const headers = new Headers({ host: "a", "content-length": "5", "transfer-encoding": "chunked" });
    expect(rejectAtEdge(new Request("http://lb.test/x", { method: "POST", headers, body: "hello" }))?.status).toBe(400);
  });

  test("a well-formed request passes", () => {
    expect(rejectAtEdge(request("POST", { host: "a.example:8080", "content-length": "5" }, "hello"))).toBeUndefined();
    expect(rejectAtEdge(request("GET", { host: "[::1]:8080" }))).toBeUndefined();
    expect(rejectAtEdge(request("GET", {}))).toBeUndefined(); // no Host at all: HTTP/1.0, the runtime decides
  });
});

describe("hostProblem (RFC 9112 §3.2, RFC 3986 §3.2.2)", () => {
  test.each(["a.example", "a.example:8080", "127.0.0.1", "127.0.0.1:80", "[::1]", "[::1]:443", "a.example:", "xn--bcher-kva.example", "A.EXAMPLE."])(
    "%p is valid",
    (host) => {
      expect(hostProblem(host)).toBeUndefined();
    },
  );
  test.each([
    ["a, b", "more than one Host"],
    ["a.example, a.example", "more than one Host"],
    ["a.example?", "invalid Host"],
    ["a.example/x", "invalid Host"],
    ["a.example#x", "invalid Host"],
    ["user@a.example", "invalid Host"],
    ["a.example:99999", "invalid port in Host"],
    ["a.example:80x", "invalid Host"],
    ["a example", "invalid Host"],
    ["a\\b", "invalid Host"],
    ["", "invalid Host"],
  ])("%p: %s", (host, problem) => {
    expect(hostProblem(host)).toBe(problem);
  });
});
