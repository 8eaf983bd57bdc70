/**
 * Config files for the backends and the peer balancers. Each peer is set up
 * the way its own docs recommend for a keep-alive reverse proxy over three
 * upstreams with round robin, on one core:
 * - nginx: `worker_processes 1`, `upstream { keepalive 64; }`,
 *   `proxy_http_version 1.1` and an empty `Connection` (nginx docs for
 *   `keepalive`: both are required for upstream keep-alive);
 * - HAProxy: `nbthread 1`, `balance roundrobin`, `http-reuse always`;
 * - Caddy: `GOMAXPROCS=1` (set by the caller), `reverse_proxy` with
 *   `lb_policy round_robin`, admin endpoint off.
 * Everything binds 127.0.0.1 and writes only inside `dir`.
 *
 * A `PeerTuning` changes that for the phases that need it: each peer's own
 * least-connections policy for uneven backends, uploads of any size streamed
 * (nginx by default refuses bodies over 1 MiB and writes the rest to disk
 * whole before sending them on; its response buffering stays at its
 * default), and room for 10,000 clients.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export interface PeerTuning {
  /** nginx `least_conn`, HAProxy `leastconn`, Caddy `lb_policy least_conn`; default round robin. */
  readonly leastConn?: boolean;
  /** Request bodies of any size, streamed (nginx `client_max_body_size 0`, `proxy_request_buffering off`). */
  readonly streaming?: boolean;
  /** Client connections the peer must hold at once (HAProxy `maxconn`). */
  readonly maxClients?: number;
}

/** The header each backend adds with its own port, used by the correctness check. */
export const BACKEND_HEADER = "X-Backend-Port";

function nginxPaths(dir: string, name: string, workers = 1): string {
  const tmp = join(dir, `${name}-temp`);
  mkdirSync(tmp, { recursive: true });
  return [
    `pid ${join(dir, `${name}.pid`)};`,
    `error_log ${join(dir, `${name}-error.log`)} warn;`,
    "daemon off;",
    // As root, nginx runs its workers as nobody, who cannot write the (0700) bench directory's temp files.
    ...(process.getuid?.() === 0 ? ["user root;"] : []),
    `worker_processes ${workers};`,
    "worker_rlimit_nofile 19000;", // under the hard limit here (20,000): 10,000 clients and their upstream connections
    "events { worker_connections 16384; multi_accept on; }",
  ].join("\n") +
    "\nhttp {\n" +
    "  access_log off;\n" +
    ["client_body", "proxy", "fastcgi", "uwsgi", "scgi"].map((t) => `  ${t}_temp_path ${join(tmp, t)};\n`).join("");
}

/**
 * One nginx worker answering a 13-byte 200 on three ports. Upstream
 * keep-alive is never cut by the backend (`keepalive_requests` high), so a
 * balancer's connection reuse is what is measured.
 */
export function backendNginxConf(dir: string, ports: readonly number[]): string {
  const file = join(dir, "backends.conf");
  writeFileSync(
    file,
    nginxPaths(dir, "backends") +
      "  keepalive_requests 10000000;\n  keepalive_timeout 300s;\n" +
      "  server {\n" +
      ports.map((p) => `    listen 127.0.0.1:${p};\n`).join("") +
      `    location / { add_header ${BACKEND_HEADER} $server_port always; return 200 "ok $server_port\\n"; }\n` +
      "  }\n}\n",
  );
  return file;
}

/** `workers`: nginx's `worker_processes` (1 for the per-core table, 2 beside Fulcrum's `--workers 2`). */
export function nginxBalancerConf(dir: string, port: number, backends: readonly number[], workers = 1, tuning: PeerTuning = {}): string {
  const name = `nginx-lb-${port}`;
  const file = join(dir, `${name}.conf`);
  writeFileSync(
    file,
    nginxPaths(dir, name, workers) +
      "  upstream backends {\n" +
      (tuning.leastConn ? "    least_conn;\n" : "") +
      backends.map((p) => `    server 127.0.0.1:${p};\n`).join("") +
      "    keepalive 64;\n  }\n" +
      "  server {\n" +
      `    listen 127.0.0.1:${port};\n` +
      '    location / {\n      proxy_pass http://backends;\n      proxy_http_version 1.1;\n      proxy_set_header Connection "";\n' +
      (tuning.streaming ? "      client_max_body_size 0;\n      proxy_request_buffering off;\n" : "") +
      "    }\n" +
      "  }\n}\n",
  );
  return file;
}

export function haproxyConf(dir: string, port: number, backends: readonly number[], tuning: PeerTuning = {}): string {
  const file = join(dir, `haproxy-${port}.cfg`);
  const maxconn = `  maxconn ${Math.max(8000, (tuning.maxClients ?? 0) + 100)}`;
  writeFileSync(
    file,
    [
      "global",
      "  nbthread 1",
      maxconn,
      // HAProxy reserves two descriptors per connection, which at 10,000 clients passes this
      // machine's hard limit (20,000), and refuses to start (strict-limits); the clients share a
      // few server connections, so the limit is never reached.
      ...(tuning.maxClients ? ["  no strict-limits"] : []),
      "defaults",
      "  mode http",
      maxconn,
      "  timeout connect 5s",
      "  timeout client 60s",
      "  timeout server 60s",
      "  http-reuse always",
      "frontend fe",
      `  bind 127.0.0.1:${port}`,
      "  default_backend be",
      "backend be",
      `  balance ${tuning.leastConn ? "leastconn" : "roundrobin"}`,
      ...backends.map((p, i) => `  server b${i + 1} 127.0.0.1:${p}`),
      "",
    ].join("\n"),
  );
  return file;
}

export function caddyfile(dir: string, port: number, backends: readonly number[], tuning: PeerTuning = {}): string {
  const file = join(dir, `Caddyfile-${port}`);
  writeFileSync(
    file,
    [
      "{",
      "  admin off",
      "  auto_https off",
      `  storage file_system ${join(dir, "caddy-data")}`,
      "}",
      `http://127.0.0.1:${port} {`,
      "  bind 127.0.0.1",
      `  reverse_proxy ${backends.map((p) => `127.0.0.1:${p}`).join(" ")} {`,
      `    lb_policy ${tuning.leastConn ? "least_conn" : "round_robin"}`,
      "  }",
      "}",
      "",
    ].join("\n"),
  );
  return file;
}
