import { describe, expect, test } from "bun:test";
import * as v from "valibot";
import { type AccessLogEntry, clfEscape, clfTime, createAccessLog, formatCommon, formatJson } from "../../../src/metrics/access-log.ts";
import { AccessLogSchema } from "../../../src/metrics/schema.ts";

const entry = (over: Partial<AccessLogEntry> = {}): AccessLogEntry => ({
  time: Date.UTC(2000, 9, 10, 13, 55, 36, 123),
  requestId: "req-1",
  client: "203.0.113.7",
  method: "GET",
  path: "/a/b?x=1",
  rule: "default",
  group: "app",
  target: "http://10.0.0.1:9001",
  status: 200,
  upstreamMs: 12.34567,
  totalMs: 13.5,
  bytesIn: 0,
  bytesOut: 2326,
  retries: 0,
  ...over,
});

describe("access log", () => {
  test("schema defaults and messages", () => {
    expect(v.parse(AccessLogSchema, {})).toEqual({ enabled: false, format: "json", sampleRate: 1 });
    const bad = v.safeParse(AccessLogSchema, { format: "xml", sampleRate: 2 });
    expect(bad.success).toBe(false);
    expect(bad.issues?.map((i) => i.message)).toEqual(['expected one of json, common, got "xml"', "expected a rate from 0 to 1"]);
  });

  test("JSON line: every field, fixed order, nulls for unknowns", () => {
    expect(formatJson(entry())).toBe(
      '{"time":"2000-10-10T13:55:36.123Z","requestId":"req-1","client":"203.0.113.7","method":"GET","path":"/a/b?x=1","rule":"default","group":"app","target":"http://10.0.0.1:9001","status":200,"upstreamMs":12.346,"totalMs":13.5,"bytesIn":0,"bytesOut":2326,"retries":0}',
    );
    const line = formatJson(entry({ client: undefined, target: undefined, upstreamMs: undefined, path: '/x"\n{"forged":1}', status: 503 }));
    expect(line.includes("\n")).toBe(false);
    const parsed = JSON.parse(line);
    expect([parsed.client, parsed.target, parsed.upstreamMs, parsed.path]).toEqual([null, null, null, '/x"\n{"forged":1}']);
  });

  test("common log format, as Apache's example line", () => {
    expect(formatCommon(entry())).toBe('203.0.113.7 - - [10/Oct/2000:13:55:36 +0000] "GET /a/b?x=1 HTTP/1.1" 200 2326');
    expect(formatCommon(entry({ client: undefined, bytesOut: 0, status: 204, protocol: "HTTP/2" }))).toBe(
      '- - - [10/Oct/2000:13:55:36 +0000] "GET /a/b?x=1 HTTP/2" 204 -',
    );
    expect(clfTime(Date.UTC(2024, 0, 5, 3, 4, 5))).toBe("[05/Jan/2024:03:04:05 +0000]");
  });

  test("common format escapes quotes, backslashes, control and non-ASCII bytes", () => {
    expect(clfEscape('/a"b\\c\nd é')).toBe("/a\\x22b\\x5Cc\\x0Ad \\xC3\\xA9");
    expect(formatCommon(entry({ path: '/"\n' })).split("\n")).toHaveLength(1);
  });

  test("off, all, or sampled with the injected random", () => {
    const lines: string[] = [];
    const write = (l: string) => lines.push(l);
    expect(createAccessLog({ enabled: false, format: "json", sampleRate: 1 }, { write, random: () => 0 })).toBeUndefined();
    expect(createAccessLog({ enabled: true, format: "json", sampleRate: 0 }, { write, random: () => 0 })).toBeUndefined();
    createAccessLog({ enabled: true, format: "common", sampleRate: 1 }, { write, random: () => 0.999 })!(entry());
    expect(lines).toHaveLength(1);
    expect(lines[0]).toStartWith("203.0.113.7 - - ");
    lines.length = 0;
    const draws = [0.1, 0.25, 0.3, 0.9, 0.24999];
    const log = createAccessLog({ enabled: true, format: "json", sampleRate: 0.25 }, { write, random: () => draws.shift()! })!;
    for (let i = 0; i < 5; i++) log(entry({ requestId: `r${i}` }));
    expect(lines.map((l) => JSON.parse(l).requestId)).toEqual(["r0", "r4"]);
  });
});
