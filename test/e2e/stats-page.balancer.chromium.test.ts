/**
 * The stats page of the real balancer (`fulcrum serve` on Bun) in Debian's
 * headless Chromium: it renders the targets of the config, follows a target
 * going down within a refresh, and refuses a browser without credentials.
 * On the admin listener, with the admin API's credentials, it offers HAProxy's
 * `stats admin` actions: drain, ready and weight per target, which act.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { Browser } from "playwright-core";
import { launchChromium } from "./chromium.ts";
import { type Balancer, startBalancer } from "./launch.ts";
import { observabilityConfig, STATS_CREDS } from "./observability.scenarios.ts";
import { startUpstream, type Upstream } from "./upstream.ts";

describe("stats page of the running balancer, in Chromium", () => {
  let ups: Upstream[] = [];
  let b: Balancer;
  let browser: Browser;
  beforeAll(async () => {
    ups = await Promise.all(["a", "b", "c"].map((n) => startUpstream(n)));
    b = await startBalancer("bun", observabilityConfig(ups));
    browser = await launchChromium();
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
    // One in four is a 404: the page shows 4xx beside 5xx, and p95 beside p50 and p99, from its first render.
    for (let i = 0; i < 12; i++) await (await fetch(`${b.url}/status/404`)).arrayBuffer();
    const res = await page.goto(`${b.url}/__fulcrum/stats`);
    expect(res?.status()).toBe(200);
    const cells = await page.locator("td[data-col='4xx']").allInnerTexts();
    expect(cells.some((c) => /^\d+(\.\d+)?%$/.test(c) && parseFloat(c) > 0)).toBe(true);
    expect((await page.locator("td[data-col=p95]").allInnerTexts()).some((c) => /ms/.test(c))).toBe(true);
    for (const u of ups) expect(await page.locator(`tr[data-target="${u.url}"]`).getAttribute("data-state")).toBe("healthy");
    ups[2]!.healthy = false;
    // Probes every 1 s, down after 2 failures; the page polls every 0.5 s.
    await page.waitForSelector(`tr[data-target="${ups[2]!.url}"][data-state="unhealthy"]`, { timeout: 8000 });
    await page.screenshot({ path: "/tmp/fulcrum-stats.png", fullPage: true });
    expect(errors).toEqual([]);
    ups[2]!.healthy = true;
    await context.close();
  }, 20_000);

  test("opened with the credentials in its URL, the page still refreshes (they are not in the URLs it fetches)", async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    const errors: string[] = [];
    page.on("pageerror", (e) => errors.push(e.message));
    page.on("console", (m) => m.type() === "error" && errors.push(m.text()));
    const url = new URL(`${b.url}/__fulcrum/stats`);
    url.username = STATS_CREDS.username;
    url.password = STATS_CREDS.password;
    expect((await page.goto(url.href))?.status()).toBe(200);
    // A refresh after the embedded snapshot (refresh 0.5 s), and not a failed one.
    await page.waitForFunction(() => Number((document.getElementById("updated") as HTMLElement | null)?.dataset.renders) >= 2, undefined, { timeout: 5000 });
    expect(await page.locator("#updated").innerText()).not.toContain("update failed");
    expect(errors).toEqual([]);
    await context.close();
  }, 20_000);
});

describe("stats page actions on the admin listener, in Chromium", () => {
  const ADMIN = { username: "ops", password: "correct horse battery staple" };
  let ups: Upstream[] = [];
  let b: Balancer;
  let browser: Browser;
  beforeAll(async () => {
    ups = await Promise.all(["a", "b"].map((n) => startUpstream(n)));
    b = await startBalancer("bun", {
      listen: { port: 0 },
      targetGroups: { app: { targets: ups.map((u) => ({ url: u.url, name: u.name })), deregistrationDelay: 0 }, next: { targets: [{ url: ups[1]!.url }] } },
      rules: [
        { priority: 10, conditions: [{ pathPattern: { values: ["/api/*"] } }], action: { forward: "app" } },
        {
          priority: 20,
          conditions: [{ pathPattern: { values: ["/canary/*"] } }],
          action: {
            forward: {
              targetGroups: [{ group: "app", weight: 1 }, { group: "next", weight: 0 }],
              canary: { group: "next", steps: [50, 100], interval: 3600, minRequests: 1000 },
            },
          },
        },
      ],
      defaultAction: { forward: "app" },
      admin: { api: { auth: { basic: ADMIN } } },
    });
    browser = await launchChromium();
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
    await b?.stop();
    await Promise.all(ups.map((u) => u.close()));
  });
  const status = async () => {
    const res = await fetch(`${b.adminUrl}/v1/status`, { headers: { authorization: `Basic ${btoa(`${ADMIN.username}:${ADMIN.password}`)}` } });
    return (await res.json()) as { groups: { targets: { name: string; state: string; weight: number; overridden: string[] }[] }[] };
  };
  const target = async (name: string) => (await status()).groups[0]!.targets.find((t) => t.name === name)!;

  test("drain, ready and weight from the page change the running balancer; rules, canaries and the change log are shown", async () => {
    const context = await browser.newContext({ httpCredentials: ADMIN, viewport: { width: 1360, height: 800 } });
    const page = await context.newPage();
    const errors: string[] = [];
    page.on("pageerror", (e) => errors.push(e.message));
    expect((await page.goto(`${b.adminUrl}/`))?.status()).toBe(200);
    await page.waitForSelector("#actions[data-enabled=true]", { state: "attached", timeout: 5000 });
    expect(await page.locator("[data-rule]").count()).toBe(3);
    // The canary's row: its group, weight, state and step, once the balancer has started it.
    await page.waitForSelector('tr[data-canary="20"]', { timeout: 5000 });
    expect(await page.locator('tr[data-canary="20"]').innerText()).toMatch(/20\s+next\s+50 %\s+progressing\s+50 → 100 %/);
    await page.waitForFunction(() => document.querySelector('tr[data-rule="20"]')?.textContent?.includes("app=50 next=50"), undefined, { timeout: 5000 });
    expect(await page.locator('tr[data-rule="20"]').innerText()).toContain("canary (config: forward app=1 next=0)");

    const a = ups[0]!.url;
    await page.click(`button[data-act=drain][data-url="${a}"]`);
    await page.waitForSelector(`tr[data-target="${a}"][data-state=draining]`, { timeout: 5000 });
    expect((await target("a")).state).toBe("draining");
    await page.click(`button[data-act=ready][data-url="${a}"]`);
    await page.waitForSelector(`tr[data-target="${a}"][data-state=healthy]`, { timeout: 5000 });

    await page.fill(`input[data-weight][data-url="${a}"]`, "7");
    await page.press(`input[data-weight][data-url="${a}"]`, "Enter");
    for (let i = 0; i < 50 && (await target("a")).weight !== 7; i++) await Bun.sleep(100);
    const weighted = await target("a");
    expect([weighted.weight, weighted.overridden]).toEqual([7, ["weight"]]);

    // The change log on the page names the page's user (the Basic user) as who made each change.
    // The canary started, a drain, a ready, a weight.
    await page.waitForFunction(() => document.querySelectorAll("[data-event]").length >= 4, undefined, { timeout: 5000 });
    expect(await page.locator("[data-event]").first().innerText()).toContain("weight");
    await page.screenshot({ path: "/tmp/fulcrum-stats-actions.png", fullPage: true });
    expect(errors).toEqual([]);
    await context.close();
  }, 30_000);

  test("a viewer without the admin API's credentials gets no page and no actions", async () => {
    const context = await browser.newContext({ httpCredentials: { username: ADMIN.username, password: "wrong" } });
    const page = await context.newPage();
    const outcome = await page.goto(`${b.adminUrl}/`).then((r) => String(r?.status()), (e: Error) => e.message);
    expect(outcome).toMatch(/^401$|ERR_INVALID_AUTH_CREDENTIALS/);
    expect(await page.locator("button[data-act]").count()).toBe(0);
    await context.close();
  });
});
