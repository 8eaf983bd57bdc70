import { describe, expect, test } from "bun:test";
import { createProber, MAX_PROBE_BODY_BYTES, type ProberOptions, probeUrl } from "../../../src/health/prober.ts";
import { type HealthSettingsInput, parseHealthSettings } from "../../../src/health/schema.ts";
import { FakeTimers } from "./fake-timers.ts";
import { S, table } from "./helpers.ts";

type Check = NonNullable<HealthSettingsInput["healthCheck"]>;

function setup(check: Check, fetch: ProberOptions["fetch"], n = 1, random = () => 0) {
  const clock = new FakeTimers();
  const results: Array<{ i: number; ok: boolean; detail: string; at: number }> = [];
  const config = parseHealthSettings({ healthCheck: check }).healthCheck!;
  const prober = createProber({
    targets: Array.from({ length: n }, (_, i) => ({ url: `http://10.0.0.${i + 1}:8080` })),
    config,
    fetch,
    timers: clock.timers,
    now: () => clock.now,
    random,
    onResult: (i, ok, detail) => results.push({ i, ok, detail, at: clock.now }),
  });
  return { clock, results, prober };
}

const fast = { interval: 1, timeout: 0.5, jitter: 0 } satisfies Check;

describe("prober", () => {
  test("probe URL: target origin, port override, configured path and query", () => {
    expect(probeUrl("http://10.0.0.1:8080", { path: "/health?deep=1", port: undefined })).toBe("http://10.0.0.1:8080/health?deep=1");
    expect(probeUrl("https://app.internal", { path: "/", port: 9000 })).toBe("https://app.internal:9000/");
    expect(probeUrl("http://[::1]:8080", { path: "/h", port: 81 })).toBe("http://[::1]:81/h");
  });

  test("sends the configured method and headers, probes at once and every interval", async () => {
    const seen: Request[] = [];
    const { clock, results, prober } = setup({ ...fast, method: "HEAD", path: "/health", headers: { "x-probe": "1" } }, async (req) => {
      seen.push(req);
      return new Response(null, { status: 200 });
    });
    prober.start();
    await clock.advance(3000);
    prober.stop();
    expect(results.map((r) => [r.at, r.ok, r.detail])).toEqual([
      [0, true, "200"],
      [1000, true, "200"],
      [2000, true, "200"],
      [3000, true, "200"],
    ]);
    expect(seen[0]!.method).toBe("HEAD");
    expect(seen[0]!.url).toBe("http://10.0.0.1:8080/health");
    expect(seen[0]!.headers.get("x-probe")).toBe("1");
    expect(seen[0]!.headers.get("user-agent")).toBe("fulcrum-health-check");
    expect(seen[0]!.redirect).toBe("manual");
  });

  test("a 503 with the app's JSON health body is a failed probe, and takes the target down", async () => {
    const body = JSON.stringify({ status: "shutting down", checks: { db: "ok" } });
    const { clock, results, prober } = setup(
      { ...fast, unhealthyThreshold: 2 },
      async () => new Response(body, { status: 503, headers: { "content-type": "application/json" } }),
    );
    const { t } = table(2, { healthCheck: { ...fast, unhealthyThreshold: 2 } });
    const probeInto = () => results.splice(0).forEach((r) => t.recordProbe(r.i, r.ok, r.detail, r.at));
    await prober.probeAllOnce();
    expect(results[0]).toMatchObject({ ok: false, detail: `503 (expected 200): ${body}` });
    probeInto();
    expect(t.available(0, 0)).toBe(false); // the first answer decides
    expect(t.status(0, 0).lastProbe?.detail).toContain("shutting down");
    prober.stop();
    void clock;
  });

  test("status ranges: 200-399,418 accepts a redirect and a teapot", async () => {
    let status = 302;
    const { results, prober } = setup({ ...fast, matcher: { statuses: "200-399,418" } }, async () => new Response(null, { status }));
    await prober.probeAllOnce();
    status = 418;
    await prober.probeAllOnce();
    status = 404;
    await prober.probeAllOnce();
    expect(results.map((r) => r.ok)).toEqual([true, true, false]);
    expect(results[2]!.detail).toBe("404 (expected 200-399,418)");
  });

  test("body matcher: passes only when the substring is in the body", async () => {
    let body = '{"status":"ok"}';
    const { results, prober } = setup({ ...fast, matcher: { body: '"status":"ok"' } }, async () => new Response(body));
    await prober.probeAllOnce();
    body = '{"status":"degraded"}';
    await prober.probeAllOnce();
    expect(results.map((r) => [r.ok, r.detail])).toEqual([
      [true, "200"],
      [false, '200, body does not contain "\\"status\\":\\"ok\\""'],
    ]);
  });

  test("body matcher reads at most 64 KiB of an endless body, then cancels it", async () => {
    let pulled = 0;
    let cancelled = false;
    const chunk = new Uint8Array(4096).fill(0x61);
    const { results, prober } = setup({ ...fast, matcher: { body: "needle" } }, async () =>
      new Response(
        new ReadableStream<Uint8Array>({
          pull(c) {
            pulled += chunk.byteLength;
            c.enqueue(chunk);
          },
          cancel() {
            cancelled = true;
          },
        }),
      ));
    await prober.probeAllOnce();
    expect(results[0]!.ok).toBe(false);
    expect(cancelled).toBe(true);
    expect(pulled).toBeLessThanOrEqual(MAX_PROBE_BODY_BYTES + 4 * chunk.byteLength);
  });

  test("a fetch that hangs and ignores the abort: never a second probe in flight, each round fails", async () => {
    let calls = 0;
    const { clock, results, prober } = setup(fast, () => {
      calls++;
      return new Promise<Response>(() => {});
    });
    prober.start();
    await clock.advance(10_000);
    prober.stop();
    expect(calls).toBe(1);
    expect(results.length).toBe(11); // rounds at 0, 1, ..., 10 s
    expect(results[0]).toMatchObject({ at: 500, ok: false, detail: "timeout after 0.5 s" });
    expect(results.slice(1).every((r) => !r.ok && r.detail === "previous probe still in flight")).toBe(true);
  });

  test("a fetch that hangs but honours the abort: one probe at a time, a new one each interval", async () => {
    let inflight = 0;
    let maxInflight = 0;
    let calls = 0;
    const { clock, results, prober } = setup(fast, (_req, signal) => {
      calls++;
      inflight++;
      maxInflight = Math.max(maxInflight, inflight);
      return new Promise<Response>((_, reject) =>
        signal.addEventListener("abort", () => {
          inflight--;
          reject(signal.reason);
        })
      );
    });
    prober.start();
    // probeAllOnce while scheduled probes run: still one per target.
    await Promise.all([clock.advance(5_200), prober.probeAllOnce()]);
    prober.stop();
    expect(maxInflight).toBe(1);
    expect(calls).toBe(6); // t = 0, 1, 2, 3, 4, 5 s
    expect(results.every((r) => !r.ok)).toBe(true);
  });

  test("jitter lengthens each wait by interval x jitter x random", async () => {
    const { clock, results, prober } = setup({ interval: 10, timeout: 1, jitter: 0.2 }, async () => new Response(null), 1, () => 0.5);
    prober.start();
    await clock.advance(35_000);
    prober.stop();
    expect(results.map((r) => r.at)).toEqual([0, 11_000, 22_000, 33_000]);
  });

  test("stop() clears timers and silences probes in flight", async () => {
    let resolve: (r: Response) => void = () => {};
    const { clock, results, prober } = setup(fast, () => new Promise<Response>((r) => (resolve = r)), 2);
    prober.start();
    await clock.flush();
    prober.stop();
    resolve(new Response(null));
    await clock.advance(5_000);
    expect(results).toEqual([]);
    expect(clock.pending).toBe(0);
  });

  test("enabled: false never probes", async () => {
    let calls = 0;
    const { clock, prober } = setup({ ...fast, enabled: false }, async () => {
      calls++;
      return new Response(null);
    });
    prober.start();
    await prober.probeAllOnce();
    await clock.advance(5_000);
    expect(calls).toBe(0);
  });

  test("a thrown fetch error is a failed probe with its message", async () => {
    const { results, prober } = setup(fast, async () => {
      throw new TypeError("connection refused");
    });
    await prober.probeAllOnce();
    expect(results[0]).toMatchObject({ ok: false, detail: "error: connection refused" });
  });

  test("end to end with the table: unhealthyThreshold failures down, healthyThreshold passes up", async () => {
    let healthy = true;
    const check = { ...fast, healthyThreshold: 3, unhealthyThreshold: 2 };
    const { t, events } = table(2, { healthCheck: check });
    const { clock, prober } = (() => {
      const clock = new FakeTimers();
      const prober = createProber({
        targets: [{ url: "http://a:1" }, { url: "http://b:1" }],
        config: parseHealthSettings({ healthCheck: check }).healthCheck!,
        fetch: async () => new Response(null, { status: healthy ? 200 : 503 }),
        timers: clock.timers,
        now: () => clock.now,
        random: () => 0,
        onResult: (i, ok, detail) => t.recordProbe(i, ok, detail, clock.now),
      });
      return { clock, prober };
    })();
    prober.start();
    await clock.advance(2_000);
    healthy = false;
    await clock.advance(1_000); // one failure: still up
    expect(t.available(0, clock.now)).toBe(true);
    await clock.advance(1_000); // two: down
    expect(t.available(0, clock.now)).toBe(false);
    healthy = true;
    await clock.advance(2_000);
    expect(t.available(0, clock.now)).toBe(false);
    await clock.advance(1_000);
    expect(t.available(0, clock.now)).toBe(true);
    prober.stop();
    expect(events.filter((e) => e.index === 0).map((e) => e.to)).toEqual(["unhealthy", "healthy"]);
    void S;
  });
});
