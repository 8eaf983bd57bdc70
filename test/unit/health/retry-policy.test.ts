import { describe, expect, test } from "bun:test";
import { canRetry, isIdempotent, type RetryQuestion } from "../../../src/health/retry-policy.ts";
import { parseHealthSettings } from "../../../src/health/schema.ts";

const config = parseHealthSettings().retries;

function ask(over: Partial<RetryQuestion>): boolean {
  return canRetry({ method: "GET", headers: new Headers(), failure: "connect", bodyReplayable: true, attempt: 1, elapsedMs: 0, config, ...over });
}

describe("retry policy", () => {
  test("defaults: 3 tries, no time budget, no retry budget, 502/503/504, 64 KiB replay buffer", () => {
    expect(config).toEqual({ tries: 3, budget: 0, retryOn: [502, 503, 504], budgetPercent: 0, minRetryConcurrency: 3, maxReplayBodyBytes: 65536 });
  });

  // [method, failure, status, replayable, expected]
  const table: Array<[string, RetryQuestion["failure"], number | undefined, boolean, boolean]> = [
    ["GET", "connect", undefined, true, true],
    ["POST", "connect", undefined, true, true], // nothing was sent
    ["POST", "connect", undefined, false, false], // a streamed body was consumed
    ["GET", "timeout", undefined, true, true],
    ["POST", "timeout", undefined, true, false], // may have been processed
    ["PATCH", "reset", undefined, true, false],
    ["PUT", "reset", undefined, true, true],
    ["DELETE", "timeout", undefined, true, true],
    ["OPTIONS", "status", 503, true, true],
    ["TRACE", "status", 502, true, true],
    ["HEAD", "status", 504, true, true],
    ["GET", "status", 500, true, false], // not in retryOn
    ["GET", "status", 404, true, false],
    ["POST", "status", 503, true, false],
    ["PUT", "status", 503, false, false], // streamed body already sent
    ["get", "timeout", undefined, true, true], // method case
  ];
  for (const [method, failure, status, bodyReplayable, expected] of table) {
    test(`${method} ${failure}${status ? ` ${status}` : ""}${bodyReplayable ? "" : " (streamed body)"} -> ${expected}`, () => {
      expect(ask({ method, failure, status, bodyReplayable })).toBe(expected);
    });
  }

  test("an Idempotency-Key makes POST retryable after a timeout or a listed status", () => {
    const headers = new Headers({ "Idempotency-Key": "8e03978e-40d5-43e8-bc93-6894a57f9324" });
    expect(ask({ method: "POST", headers, failure: "timeout" })).toBe(true);
    expect(ask({ method: "POST", headers, failure: "status", status: 502 })).toBe(true);
    expect(ask({ method: "POST", headers, failure: "timeout", bodyReplayable: false })).toBe(false);
    expect(isIdempotent("POST", new Headers())).toBe(false);
  });

  test("tries counts every attempt including the first; 0 means no limit", () => {
    expect(ask({ attempt: 2 })).toBe(true);
    expect(ask({ attempt: 3 })).toBe(false);
    expect(ask({ attempt: 1, config: { ...config, tries: 1 } })).toBe(false);
    expect(ask({ attempt: 99, config: { ...config, tries: 0 } })).toBe(true);
  });

  test("the time budget stops retries", () => {
    const budgeted = { ...config, budget: 2 };
    expect(ask({ elapsedMs: 1999, config: budgeted })).toBe(true);
    expect(ask({ elapsedMs: 2000, config: budgeted })).toBe(false);
    expect(ask({ elapsedMs: 1e9 })).toBe(true); // no budget by default
  });

  test("retryOn is configurable", () => {
    expect(ask({ failure: "status", status: 429, config: { ...config, retryOn: [429] } })).toBe(true);
    expect(ask({ failure: "status", status: 503, config: { ...config, retryOn: [] } })).toBe(false);
  });
});
