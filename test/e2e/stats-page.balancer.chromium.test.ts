/**
 * The stats page of the real balancer (`fulcrum serve` on Bun) in Debian's
 * headless Chromium: it renders the targets of the config, follows a target
 * going down within a refresh, and refuses a browser without credentials.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { type Browser, chromium } from "playwright-core";
import { type Balancer, startBalancer } from "./launch.ts";
import { observabilityConfig, STATS_CREDS } from "./observability.scenarios.ts";
import { startUpstream, type Upstream } from "./upstream.ts";

const CHROMIUM = "/usr/bin/chromium";
const ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

describe("stats page of the running balancer, in Chromium", () => {
  let ups: Upstream[] = [];
  let b: Balancer;
  let browser: Browser;
  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} missing: apt-get install -y chromium`);
    ups = await Promise.all(["a", "b", "c"].map((n) => startUpstream(n)));
    b = await startBalancer("bun", observabilityConfig(ups));
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS });
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
    await b?.stop();
    await Promise.all(ups.map((u) => u.close()));
  });

  test("without credentials the browser gets 401 and no targets", async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    // Headless Chromium cannot prompt for the Basic challenge: it reports the 401 as a failed navigation.
    const outcome = await page.goto(`${b.url}/__fulcrum/stats`).then((r) => String(r?.status()), (e: Error) => e.message);
    expect(outcome).toMatch(/^401$|ERR_INVALID_AUTH_CREDENTIALS/);
    expect(await page.locator("[data-target]").count()).toBe(0);
    await context.close();
  });

  test("renders every target and shows one going down within a refresh", async () => {
    const context = await browser.newContext({ httpCredentials: STATS_CREDS, viewport: { width: 1360, height: 700 } });
    const page = await context.newPage();
    const errors: string[] = [];
    page.on("pageerror", (e) => errors.push(e.message));
    for (let i = 0; i < 20; i++) await (await fetch(`${b.url}/traffic/${i}`)).arrayBuffer();
    const res = await page.goto(`${b.url}/__fulcrum/stats`);
    expect(res?.status()).toBe(200);
    for (const u of ups) expect(await page.locator(`tr[data-target="${u.url}"]`).getAttribute("data-state")).toBe("healthy");
    ups[2]!.healthy = false;
    // Probes every 1 s, down after 2 failures; the page polls every 0.5 s.
    await page.waitForSelector(`tr[data-target="${ups[2]!.url}"][data-state="unhealthy"]`, { timeout: 8000 });
    await page.screenshot({ path: "/tmp/fulcrum-stats.png", fullPage: true });
    expect(errors).toEqual([]);
    ups[2]!.healthy = true;
    await context.close();
  }, 20_000);
});
