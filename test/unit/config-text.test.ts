/** What `fulcrum check` says about the file itself: JSON syntax, duplicate keys, names JavaScript reserves, listeners that cannot bind. */
import { describe, expect, test } from "bun:test";
import { ConfigError, parseConfig } from "../../src/config/load.ts";
import { parseJsonText } from "../../src/config/json-text.ts";

const group = (url = "http://127.0.0.1:9001") => ({ targets: [{ url }] });

function problemsOf(text: string): string[] {
  try {
    parseConfig(text);
  } catch (e) {
    if (e instanceof ConfigError) return [...e.problems];
    throw e;
  }
  return [];
}

const configText = (extra: Record<string, unknown> = {}) =>
  JSON.stringify({ listen: { port: 8080 }, targetGroups: { app: group() }, defaultAction: { forward: "app" }, ...extra });

describe("the config file's text", () => {
  test("a key written twice is a problem naming both lines, not the last one silently kept", () => {
    const text = `{
  "listen": { "port": 8080 },
  "targetGroups": { "app": { "targets": [{ "url": "http://127.0.0.1:9001", "weight": 1,
      "weight": 5 }] } },
  "defaultAction": { "forward": "app" }
}`;
    expect(problemsOf(text)).toEqual(["targetGroups.app.targets[0].weight: duplicate key (lines 3 and 4); JSON keeps only the last, so say it once"]);
  });

  test("the same key in different objects is fine", () => {
    expect(parseJsonText(`{"a": {"x": 1}, "b": {"x": 2}, "c": [{"x": 1}, {"x": 2}]}`).problems).toEqual([]);
  });

  test("a UTF-8 byte order mark is accepted", () => {
    expect(problemsOf("\uFEFF" + configText())).toEqual([]);
  });

  test("a syntax error gives line, column, the line itself and a caret", () => {
    const [problem] = problemsOf(`{\n  "listen": { "port": 8080 },\n  "targetGroups": { "app": { "targets": [] }, }\n}`);
    expect(problem).toBe(
      `not valid JSON: line 3, column 47: expected a key in double quotes\n      "targetGroups": { "app": { "targets": [] }, }\n                                                  ^`,
    );
  });

  test("comments are not JSON", () => {
    expect(problemsOf(`{ // listen\n "listen": {"port": 1} }`)[0]).toStartWith("not valid JSON: line 1, column 3: comments are not allowed in JSON");
  });
});

describe("names JavaScript reserves", () => {
  test("a target group named __proto__ or constructor is refused by name (it used to vanish, or fail every request)", () => {
    const text = `{"listen": {"port": 8080}, "targetGroups": {"app": ${JSON.stringify(group())}, "__proto__": ${JSON.stringify(group())}, "constructor": ${
      JSON.stringify(group())
    }}, "defaultAction": {"forward": "app"}}`;
    expect(problemsOf(text)).toEqual([
      'targetGroups.__proto__: "__proto__" cannot be used as a name or key (JavaScript reserves it); choose another',
      'targetGroups.constructor: "constructor" cannot be used as a name or key (JavaScript reserves it); choose another',
    ]);
  });

  test("names like toString are ordinary names", () => {
    expect(
      problemsOf(
        JSON.stringify({ listen: { port: 8080 }, targetGroups: { toString: group(), hasOwnProperty: group() }, defaultAction: { forward: "toString" } }),
      ),
    ).toEqual([]);
  });
});

describe("listeners", () => {
  test("two listeners on one port are a problem, unless each has its own specific address", () => {
    const listen = [{ port: 8080 }, { port: 8080, host: "127.0.0.1" }, { port: 9000, host: "127.0.0.1" }, { port: 9000, host: "127.0.0.2" }, { port: 0 }, {
      port: 0,
    }];
    expect(problemsOf(configText({ listen }))).toEqual([
      "listen[1].port: 8080 is also the port of listen[0] (0.0.0.0:8080); one address and port can have one listener",
    ]);
  });

  test.each(["256.1.1.1", "1.2.3", "a..b", "-a.example", "a_b.example", ""])("host %p is not an address or a name", (host) => {
    expect(problemsOf(configText({ listen: { port: 8080, host } }))).toEqual([
      `listen.host: expected an IP address or a host name, got ${JSON.stringify(host)}`,
    ]);
  });

  test.each(["0.0.0.0", "::", "127.0.0.1", "::1", "localhost", "lb-1.internal.example"])("host %p binds", (host) => {
    expect(problemsOf(configText({ listen: { port: 8080, host } }))).toEqual([]);
  });
});
