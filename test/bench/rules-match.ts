/**
 * ns per `router.match` at 10, 100 and 1,000 rules.
 *
 * Rule mix (scaled with the count): 60 % host + path rules over 20 hosts
 * (`svcN.example.com`, `/api/vK/resI/*`), 15 % wildcard-host rules
 * (`*.tenantN.example.net` + a path), 15 % exact header rules (`x-tenant:
 * tN`), 7 % method + wildcard path rules (`/uploads/N/*.bin`), and a fixed 3
 * unindexed rules (a sourceIp, a query string, a suffix-only path `*.php`).
 * Requests: one hitting the first rule (early), one hitting the last rule
 * (late), one matching nothing (default), each with realistic headers, plus a
 * rotating mix of all rules. Every case runs once untimed first (JIT warm-up),
 * then each measurement is 7 timed runs of ~40 ms; the median is reported.
 * Compilation time is reported separately. Run one size per process
 * (`SIZES=100 bun test/bench/rules-match.ts`) for the cleanest numbers:
 * routers of other sizes in the same process pollute the JIT's type feedback.
 *
 * `bun test/bench/rules-match.ts` prints a markdown table. Not asserted.
 */
import * as v from "valibot";
import { compileRules, type Router, type RuleRequest } from "../../src/rules/compile.ts";
import { ActionSchema, type RuleConfig, RuleSchema } from "../../src/rules/schema.ts";
import { medianNsPerIteration, nowNs } from "./calibrate.ts";

const SIZES = process.env.SIZES ? process.env.SIZES.split(",").map(Number) : [10, 100, 1000];
const RUNS = 7;
const RUN_NS = 40e6;

interface Built {
  rules: RuleConfig[];
  /** A request that matches each rule (by index in `rules`). */
  hits: RuleRequest[];
}

const baseHeaders = (extra: Record<string, string> = {}) =>
  new Headers({ "user-agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/130.0", accept: "*/*", "accept-encoding": "gzip, br", cookie: "sid=abc123", ...extra });

function build(n: number): Built {
  const specs: unknown[] = [];
  const hits: RuleRequest[] = [];
  // One object shape for every request, as the proxy route builds them.
  const req = (o: Partial<RuleRequest>): RuleRequest => ({
    method: o.method ?? "GET",
    host: o.host ?? "www.example.org",
    path: o.path ?? "/",
    query: o.query ?? "",
    headers: o.headers ?? baseHeaders(),
    clientIp: o.clientIp ?? "198.51.100.7",
  });
  const fixed = 3;
  for (let i = 0; i < n - fixed; i++) {
    const kind = i % 20;
    const action = { forward: `g${i % 4}` };
    const priority = i + 1;
    if (kind < 12) {
      const host = `svc${i % 20}.example.com`;
      specs.push({ priority, conditions: [{ hostHeader: { values: [host] } }, { pathPattern: { values: [`/api/v${i % 3}/res${i}/*`] } }], action });
      hits.push(req({ host: `${host}:443`, path: `/api/v${i % 3}/res${i}/items/42` }));
    } else if (kind < 15) {
      specs.push({ priority, conditions: [{ hostHeader: { values: [`*.tenant${i}.example.net`] } }, { pathPattern: { values: ["/app/*"] } }], action });
      hits.push(req({ host: `eu.tenant${i}.example.net`, path: "/app/dashboard" }));
    } else if (kind < 18) {
      specs.push({ priority, conditions: [{ httpHeader: { name: "X-Tenant", values: [`t${i}`] } }], action });
      hits.push(req({ headers: baseHeaders({ "x-tenant": `t${i}` }) }));
    } else {
      specs.push({ priority, conditions: [{ httpRequestMethod: { values: ["PUT", "POST"] } }, { pathPattern: { values: [`/uploads/${i}/*.bin`] } }], action });
      hits.push(req({ method: "PUT", path: `/uploads/${i}/blob.bin` }));
    }
  }
  specs.push({ priority: n - 2, conditions: [{ sourceIp: { values: ["10.0.0.0/8", "2001:db8::/32"] } }], action: { fixedResponse: { statusCode: 403 } } });
  hits.push(req({ clientIp: "10.1.2.3" }));
  specs.push({ priority: n - 1, conditions: [{ queryString: { values: [{ key: "debug", value: "true" }] } }], action: { forward: "debug" } });
  hits.push(req({ path: "/x", query: "a=1&debug=TRUE" }));
  specs.push({ priority: n, conditions: [{ pathPattern: { values: ["*.php"] } }], action: { fixedResponse: { statusCode: 404 } } });
  hits.push(req({ path: "/wp-login.php" }));
  return { rules: specs.map((s) => v.parse(RuleSchema, s)), hits };
}

function measure(router: Router, requests: RuleRequest[]): number {
  const mask = requests.length - 1; // a power of two
  let sink = 0;
  const loop = (iters: number): number => {
    const t0 = nowNs();
    for (let k = 0; k < iters; k++) sink += router.match(requests[k & mask]!).rule ?? 0;
    return nowNs() - t0;
  };
  const ns = medianNsPerIteration(loop, RUNS, RUN_NS);
  if (sink === -1) console.log(sink); // keep the results alive
  return ns;
}

/** Repeat `items` up to a power-of-two length so the loop can mask the index. */
function cycle<T>(items: T[], length = 1024): T[] {
  return Array.from({ length }, (_, i) => items[i % items.length]!);
}

const defaultAction = v.parse(ActionSchema, { forward: "default" });
const rows: string[] = [];
for (const n of SIZES) {
  const { rules, hits } = build(n);
  const t0 = nowNs();
  const router = compileRules(rules, defaultAction);
  const compileMs = (nowNs() - t0) / 1e6;
  const early = hits[0]!;
  const late = hits[n - 4]!; // the last indexed rule (the 3 unindexed ones come after it)
  const miss: RuleRequest = {
    method: "GET",
    host: "svc3.example.com",
    path: "/static/css/site.css",
    query: "v=12",
    headers: baseHeaders(),
    clientIp: "198.51.100.7",
  };
  // Sanity: the requests do what their labels say.
  if (router.match(early).rule !== 1 || router.match(late).rule !== rules[n - 4]!.priority || router.match(miss).rule !== undefined) {
    throw new Error("bench requests do not match as intended");
  }
  const fresh = (r: RuleRequest) => cycle([r]);
  // Warm the JIT on every path first, so the first column does not pay for tiering.
  for (const r of [early, late, miss]) measure(router, fresh(r));
  measure(router, cycle(hits));
  const results = [measure(router, fresh(early)), measure(router, fresh(late)), measure(router, fresh(miss)), measure(router, cycle(hits))];
  rows.push(`| ${n} | ${results.map((x) => x.toFixed(0)).join(" | ")} | ${compileMs.toFixed(2)} |`);
}

console.log("| rules | early hit (ns) | late hit (ns) | default (ns) | mix of all rules (ns) | compile (ms) |");
console.log("|---|---|---|---|---|---|");
for (const r of rows) console.log(r);
