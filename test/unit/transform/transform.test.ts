/** Transforms: the path operations in order, header operations with placeholders, and what the schema refuses, by field. */
import { expect, test } from "bun:test";
import * as v from "valibot";
import { validateConfig } from "../../../src/config/load.ts";
import { TransformSchema } from "../../../src/transform/schema.ts";
import { compileTransform, type Vars } from "../../../src/transform/transform.ts";

const t = (rule: unknown, group?: unknown) =>
  compileTransform(rule ? v.parse(TransformSchema, rule) : undefined, group ? v.parse(TransformSchema, group) : undefined)!;
const vars: Vars = {
  client_ip: "10.1.2.3",
  request_id: "rid",
  group: "app",
  target: "10.0.0.1:80",
  host: "example.com",
  method: "GET",
  path: "/a?b",
  scheme: "https",
};

test("stripPrefix only at a segment boundary; then addPrefix; then replace; the query is kept", () => {
  const path = t({ path: { stripPrefix: "/api", addPrefix: "/v2", replace: { regex: "^/v2/users/(\\d+)$", with: "/v2/u/$1" } } }).path!;
  expect(path("/api/users/7?x=1")).toBe("/v2/u/7?x=1");
  // As Traefik's AddPrefix: "/" becomes the prefix and a slash.
  expect(path("/api")).toBe("/v2/");
  expect(path("/api/")).toBe("/v2/");
  expect(path("/apis/x")).toBe("/v2/apis/x");
  expect(t({ path: { stripPrefix: "/api" } }).path!("/api?q")).toBe("/?q");
  // A replacement without a leading slash still gives a path.
  expect(t({ path: { replace: { regex: "^/", with: "" } } }).path!("/x")).toBe("/x");
});

test("a rule's transform runs before its group's", () => {
  const path = t({ path: { stripPrefix: "/api" } }, { path: { addPrefix: "/internal" } }).path!;
  expect(path("/api/x")).toBe("/internal/x");
  const headers = new Headers({ "x-a": "client" });
  t({ requestHeaders: { set: { "x-a": "rule" } } }, { requestHeaders: { add: { "x-a": "group {group}" } } }).request!(headers, vars);
  expect(headers.get("x-a")).toBe("rule, group app");
});

test("headers: remove, then set, then add; every placeholder filled in", () => {
  const headers = new Headers({ "x-drop": "1", "x-keep": "1" });
  t({
    requestHeaders: {
      remove: ["x-drop"],
      set: { "x-all": "{client_ip} {request_id} {group} {target} {host} {method} {path} {scheme}" },
      add: { "x-keep": "2" },
    },
  }).request!(headers, vars);
  expect(headers.get("x-drop")).toBeNull();
  expect(headers.get("x-all")).toBe("10.1.2.3 rid app 10.0.0.1:80 example.com GET /a?b https");
  expect(headers.get("x-keep")).toBe("1, 2");
});

test("the schema names each mistake by field path", () => {
  const problems = (transform: unknown) => {
    try {
      validateConfig({
        listen: { port: 8080 },
        targetGroups: { app: { targets: [{ url: "http://127.0.0.1:1" }], transform } },
        defaultAction: { forward: "app" },
      });
      return [];
    } catch (e) {
      return (e as { problems: string[] }).problems;
    }
  };
  expect(problems({ requestHeaders: { set: { "x-a": "{client}" } } })[0]).toMatch(
    /^targetGroups\.app\.transform\.requestHeaders\.set\.x-a: unknown placeholder in "\{client\}"; placeholders: \{client_ip\}/,
  );
  expect(problems({ requestHeaders: { remove: ["Content-Length"] } })[0]).toContain('"Content-Length" belongs to the connection or the message framing');
  expect(problems({ path: { stripPrefix: "api/" } })[0]).toContain(
    'targetGroups.app.transform.path.stripPrefix: expected a prefix of visible ASCII characters starting with / (e.g. "/api"), got "api/"',
  );
  expect(problems({ path: { replace: { regex: "(", with: "" } } })[0]).toContain('expected a JavaScript regular expression, got "("');
  expect(problems({ path: { strip: "/x" } })[0]).toContain("targetGroups.app.transform.path.strip");
  expect(problems({ path: { addPrefix: "/v2/" } })[0]).toContain("not ending with /");
  expect(problems({ path: { replace: { regex: "^/a", with: "/b?c" } } })[0]).toContain("expected a path without ? or #");
  expect(problems({ requestHeaders: { set: { "x-a": "{Client_IP}" } } })[0]).toContain('unknown placeholder in "{Client_IP}"');
  expect(problems({ requestHeaders: { set: { expect: "100-continue" } } })[0]).toContain('"expect" belongs to the connection or the message framing');
});
