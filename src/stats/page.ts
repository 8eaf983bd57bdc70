/**
 * The stats page (HAProxy's `stats uri`): one self-contained HTML document,
 * inline CSS and script, no external resources, so it works offline and
 * under a strict CSP. The first snapshot is embedded so the page renders
 * before any poll; then it polls `status.json` every `refresh` seconds and
 * keeps the last points in the browser for the sparklines (request rate from
 * counter deltas, p50/p99 from the server's sliding-window quantiles).
 *
 * Where the admin API is served on the same origin (its own listener, or a
 * path on this listener) and accepts the viewer's credentials, the page also
 * offers HAProxy's `stats admin` actions: drain or return each target, set
 * its weight. Below the groups: the rules with the action each one runs, and
 * the newest entries of the change log.
 *
 * Tests find things by data attributes: `[data-group]`, `[data-target][data-state]`,
 * `svg[data-chart]`, `#updated[data-renders]` (renders so far, the embedded snapshot being the first),
 * `button[data-act=drain|ready]`, `input[data-weight]`, `#actions[data-enabled]`, `[data-rule]`, `[data-event]`.
 */
import type { StatusSnapshot } from "../metrics/snapshot.ts";
import type { ChangeEvent } from "../state/store.ts";

/** A rule as the page shows it (the admin API's RuleStatus). */
export interface PageRule {
  readonly rule: number | "default";
  readonly action: unknown;
  readonly configAction: unknown;
  readonly overridden: boolean;
  /** The weights are an automatic canary's. */
  readonly canary?: boolean;
}

/** What status.json carries: the metrics snapshot, the rules' actions and the change log's newest entries. */
export type PageData = StatusSnapshot & { readonly ruleActions: readonly PageRule[]; readonly events: readonly ChangeEvent[] };

export interface PageOptions {
  /** URL path of the JSON endpoint (`<stats path>/status.json`). */
  statusPath: string;
  /** Seconds between polls. */
  refresh: number;
  /** The admin API's base path on this origin ("" on its own listener); undefined: no actions. */
  api: string | undefined;
  initial: PageData;
}

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
/** JSON safe inside <script>: no `</script>` or `<!--` can close it. */
const scriptJson = (x: unknown) => JSON.stringify(x).replace(/</g, "\\u003c").replace(/\u2028/g, "\\u2028").replace(/\u2029/g, "\\u2029");

const CSS = `
:root{--bg:#f6f7f9;--card:#fff;--ink:#1d2430;--mute:#6b7280;--line:#e5e7eb;--ok:#15803d;--bad:#b91c1c;--warn:#b45309;--info:#1d4ed8;--grey:#6b7280;--ej:#7e22ce}
*{box-sizing:border-box}body{margin:0;font:14px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;background:var(--bg);color:var(--ink)}
header{display:flex;align-items:baseline;gap:16px;padding:14px 24px;background:#111827;color:#f9fafb}
header h1{font-size:17px;margin:0;font-weight:600}header .meta{color:#9ca3af;font-size:13px}
#updated.stale{color:#fca5a5}main{padding:16px 24px;display:grid;gap:16px}
section.group{background:var(--card);border:1px solid var(--line);border-radius:8px;overflow:hidden}
.ghead{display:flex;flex-wrap:wrap;align-items:center;gap:20px;padding:12px 16px;border-bottom:1px solid var(--line)}
.ghead h2{font-size:16px;margin:0 8px 0 0}.kpi{display:flex;flex-direction:column}.kpi b{font-size:15px;font-variant-numeric:tabular-nums}.kpi span{color:var(--mute);font-size:11px;text-transform:uppercase;letter-spacing:.04em}
.charts{display:flex;gap:16px;margin-left:auto}.chart{display:flex;flex-direction:column;font-size:11px;color:var(--mute)}
table{width:100%;border-collapse:collapse;font-variant-numeric:tabular-nums}th,td{padding:7px 12px;text-align:right;border-bottom:1px solid var(--line);white-space:nowrap}
th{font-size:11px;text-transform:uppercase;letter-spacing:.04em;color:var(--mute);font-weight:600;background:#fafafa}
td.l,th.l{text-align:left}tr:last-child td{border-bottom:0}td.url{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:13px}
.badge{display:inline-block;padding:1px 8px;border-radius:999px;font-size:12px;font-weight:600;color:#fff;background:var(--grey)}
.s-healthy{background:var(--ok)}.s-unhealthy{background:var(--bad)}.s-draining{background:var(--warn)}.s-ejected{background:var(--ej)}.s-slow_start{background:var(--info)}.s-backup,.s-unknown{background:var(--grey)}
tr[data-state=unhealthy] td,tr[data-state=ejected] td{background:#fef2f2}.err{color:var(--bad);font-weight:600}.mute{color:var(--mute)}
svg.spark{display:block;background:#f8fafc;border-bottom:1px solid var(--line)}svg.spark polyline{fill:none;stroke-width:1.5;vector-effect:non-scaling-stroke}
.rate polyline{stroke:#2563eb}.p50{stroke:#16a34a}.p99{stroke:#dc2626}
.check-ok{color:var(--ok)}.check-fail{color:var(--bad)}footer{padding:0 24px 16px;color:var(--mute);font-size:12px}
button{font:inherit;font-size:12px;padding:2px 8px;border:1px solid var(--line);border-radius:4px;background:#fff;cursor:pointer}
input[data-weight]{width:56px;font:inherit;font-size:12px;padding:1px 4px}.over{color:var(--warn);font-weight:600}
section.box{background:var(--card);border:1px solid var(--line);border-radius:8px;overflow:hidden}section.box h2{font-size:15px;margin:0;padding:10px 16px;border-bottom:1px solid var(--line)}
#notice{color:var(--bad);padding:0 24px}#groups{display:grid;gap:16px}
`;

