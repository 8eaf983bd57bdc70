import { describe, expect, test } from "bun:test";
import { adminSpace } from "../../../src/edge/admin-space.ts";

const answer = adminSpace({
  exact: ["/__fulcrum/health", "/__fulcrum/stats", "/__fulcrum/stats/status.json", "/__fulcrum/metrics"],
  subtrees: ["/__fulcrum/stats"],
});

describe("the reserved admin space", () => {
  test.each([
    "/__fulcrum/stats/",
    "//__fulcrum/stats",
    "/__FULCRUM/stats",
    "/__fulcrum/STATS",
    "/__fulcrum/stats;x",
    "/__fulcrum;x/stats",
    "/__fulcrum%2fstats",
    "/%5F%5Ffulcrum/stats",
    "/static/../__fulcrum/stats",
    "/static/%2e%2e/__fulcrum/stats",
    "/__fulcrum\\stats",
    "/__fulcrum",
    "/__fulcrum/",
    "/__fulcrum/anything/else",
  ])("GET %p never reaches a target: 404", (path) => {
    expect(answer("GET", path)?.status).toBe(404);
  });

  test.each(["POST", "PUT", "OPTIONS", "DELETE"])("%s on an admin route's exact path: 405 with Allow", (method) => {
    const r = answer(method, "/__fulcrum/stats");
    expect(r?.status).toBe(405);
    expect(r?.headers.get("allow")).toBe("GET, HEAD");
    expect(answer(method, "/__fulcrum/health")?.status).toBe(405);
  });

  test.each(["/", "/api/x", "/__fulcrumx", "/x/__fulcrum/stats", "/%41pi", "/a//b", "/a/./b"])("%p is the application's: forwarded", (path) => {
    expect(answer("GET", path)).toBeUndefined();
  });

  test("an admin path configured outside /__fulcrum is reserved too, the stats page with its subtree", () => {
    const custom = adminSpace({ exact: ["/healthz", "/ops/stats", "/ops/stats/status.json"], subtrees: ["/ops/stats"] });
    expect(custom("POST", "/healthz")?.status).toBe(405);
    expect(custom("GET", "/HEALTHZ")?.status).toBe(404);
    expect(custom("GET", "/ops/stats/x")?.status).toBe(404);
    expect(custom("GET", "/healthz/x")).toBeUndefined(); // only the exact path is the balancer's
    expect(custom("GET", "/ops/other")).toBeUndefined();
    expect(custom("GET", "/__fulcrum/x")?.status).toBe(404);
  });
});
