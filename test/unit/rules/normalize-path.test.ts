import { describe, expect, test } from "bun:test";
import { ambiguousPath, normalizePath, normalizePercentEncoding, removeDotSegments } from "../../../src/rules/normalize-path.ts";

describe("normalizePath", () => {
  test.each([
    ["/static/../admin", "/admin"],
    ["/%61dmin", "/admin"],
    ["/a/./b", "/a/b"],
    ["/a%2Fb", "/a%2Fb"],
    ["/a%2fb", "/a%2Fb"],
    ["/%2e%2e/admin", "/admin"],
    ["/static/%2E%2E/admin", "/admin"],
    ["/a/b/.", "/a/b/"],
    ["/a/b/..", "/a/"],
    ["/..", "/"],
    ["/../../x", "/x"],
    ["/a//b", "/a/b"],
    ["//admin/x", "/admin/x"],
    ["/admin\\x", "/admin/x"],
    ["/static\\..\\admin\\x", "/admin/x"],
    ["/%7Euser/%41%42%5F%2D%2E", "/~user/AB_-."],
    ["/caf%c3%a9", "/caf%C3%A9"],
    ["/100%", "/100%"],
    ["/%zz/%4", "/%zz/%4"],
    ["/%%41", "/%A"],
    ["/a.b/.c/..d", "/a.b/.c/..d"],
    ["/plain/path", "/plain/path"],
    ["", ""],
  ])("%s → %s", (input, expected) => {
    expect(normalizePath(input)).toBe(expected);
  });

  test("an unchanged path is returned as the same string (fast path)", () => {
    const p = "/api/v1/users/42";
    expect(normalizePath(p)).toBe(p);
  });

  test("building blocks follow RFC 3986 §5.2.4 and §6.2.2.1", () => {
    // RFC 3986 §5.2.4 examples.
    expect(removeDotSegments("/a/b/c/./../../g")).toBe("/a/g");
    expect(removeDotSegments("mid/content=5/../6")).toBe("mid/content=5/../6"); // relative: not ours to touch
    expect(normalizePercentEncoding("%3a%3A%7e")).toBe("%3A%3A~");
  });
});

describe("ambiguousPath: readings that disagree between targets", () => {
  test.each(["/a//../b", "/a//%2e%2e/b", "/a\\\\..\\b"])("%p means /a/b to WHATWG parsers and /b to nginx or Go: ambiguous", (path) => {
    expect(ambiguousPath(path)).toBe(true);
  });
  test.each(["/a/../b", "/a//b", "/a//./b", "/plain", "/a/b/..", "/a%2F%2F..%2Fb"])("%p reads the same everywhere", (path) => {
    expect(ambiguousPath(path)).toBe(false);
  });
});
