/**
 * The stats page in a real browser: Debian's headless Chromium driven by
 * playwright-core, against the stats routes served by Bun.serve with a real
 * registry fed with recorded requests and a health provider the test flips.
 * Leaves a screenshot at /tmp/stats.png for a person to look at.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { Browser, Page } from "playwright-core";
import { launchChromium } from "./chromium.ts";
import * as v from "valibot";
import { statsRoutes } from "../../routes/stats.ts";
import type { GroupReport, ReportedState } from "../../src/metrics/health-provider.ts";
import { createMetrics, type Metrics } from "../../src/metrics/registry.ts";
import { StatsSchema } from "../../src/stats/schema.ts";

const REFRESH = 0.5;
const CREDS = { username: "ops", password: "s3cret" };

const A = "http://10.0.0.1:9001";
const B = "http://10.0.0.2:9002";
const C = "http://10.0.0.3:9003";

let server: ReturnType<typeof Bun.serve>;
let browser: Browser;
let base: string;
let metrics: Metrics;
let feeder: ReturnType<typeof setInterval>;
const states: Record<string, ReportedState> = { [A]: "healthy", [B]: "healthy", [C]: "backup" };

const health = (): GroupReport[] => [
  {
    group: "app",
    targets: [A, B, C].map((url, i) => ({
      url,
      state: states[url]!,
      weight: [1, 3, 1][i]!,
      inflight: i,
      lastCheck: { ok: states[url] !== "unhealthy", at: Date.now() - 1500, detail: states[url] === "unhealthy" ? "connect refused" : "200 in 2 ms" },
    })),
  },
  { group: "api", targets: [{ url: "http://10.0.1.1:8080", state: "draining", weight: 1, inflight: 4 }] },
];

/** Records one request the way the proxy path will: start, then finish with an outcome. */
function record(i: number): void {
  const rule = metrics.rule(i % 5 === 0 ? "10" : "default");
  const group = metrics.group(i % 7 === 0 ? "api" : "app");
  const url = group.name === "api" ? "http://10.0.1.1:8080" : [A, B, B, B][i % 4]!;
  const target = metrics.target(group.name, url);
  const tok = metrics.requestStarted({ rule, group });
  const upstreamMs = 2 + (i % 50) + (i % 97 === 0 ? 250 : 0);
  metrics.requestFinished(tok, {
    status: i % 23 === 0 ? 502 : 200,
    totalMs: upstreamMs + 0.4,
    upstreamMs,
    bytesIn: 0,
    bytesOut: 512,
    retries: i % 23 === 0 ? 1 : 0,
    target,
  });
}

beforeAll(async () => {
  metrics = createMetrics({ now: () => performance.now(), balancer: "edge-1" });
  for (const [g, urls] of [["app", [A, B, C]], ["api", ["http://10.0.1.1:8080"]]] as const) for (const u of urls) metrics.target(g, u);
  for (let i = 1; i <= 400; i++) record(i);
  let n = 400;
  // Real traffic keeps arriving while the page polls, so the rate charts have something to draw.
  feeder = setInterval(() => {
    for (let k = 0; k < 20; k++) record(++n);
  }, 100);
  const app = statsRoutes({
    metrics,
    health,
    config: { stats: v.parse(StatsSchema, { auth: { basic: CREDS }, refresh: REFRESH }) },
    env: {},
  });
  server = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: app.fetch });
  base = `http://127.0.0.1:${server.port}`;
  browser = await launchChromium();
});

afterAll(async () => {
  clearInterval(feeder);
  await browser?.close();
  server?.stop(true);
});

const renders = async (page: Page) => Number(await page.getAttribute("#updated", "data-renders"));

