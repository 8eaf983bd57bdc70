import { describe, expect, test } from "bun:test";
import * as v from "valibot";
import { createAuthCheck, timingSafeEqual, unauthorized } from "../../../src/stats/auth.ts";
import { AuthSchema, MetricsEndpointSchema, StatsSchema } from "../../../src/stats/schema.ts";

const problems = (schema: v.GenericSchema, input: unknown) =>
  (v.safeParse(schema, input).issues ?? []).map((i) => `${v.getDotPath(i) ?? "(root)"}: ${i.message}`);

const basic = (user: string, pass: string) => new Request("http://x/", { headers: { authorization: `Basic ${btoa(user + ":" + pass)}` } });
const bearer = (token: string) => new Request("http://x/", { headers: { authorization: `Bearer ${token}` } });

describe("stats config", () => {
  test("defaults", () => {
    expect(v.parse(StatsSchema, { auth: { basic: { username: "ops", password: "pw" } } })).toEqual({
      path: "/__fulcrum/stats",
      auth: { basic: { username: "ops", password: "pw" } },
      refresh: 2,
    });
    expect(v.parse(MetricsEndpointSchema, {})).toEqual({ path: "/__fulcrum/metrics" });
  });

  test("problems by field path, expected … got …", () => {
    expect(problems(StatsSchema, { path: "stats", auth: {}, refresh: 0 })).toEqual([
      "path: expected a path starting with /",
      "auth: expected basic or bearer, got neither",
      "refresh: expected seconds from 0.5 to 3600",
    ]);
    expect(problems(AuthSchema, { basic: { username: "a:b", password: "x", passwordEnv: "P" }, bearer: {} })).toEqual([
      'basic.username: expected a username without ":", got "a:b"',
      "basic: expected exactly one of password, passwordEnv, got both",
      "bearer: expected exactly one of token, tokenEnv, got neither",
    ]);
    expect(problems(AuthSchema, { basic: { username: "a", password: "x", passwordEnv: "P" } })).toEqual([
      "basic: expected exactly one of password, passwordEnv, got both",
    ]);
    expect(problems(AuthSchema, { bearer: {} })).toEqual(["bearer: expected exactly one of token, tokenEnv, got neither"]);
    expect(problems(MetricsEndpointSchema, { path: "/m/" })).toEqual(['path: expected a path without a trailing slash, got "/m/"']);
    expect(problems(StatsSchema, { auth: { basic: { username: "a", password: "b" } }, extra: 1 })).toHaveLength(1);
  });
});

describe("stats auth", () => {
  test("timingSafeEqual", () => {
    expect(timingSafeEqual(new Uint8Array([1, 2]), new Uint8Array([1, 2]))).toBe(true);
    expect(timingSafeEqual(new Uint8Array([1, 2]), new Uint8Array([1, 3]))).toBe(false);
    expect(timingSafeEqual(new Uint8Array([1]), new Uint8Array([1, 0]))).toBe(false);
  });

  test("basic: right credentials only; UTF-8 passwords; scheme case-insensitive", async () => {
    const auth = createAuthCheck({ basic: { username: "ops", password: "sé cret" } }, {}, "r", "admin.stats.auth");
    expect(await auth.verify(new Request("http://x/", { headers: { authorization: `Basic ${Buffer.from("ops:sé cret").toString("base64")}` } }))).toBe(true);
    expect(await auth.verify(new Request("http://x/", { headers: { authorization: `bAsIc ${Buffer.from("ops:sé cret").toString("base64")}` } }))).toBe(true);
    expect(await auth.verify(basic("ops", "se cret"))).toBe(false);
    expect(await auth.verify(basic("ops", "sé cret!"))).toBe(false);
    expect(await auth.verify(basic("op", "s:sé cret"))).toBe(false);
    expect(await auth.verify(new Request("http://x/", { headers: { authorization: "Basic !!!notbase64" } }))).toBe(false);
    expect(await auth.verify(new Request("http://x/"))).toBe(false);
    expect(await auth.verify(bearer("sé cret"))).toBe(false);
    expect(auth.challenges).toEqual(['Basic realm="r", charset="UTF-8"']);
  });

  test("bearer from the environment; both schemes accepted when both configured", async () => {
    const auth = createAuthCheck({ basic: { username: "u", passwordEnv: "PW" }, bearer: { tokenEnv: "TOKEN" } }, { PW: "p", TOKEN: "abc.def" }, "r", "f");
    expect(await auth.verify(bearer("abc.def"))).toBe(true);
    expect(await auth.verify(basic("u", "p"))).toBe(true);
    expect(await auth.verify(bearer("abc.deg"))).toBe(false);
    expect(await auth.verify(bearer("abc.def "))).toBe(true); // trailing whitespace is not part of the token
    expect(await auth.verify(bearer("abc.defx"))).toBe(false);
    const res = unauthorized(auth);
    expect(res.status).toBe(401);
    expect(res.headers.get("www-authenticate")).toBe('Basic realm="r", charset="UTF-8", Bearer realm="r"');
    expect(res.headers.get("cache-control")).toBe("no-store");
  });

  test("a missing secret variable fails at startup, naming the field", () => {
    expect(() => createAuthCheck({ bearer: { tokenEnv: "NOPE" } }, {}, "r", "admin.metrics.auth")).toThrow(
      "admin.metrics.auth.bearer.tokenEnv: expected environment variable NOPE to be set, got nothing",
    );
    expect(() => createAuthCheck({ basic: { username: "u", passwordEnv: "E" } }, { E: "" }, "r", "a")).toThrow("got an empty string");
  });
});