/* The browser script. Plain ES2017 in a string (no template literals inside, so the TS template stays simple). */
const SCRIPT = `
(function () {
  var cfg = JSON.parse(document.getElementById("cfg").textContent);
  var POINTS = 60, history = {}, polls = 0;
  function esc(s) { return String(s).replace(/[&<>"']/g, function (c) { return "&#" + c.charCodeAt(0) + ";"; }); }
  function ms(x) { return x == null ? "<span class=mute>–</span>" : x < 10 ? x.toFixed(2) + " ms" : x < 1000 ? x.toFixed(1) + " ms" : (x / 1000).toFixed(2) + " s"; }
  function share4xx(x) { var r = x.responses || {}; return x.requests ? (r["4xx"] || 0) / x.requests : 0; }
  function pct(x, n) { return n === 0 ? "<span class=mute>–</span>" : (x * 100).toFixed(x < 0.01 && x > 0 ? 2 : 1) + "%"; }
  function num(x) { return x >= 1e6 ? (x / 1e6).toFixed(1) + "M" : x >= 1e4 ? (x / 1e3).toFixed(1) + "k" : String(x); }
  function ago(at, now) { var s = Math.max(0, Math.round((now - at) / 1000)); return s < 60 ? s + "s ago" : Math.round(s / 60) + "m ago"; }
  function push(key, requests, p50, p99, t) {
    var h = history[key] || (history[key] = { prev: null, rate: [], p50: [], p99: [] });
    if (h.prev && t > h.prev.t) h.rate.push(Math.max(0, (requests - h.prev.n) / ((t - h.prev.t) / 1000)));
    h.prev = { n: requests, t: t };
    h.p50.push(p50); h.p99.push(p99);
    ["rate", "p50", "p99"].forEach(function (k) { if (h[k].length > POINTS) h[k].splice(0, h[k].length - POINTS); });
    return h;
  }
  function line(values, max, w, hgt, cls) {
    // Right-aligned like a scrolling chart; until 20 points exist they spread over the width.
    var slots = Math.max(values.length, 20), pts = [], step = w / (slots - 1), off = slots - values.length;
    values.forEach(function (v, i) { if (v != null) pts.push(((off + i) * step).toFixed(1) + "," + (hgt - 1 - (max > 0 ? v / max : 0) * (hgt - 2)).toFixed(1)); });
    return pts.length ? '<polyline class="' + cls + '" points="' + pts.join(" ") + '"/>' : "";
  }
  function maxOf(arrs) { var m = 0; arrs.forEach(function (a) { a.forEach(function (v) { if (v != null && v > m) m = v; }); }); return m; }
  function spark(kind, h, w, hgt) {
    var body = kind === "rate" ? line(h.rate, maxOf([h.rate]), w, hgt, "") : line(h.p50, maxOf([h.p50, h.p99]), w, hgt, "p50") + line(h.p99, maxOf([h.p50, h.p99]), w, hgt, "p99");
    return '<svg class="spark ' + kind + '" data-chart="' + kind + '" width="' + w + '" height="' + hgt + '" viewBox="0 0 ' + w + " " + hgt + '" role="img" aria-label="' + (kind === "rate" ? "request rate" : "latency p50 and p99") + '">' + body + "</svg>";
  }
  function rateOf(h) { return h.rate.length ? h.rate[h.rate.length - 1].toFixed(1) + "/s" : "<span class=mute>–</span>"; }
  var actions = false;
  function action(g, x) {
    if (!actions) return "";
    var act = x.state === "draining" ? "ready" : "drain";
    return '<td class="l"><button data-act="' + act + '" data-group="' + esc(g) + '" data-url="' + esc(x.url) + '">' + act + "</button> " +
      '<input data-weight data-group="' + esc(g) + '" data-url="' + esc(x.url) + '" value="' + (x.weight == null ? "" : x.weight) + '" inputmode="numeric" aria-label="weight"> ' +
      '<button data-act="weight" data-group="' + esc(g) + '" data-url="' + esc(x.url) + '">set</button></td>';
  }
  function describe(a) {
    if (a && typeof a.forward === "string") return "forward " + a.forward;
    if (a && a.forward && a.forward.targetGroups) return "forward " + a.forward.targetGroups.map(function (t) { return t.group + "=" + (t.weight == null ? 1 : t.weight); }).join(" ");
    if (a && a.redirect) return "redirect " + a.redirect.statusCode;
    if (a && a.fixedResponse) return "fixed response " + a.fixedResponse.statusCode;
    return JSON.stringify(a);
  }
  function shown(x) { return x == null ? "–" : typeof x === "string" ? x : JSON.stringify(x); }
  function renderRules(s) {
    var rows = (s.ruleActions || []).map(function (r) {
      return '<tr data-rule="' + esc(r.rule) + '"><td class="l">' + esc(r.rule) + '</td><td class="l">' + esc(describe(r.action)) + "</td>" +
        '<td class="l">' + (r.overridden ? '<span class="over">overridden</span> (config: ' + esc(describe(r.configAction)) + ")" : r.canary ? '<span class="over">canary</span> (config: ' + esc(describe(r.configAction)) + ")" : '<span class="mute">config file</span>') + "</td></tr>";
    }).join("");
    document.getElementById("rules").innerHTML = '<h2>Rules</h2><table><thead><tr><th class="l">rule</th><th class="l">action</th><th class="l">source</th></tr></thead><tbody>' + rows + "</tbody></table>";
    var events = (s.events || []).slice().reverse().map(function (e) {
      return '<tr data-event="' + esc(e.kind) + '"><td class="l">' + esc(new Date(e.at).toLocaleTimeString()) + '</td><td class="l">' + esc(e.kind) + '</td><td class="l">' + esc(e.subject) + "</td>" +
        '<td class="l">' + esc(shown(e.before)) + " → " + esc(shown(e.after)) + '</td><td class="l">' + esc(e.source) + '</td><td class="l mute">' + esc(e.instance) + (e.detail ? " · " + esc(e.detail) : "") + "</td></tr>";
    }).join("");
    document.getElementById("events").innerHTML = '<h2>Changes</h2><table><thead><tr><th class="l">time</th><th class="l">change</th><th class="l">of</th><th class="l">from → to</th><th class="l">by</th><th class="l">instance</th></tr></thead><tbody>' +
      (events || '<tr><td class="l mute" colspan="6">none yet</td></tr>') + "</tbody></table>";
  }
  function renderCanaries(s) {
    var list = s.canaries || [];
    var box = document.getElementById("canaries");
    if (!list.length) { box.hidden = true; return; }
    box.hidden = false;
    function side(x) { return x.requests + " req, " + x.errorRate.toFixed(2) + " % 5xx, p99 " + (x.p99 == null ? "–" : x.p99.toFixed(1) + " ms"); }
    var rows = list.map(function (c) {
      var steps = c.steps.map(function (x, i) { return i === c.step ? "<b>" + x + "</b>" : String(x); }).join(" → ");
      return '<tr data-canary="' + esc(c.rule) + '"><td class="l">' + esc(c.rule) + '</td><td class="l">' + esc(c.group) + '</td><td>' + c.weight + ' %</td><td class="l">' + esc(c.state) +
        '</td><td class="l">' + steps + ' % <span class="mute">(' + c.secondsInStep + ' s)</span></td><td class="l">' + esc(side(c.measured.canary)) + '</td><td class="l">' + esc(side(c.measured.stable)) +
        '</td><td class="l mute">' + esc(c.reason || "") + "</td></tr>";
    }).join("");
    box.innerHTML = '<h2>Canaries</h2><table><thead><tr><th class="l">rule</th><th class="l">canary</th><th>weight</th><th class="l">state</th><th class="l">steps</th><th class="l">canary this step</th><th class="l">stable this step</th><th class="l">last decision</th></tr></thead><tbody>' + rows + "</tbody></table>";
  }
  function render(s) {
    // A weight being typed survives the re-render.
    var focused = document.activeElement && document.activeElement.hasAttribute("data-weight") ? { g: document.activeElement.dataset.group, u: document.activeElement.dataset.url, v: document.activeElement.value } : null;
    var t = Date.now(), now = Date.parse(s.time);
    document.getElementById("balancer").textContent = s.balancer;
    document.getElementById("uptime").textContent = "up " + Math.floor(s.uptimeSeconds) + " s · latency window " + s.windowSeconds + " s";
    var html = s.groups.map(function (g) {
      var gh = push("g:" + g.name, g.requests, g.latency.p50, g.latency.p99, t);
      var rows = g.targets.map(function (x) {
        var h = push("t:" + g.name + ":" + x.url, x.requests, x.latency.p50, x.latency.p99, t);
        var c = x.lastCheck;
        return '<tr data-target="' + esc(x.url) + '" data-group="' + esc(g.name) + '" data-state="' + esc(x.state) + '">' +
          '<td class="l url">' + (x.name ? esc(x.name) + ' <span class="mute">' + esc(x.url) + "</span>" : esc(x.url)) + '</td><td class="l"><span class="badge s-' + esc(x.state) + '">' + esc(x.state.replace("_", " ")) + "</span></td>" +
          "<td>" + (x.weight == null ? "–" : x.weight) + "</td><td>" + x.inflight + "</td><td>" + num(x.requests) + "</td><td>" + rateOf(h) + "</td>" +
          "<td>" + spark("rate", h, 90, 22) + "</td>" +
          '<td class="' + (x.errorRate > 0.01 ? "err" : "") + '">' + pct(x.errorRate, x.requests) + "</td>" +
          "<td data-col=4xx>" + pct(share4xx(x), x.requests) + "</td>" +
          "<td>" + ms(x.latency.p50) + "</td><td data-col=p95>" + ms(x.latency.p95) + "</td><td>" + ms(x.latency.p99) + "</td><td>" + spark("latency", h, 90, 22) + "</td>" +
          '<td class="l">' + (c ? '<span class="' + (c.ok ? "check-ok" : "check-fail") + '">' + (c.ok ? "✔ " : "✘ ") + esc(c.detail) + '</span> <span class="mute">' + ago(c.at, now) + "</span>" : '<span class="mute">–</span>') + "</td>" + action(g.name, x) + "</tr>";
      }).join("");
      return '<section class="group" data-group="' + esc(g.name) + '"><div class="ghead"><h2>' + esc(g.name) + "</h2>" +
        '<div class="kpi"><b data-kpi="healthy">' + g.healthyHosts + " / " + g.totalHosts + "</b><span>healthy</span></div>" +
        '<div class="kpi"><b>' + rateOf(gh) + "</b><span>req/s</span></div>" +
        '<div class="kpi"><b class="' + (g.errorRate > 0.01 ? "err" : "") + '">' + pct(g.errorRate, g.requests) + "</b><span>5xx</span></div>" +
        '<div class="kpi"><b>' + pct(share4xx(g), g.requests) + "</b><span>4xx</span></div>" +
        '<div class="kpi"><b>' + ms(g.latency.p50) + "</b><span>p50</span></div>" +
        '<div class="kpi"><b>' + ms(g.latency.p95) + "</b><span>p95</span></div>" +
        '<div class="kpi"><b>' + ms(g.latency.p99) + "</b><span>p99</span></div>" +
        '<div class="kpi"><b>' + g.activeRequests + " · " + g.activeWebSockets + "</b><span>active http · ws</span></div>" +
        '<div class="charts"><div class="chart">' + spark("rate", gh, 160, 36) + "req/s</div>" +
        '<div class="chart">' + spark("latency", gh, 160, 36) + '<span><span style="color:#16a34a">p50</span> · <span style="color:#dc2626">p99</span></span></div></div></div>' +
        '<table><thead><tr><th class="l">target</th><th class="l">state</th><th>weight</th><th>in-flight</th><th>requests</th><th>rate</th><th></th><th>5xx</th><th>4xx</th><th>p50</th><th>p95</th><th>p99</th><th></th><th class="l">last check</th>' + (actions ? '<th class="l">actions</th>' : "") + "</tr></thead><tbody>" +
        rows + "</tbody></table></section>";
    }).join("");
    document.getElementById("groups").innerHTML = html || '<p class="mute">No target groups.</p>';
    if (focused) {
      var again = [].slice.call(document.querySelectorAll("input[data-weight]")).filter(function (i) { return i.dataset.group === focused.g && i.dataset.url === focused.u; })[0];
      if (again) { again.value = focused.v; again.focus(); }
    }
    renderRules(s);
    renderCanaries(s);
    var u = document.getElementById("updated");
    u.textContent = "updated " + new Date(t).toLocaleTimeString(); u.className = "";
    u.dataset.renders = String(++polls);
  }
  function poll() {
    fetch(location.origin + cfg.statusPath, { cache: "no-store", credentials: "same-origin" })
      .then(function (r) { if (!r.ok) throw new Error("HTTP " + r.status); return r.json(); })
      .then(render)
      .catch(function (e) { var u = document.getElementById("updated"); u.textContent = "update failed: " + e.message; u.className = "stale"; })
      .then(function () { clearTimeout(timer); timer = setTimeout(poll, cfg.refresh * 1000); });
  }
  function notice(text) { document.getElementById("notice").textContent = text; }
  function act(b) {
    var g = b.dataset.group, u = b.dataset.url, body;
    if (b.dataset.act === "weight") {
      var input = [].slice.call(document.querySelectorAll("input[data-weight]")).filter(function (i) { return i.dataset.group === g && i.dataset.url === u; })[0];
      var w = input ? input.value.trim() : "";
      body = { weight: w === "config" ? "config" : Number(w) };
    } else body = { drain: b.dataset.act === "drain" };
    b.disabled = true;
    fetch(location.origin + cfg.api + "/v1/groups/" + encodeURIComponent(g) + "/targets/" + encodeURIComponent(u), {
      method: "PATCH", credentials: "same-origin", headers: { "content-type": "application/json" }, body: JSON.stringify(body),
    }).then(function (r) { return r.json().then(function (j) { if (!r.ok) throw new Error(j.error + (j.problems ? ": " + j.problems.join("; ") : "")); notice(""); }); })
      .catch(function (e) { notice(e.message); })
      .then(function () { b.disabled = false; refreshNow(); });
  }
  var timer = null;
  function refreshNow() { clearTimeout(timer); poll(); }
  document.addEventListener("click", function (e) { var b = e.target.closest ? e.target.closest("button[data-act]") : null; if (b) act(b); });
  document.addEventListener("keydown", function (e) {
    if (e.key === "Enter" && e.target.hasAttribute && e.target.hasAttribute("data-weight")) {
      var b = e.target.parentNode.querySelector('button[data-act="weight"]'); if (b) act(b);
    }
  });
  render(cfg.initial);
  timer = setTimeout(poll, cfg.refresh * 1000);
  // Actions only for a viewer the admin API accepts.
  if (cfg.api != null) {
    fetch(location.origin + cfg.api + "/v1/status", { credentials: "same-origin", cache: "no-store" }).then(function (r) {
      actions = r.ok;
      document.getElementById("actions").dataset.enabled = String(actions);
      if (actions) refreshNow();
    }, function () {});
  }
})();
`;

export function statsPage(o: PageOptions): string {
  // Requests name the origin: a page opened as http://user:pass@host/… resolves a relative URL with the
  // credentials in it, which fetch refuses ("Request cannot be constructed from a URL that includes credentials").
  const cfg = { statusPath: o.statusPath, refresh: o.refresh, api: o.api ?? null, initial: o.initial };
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>${escapeHtml(o.initial.balancer)} · Fulcrum stats</title><style>${CSS}</style></head>
<body><header><h1>Fulcrum · <span id="balancer">${
    escapeHtml(o.initial.balancer)
  }</span></h1><span class="meta" id="uptime"></span><span class="meta" id="updated"></span></header>
<p id="notice" role="status"></p><span id="actions" data-enabled="false" hidden></span>
<main><div id="groups"></div><section class="box" id="canaries" hidden></section><section class="box" id="rules"></section><section class="box" id="events"></section></main>
<footer>Counters since this process started (on Workers: this isolate). Refreshes every ${o.refresh} s. JSON: <a href="${escapeHtml(o.statusPath)}">${
    escapeHtml(o.statusPath)
  }</a></footer>
<script type="application/json" id="cfg">${scriptJson(cfg)}</script>
<script>${SCRIPT}</script></body></html>`;
}