describe("stats page in Chromium", () => {
  test("without credentials, or with wrong ones: 401 and a Basic challenge", async () => {
    // Chromium answers the challenge itself (failing the navigation with
    // ERR_INVALID_AUTH_CREDENTIALS when it has nothing to offer), so the 401
    // is read from the response event.
    for (const httpCredentials of [undefined, { username: "ops", password: "guess" }]) {
      const context = await browser.newContext(httpCredentials ? { httpCredentials } : {});
      const page = await context.newPage();
      const seen: { status: number; challenge: string | undefined }[] = [];
      page.on("response", (r) => seen.push({ status: r.status(), challenge: r.headers()["www-authenticate"] }));
      const navigation = await page.goto(`${base}/__fulcrum/stats`).then((r) => r?.status(), (e: Error) => e.message);
      expect(String(navigation)).toMatch(/401|ERR_INVALID_AUTH_CREDENTIALS/);
      expect(seen.length).toBeGreaterThanOrEqual(1);
      for (const r of seen) expect(r).toEqual({ status: 401, challenge: 'Basic realm="fulcrum stats", charset="UTF-8"' });
      expect(await page.locator("[data-target]").count()).toBe(0);
      await context.close();
    }
    expect((await fetch(`${base}/__fulcrum/stats/status.json`)).status).toBe(401);
    expect((await fetch(`${base}/__fulcrum/stats`, { headers: { authorization: `Basic ${btoa("ops:guess")}` } })).status).toBe(401);
  });

  test("renders every group and target, follows a target going down, draws charts", async () => {
    const context = await browser.newContext({ httpCredentials: CREDS, viewport: { width: 1360, height: 640 } });
    const page = await context.newPage();
    const errors: string[] = [];
    page.on("pageerror", (e) => errors.push(e.message));
    const external: string[] = [];
    page.on("request", (r) => {
      if (!r.url().startsWith(base)) external.push(r.url());
    });
    const res = await page.goto(`${base}/__fulcrum/stats`);
    expect(res?.status()).toBe(200);

    // Rendered from the embedded snapshot, before any poll.
    expect(await page.locator("section[data-group]").evaluateAll((els) => els.map((e) => e.getAttribute("data-group")))).toEqual(["app", "api"]);
    expect(await page.locator(`tr[data-target="${A}"]`).getAttribute("data-state")).toBe("healthy");
    expect(await page.locator(`tr[data-target="${C}"]`).getAttribute("data-state")).toBe("backup");
    expect(await page.locator(`tr[data-target="http://10.0.1.1:8080"]`).getAttribute("data-state")).toBe("draining");
    expect(await page.locator(`section[data-group="app"] [data-kpi="healthy"]`).textContent()).toBe("3 / 3");

    // Charts fill in as polls arrive (a rate needs two readings).
    await page.waitForFunction(() => Number(document.getElementById("updated")!.dataset.renders) >= 4);
    expect(await page.locator(`section[data-group="app"] .ghead svg[data-chart="rate"] polyline`).count()).toBe(1);
    expect(await page.locator(`section[data-group="app"] .ghead svg[data-chart="latency"] polyline`).count()).toBe(2);
    expect(await page.locator(`tr[data-target="${B}"] svg[data-chart="rate"] polyline`).count()).toBe(1);
    const points = await page.locator(`section[data-group="app"] .ghead svg[data-chart="rate"] polyline`).getAttribute("points");
    expect(points!.split(" ").length).toBeGreaterThanOrEqual(2);

    // B goes down: the poll in flight may predate the change, the next one cannot.
    const before = await renders(page);
    states[B] = "unhealthy";
    await page.waitForFunction((n) => Number(document.getElementById("updated")!.dataset.renders) >= n + 2, before);
    expect(await page.locator(`tr[data-target="${B}"]`).getAttribute("data-state")).toBe("unhealthy");
    expect(await page.locator(`section[data-group="app"] [data-kpi="healthy"]`).textContent()).toBe("2 / 3");
    expect(await page.locator(`tr[data-target="${B}"] .check-fail`).textContent()).toContain("connect refused");

    // Numbers on the page come from the registry: B has taken requests and shows a p99.
    const cells = await page.locator(`tr[data-target="${B}"] td`).allTextContents();
    expect(Number(cells[4]!.replace("k", "e3"))).toBeGreaterThan(0);
    expect(cells[9]).toMatch(/ms$/);

    // The browser's own fetch, credentials omitted, is refused too.
    expect(await page.evaluate(() => fetch("/__fulcrum/stats/status.json", { credentials: "omit" }).then((r) => r.status))).toBe(401);

    await page.screenshot({ path: "/tmp/stats.png", fullPage: true });
    expect(errors).toEqual([]);
    expect(external).toEqual([]);
    states[B] = "healthy";
    await context.close();
  });
});
