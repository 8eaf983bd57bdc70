/**
 * Access log: one line per request, JSON (one object per line, the shape
 * Envoy's and Caddy's structured logs take) or NCSA Common Log Format
 * (`%h %l %u %t "%r" %>s %b`, Apache's `common`, nginx's `combined` minus
 * referer and agent). Off by default; `sampleRate` keeps a random share of
 * lines (randomness injected). The caller supplies the sink.
 */
import type { AccessLogConfig } from "./schema.ts";

export interface AccessLogEntry {
  /** Wall-clock milliseconds since the epoch when the request arrived. */
  time: number;
  requestId: string;
  /** Client address, when known. */
  client: string | undefined;
  method: string;
  /** Path and query as the client sent them. */
  path: string;
  /** Rule priority or "default". */
  rule: string;
  group: string;
  /** Target of the last attempt; undefined when none was tried. */
  target: string | undefined;
  status: number;
  upstreamMs: number | undefined;
  totalMs: number;
  bytesIn: number;
  bytesOut: number;
  retries: number;
  /** For the CLF request line; web-standard Request does not expose it. Default "HTTP/1.1". */
  protocol?: string;
}

const round3 = (x: number) => Math.round(x * 1000) / 1000;

export function formatJson(e: AccessLogEntry): string {
  // Fixed key order so lines diff and grep well; JSON.stringify escapes any control character in the path.
  return JSON.stringify({
    time: new Date(e.time).toISOString(),
    requestId: e.requestId,
    client: e.client ?? null,
    method: e.method,
    path: e.path,
    rule: e.rule,
    group: e.group,
    target: e.target ?? null,
    status: e.status,
    upstreamMs: e.upstreamMs === undefined ? null : round3(e.upstreamMs),
    totalMs: round3(e.totalMs),
    bytesIn: e.bytesIn,
    bytesOut: e.bytesOut,
    retries: e.retries,
  });
}

const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
const pad = (n: number) => String(n).padStart(2, "0");

/** CLF `%t`: `[10/Oct/2000:13:55:36 +0000]`, always UTC (edge runtimes have no local zone). */
export function clfTime(ms: number): string {
  const d = new Date(ms);
  return `[${pad(d.getUTCDate())}/${MONTHS[d.getUTCMonth()]}/${d.getUTCFullYear()}:${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${
    pad(d.getUTCSeconds())
  } +0000]`;
}

/**
 * Escapes `"`, `\` and bytes outside printable ASCII as `\xHH` (nginx's
 * `escape=default`), so a crafted path cannot forge a second log line.
 */
export function clfEscape(s: string): string {
  let out = "";
  for (const byte of new TextEncoder().encode(s)) {
    out += byte === 0x22 || byte === 0x5c || byte < 0x20 || byte > 0x7e ? `\\x${byte.toString(16).toUpperCase().padStart(2, "0")}` : String.fromCharCode(byte);
  }
  return out;
}

export function formatCommon(e: AccessLogEntry): string {
  const host = e.client ? clfEscape(e.client) : "-";
  const request = `${clfEscape(e.method)} ${clfEscape(e.path)} ${clfEscape(e.protocol ?? "HTTP/1.1")}`;
  // `%b`: response body bytes, "-" for none.
  return `${host} - - ${clfTime(e.time)} "${request}" ${e.status} ${e.bytesOut > 0 ? e.bytesOut : "-"}`;
}

export type AccessLogger = (entry: AccessLogEntry) => void;

/**
 * The logger for a config, or `undefined` when logging is off (so the hot
 * path can skip building the entry: `accessLog?.(…)`).
 */
export function createAccessLog(config: AccessLogConfig, deps: { write: (line: string) => void; random: () => number }): AccessLogger | undefined {
  if (!config.enabled || config.sampleRate === 0) return undefined;
  const format = config.format === "common" ? formatCommon : formatJson;
  const rate = config.sampleRate;
  const { write, random } = deps;
  if (rate >= 1) return (e) => write(format(e));
  return (e) => {
    if (random() < rate) write(format(e));
  };
}
