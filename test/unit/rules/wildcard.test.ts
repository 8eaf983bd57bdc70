import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { compileWildcard, compileWildcards, literalPrefix, literalSuffix } from "../../../src/rules/wildcard.ts";

/** Reference: the same glob as a RegExp (test only). */
function reference(pattern: string, s: string): boolean {
  let re = "";
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === "\\" && i + 1 < pattern.length && "*?\\".includes(pattern[i + 1]!)) re += "\\" + pattern[++i];
    else if (c === "*") re += "[\\s\\S]*";
    else if (c === "?") re += "[\\s\\S]";
    else re += c.replace(/[.+^${}()|[\]\\/-]/g, "\\$&");
  }
  return new RegExp(`^${re}$`).test(s);
}

describe("wildcards", () => {
  test("ALB semantics: * is zero or more, ? exactly one", () => {
    const m = compileWildcard("/img/*.png");
    expect(m("/img/a.png")).toBe(true);
    expect(m("/img/.png")).toBe(true);
    expect(m("/img/a/b.png")).toBe(true);
    expect(m("/img/a.jpg")).toBe(false);
    expect(compileWildcard("/a?c")("/abc")).toBe(true);
    expect(compileWildcard("/a?c")("/ac")).toBe(false);
    expect(compileWildcard("/a?c")("/abbc")).toBe(false);
    expect(compileWildcard("*")("")).toBe(true);
    expect(compileWildcard("/api/*")("/api")).toBe(false);
    expect(compileWildcard("/x")("/X")).toBe(false);
  });

  test("case-insensitive patterns are lower-cased (the caller lower-cases input)", () => {
    expect(compileWildcard("*.Example.COM", true)("api.example.com")).toBe(true);
  });

  test("backslash escapes * and ?", () => {
    const m = compileWildcard("a\\*b");
    expect(m("a*b")).toBe(true);
    expect(m("axb")).toBe(false);
    expect(compileWildcard("what\\?")("what?")).toBe(true);
    expect(compileWildcard("what\\?")("whatx")).toBe(false);
  });

  test("literal prefix and suffix stop at the first / last wildcard", () => {
    expect(literalPrefix("/api/v?/*")).toBe("/api/v");
    expect(literalPrefix("*.png")).toBe("");
    expect(literalPrefix("/exact")).toBe("/exact");
    expect(literalSuffix("*.example.com")).toBe(".example.com");
    expect(literalSuffix("api.*")).toBe("");
    expect(literalSuffix("a?b.com")).toBe("b.com");
  });

  test("several values are OR-ed", () => {
    const m = compileWildcards(["/a", "/b/*", "/c?"]);
    expect(["/a", "/b/x", "/cd"].map(m)).toEqual([true, true, true]);
    expect(["/b", "/c", "/ab"].map(m)).toEqual([false, false, false]);
  });

  test("matches a RegExp reference on random patterns and strings", () => {
    const alphabet = fc.constantFrom("a", "b", "/", ".", "*", "?");
    fc.assert(
      fc.property(fc.array(alphabet, { maxLength: 8 }), fc.array(fc.constantFrom("a", "b", "/", "."), { maxLength: 10 }), (p, s) => {
        const pattern = p.join("");
        const input = s.join("");
        expect(compileWildcard(pattern)(input)).toBe(reference(pattern, input));
      }),
      { numRuns: 3000 },
    );
  });
});
