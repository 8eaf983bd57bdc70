/**
 * The reports part of the StateStore contract (`report`, `reports`), written
 * against node:assert rather than a test runner so that both runners use it:
 * conformance.ts runs it under `bun test` for every store there, and
 * deno-kv.deno.ts under `deno test` for the Deno KV store (which cannot load
 * `bun:test`). `o` is a second client of the same backend (another balancer
 * instance), `elapse` lets report time pass (a fake clock, or a real wait).
 */
import assert from "node:assert/strict";
import { type JsonValue, MAX_REPORT_BYTES, StateReportTooLargeError, type StateStore, StateStoreClosedError } from "../../../src/state/store.ts";

export interface ReportCase {
  readonly name: string;
  run(s: StateStore, o: StateStore, elapse: (ms: number) => Promise<void>): Promise<void>;
}

/** Two strings compared without printing 256 KiB of each when they differ. */
function sameText(actual: JsonValue | undefined, expected: string, what: string): void {
  assert.equal(typeof actual, "string", `${what}: a string`);
  const text = actual as string;
  assert.equal(text.length, expected.length, `${what}: its length`);
  assert.ok(text === expected, `${what}: the same text`);
}

export const REPORT_CASES: readonly ReportCase[] = [
  {
    name: "reports: each instance's own, read by every client, one topic apart from another",
    async run(s, o) {
      assert.deepEqual(await s.reports("canary"), {});
      const measured = { requests: 120, errors: 3, latency: [0.5, null, "p99"], nested: { ok: true } };
      await s.report("canary", "a", measured, 10_000);
      await o.report("canary", "b", 7, 10_000);
      await o.report("ratelimit", "b", { taken: 3 }, 10_000);
      // A topic that starts like another is another topic.
      await o.report("canary:eu", "c", "elsewhere", 10_000);
      assert.deepEqual(await o.reports("canary"), { a: measured, b: 7 });
      assert.deepEqual(await s.reports("canary"), { a: measured, b: 7 });
      assert.deepEqual(await s.reports("ratelimit"), { b: { taken: 3 } });
      assert.deepEqual(await s.reports("canary:eu"), { c: "elsewhere" });
      assert.deepEqual(await s.reports("can"), {});
    },
  },
  {
    name: "reports: publishing again replaces the instance's report, from any client, and the reader gets a copy",
    async run(s, o) {
      await s.report("canary", "a", { requests: 1 }, 10_000);
      await s.report("canary", "b", 1, 10_000);
      await s.report("canary", "a", { requests: 2 }, 10_000);
      assert.deepEqual(await o.reports("canary"), { a: { requests: 2 }, b: 1 });
      await o.report("canary", "a", null, 10_000); // null is a report too
      const read = await s.reports("canary");
      assert.deepEqual(read, { a: null, b: 1 });
      read.b = 99;
      assert.deepEqual(await s.reports("canary"), { a: null, b: 1 });
    },
  },
  {
    name: "reports expire after their ttl unless published again; a longer ttl in the topic keeps the others",
    async run(s, o, elapse) {
      await s.report("canary", "a", 1, 10_000);
      await o.report("canary", "b", 2, 100);
      await s.report("canary", "c", 3, 100);
      await s.report("canary", "c", 3, 10_000); // renewed before it expired
      await elapse(100);
      assert.deepEqual(await s.reports("canary"), { a: 1, c: 3 });
      assert.deepEqual(await o.reports("canary"), { a: 1, c: 3 }); // read again after the expired one was dropped
      await o.report("canary", "b", 4, 10_000); // back once it publishes again
      assert.deepEqual(await s.reports("canary"), { a: 1, b: 4, c: 3 });
    },
  },
  {
    name: "reports: one up to MAX_REPORT_BYTES of JSON (UTF-8) round-trips; one over it is refused and changes nothing",
    async run(s, o) {
      // JSON of a string is the string and two quotes.
      const largest = "x".repeat(MAX_REPORT_BYTES - 2);
      await s.report("ratelimit", "a", largest, 10_000);
      sameText((await o.reports("ratelimit")).a, largest, "the largest ASCII report");
      await assert.rejects(s.report("ratelimit", "a", `${largest}x`, 10_000), StateReportTooLargeError);
      // Three bytes per "€" in UTF-8: few characters, too many bytes.
      const euros = Math.floor((MAX_REPORT_BYTES - 2) / 3);
      await assert.rejects(o.report("ratelimit", "b", "€".repeat(euros + 1), 10_000), /over the 262144 a report may take/);
      sameText((await s.reports("ratelimit")).a, largest, "the report before the refused one");
      assert.equal((await s.reports("ratelimit")).b, undefined);
      const wide = "€".repeat(Math.floor((MAX_REPORT_BYTES - JSON.stringify({ wide: "", n: 1 }).length) / 3));
      await o.report("ratelimit", "b", { wide, n: 1 }, 10_000);
      const read = await s.reports("ratelimit");
      sameText((read.b as { wide: JsonValue }).wide, wide, "the largest non-ASCII report");
      assert.equal((read.b as { n: JsonValue }).n, 1);
      // A large report replaced by a small one, and the other way round.
      await s.report("ratelimit", "a", { small: true }, 10_000);
      await o.report("ratelimit", "b", "tiny", 10_000);
      assert.deepEqual(await o.reports("ratelimit"), { a: { small: true }, b: "tiny" });
      await s.report("ratelimit", "a", largest, 10_000);
      sameText((await o.reports("ratelimit")).a, largest, "a small report replaced by the largest");
    },
  },
  {
    name: "reports: no topic or instance, or a ttl that is not a positive number, is refused",
    async run(s) {
      await assert.rejects(s.report("", "a", 1, 1000), RangeError);
      await assert.rejects(s.report("canary", "", 1, 1000), RangeError);
      await assert.rejects(s.report("canary", "a", 1, 0), RangeError);
      await assert.rejects(s.report("canary", "a", 1, Number.NaN), RangeError);
      assert.deepEqual(await s.reports("canary"), {});
    },
  },
  {
    name: "reports: a closed store refuses to publish or read them; the other client carries on",
    async run(s, o) {
      await o.report("canary", "b", 1, 10_000);
      await s.close();
      await assert.rejects(s.report("canary", "a", 1, 1000), StateStoreClosedError);
      await assert.rejects(s.reports("canary"), StateStoreClosedError);
      if (o !== s) assert.deepEqual(await o.reports("canary"), { b: 1 });
    },
  },
];
