/**
 * Backends with behaviour built in, for the phases that need more than
 * nginx's fixed 13-byte answer: uneven backends (a delay on every response,
 * or on a fraction of them) and streaming (a large download, an upload sink
 * that counts what arrived). One Bun process serves every port; the harness
 * pins it to the load core.
 *
 *   BACKENDS='[{"port":8001},{"port":8002,"delayMs":50},{"port":8003,"slowFraction":0.1,"slowMs":500}]'
 *   BACKEND_FILE=/path/of/a/large/file  bun bun-backends.ts
 *
 * Every port answers:
 * - `GET /big` with BACKEND_FILE (`?bytes=N`: its first N bytes), sent by the
 *   kernel (Bun serves a file with sendfile);
 * - `POST /sink` by reading the whole body and answering how many bytes came;
 * - anything else `ok PORT` with the port in X-Backend-Port, after its delay.
 */
import { join } from "node:path";
import type { Env } from "./contestants.ts";
import type { Options } from "./options.ts";
import { BACKEND_HEADER } from "./peers.ts";
import { distinctPorts, start, waitAnswering } from "./processes.ts";

export interface BackendSpec {
  readonly port: number;
  /** Added to every answer. */
  readonly delayMs?: number;
  /** This fraction of answers take `slowMs` instead. */
  readonly slowFraction?: number;
  readonly slowMs?: number;
}

function delayOf(spec: BackendSpec): number {
  if (spec.slowFraction && Math.random() < spec.slowFraction) return spec.slowMs ?? 0;
  return spec.delayMs ?? 0;
}

export function serveBackend(spec: BackendSpec, file: string | undefined): void {
  Bun.serve({
    hostname: "127.0.0.1",
    port: spec.port,
    idleTimeout: 255,
    maxRequestBodySize: Number.MAX_SAFE_INTEGER,
    async fetch(req) {
      const url = new URL(req.url);
      if (url.pathname === "/big" && file) {
        const bytes = url.searchParams.get("bytes");
        const body = Bun.file(file);
        return new Response(bytes === null ? body : body.slice(0, Number(bytes)), { headers: { [BACKEND_HEADER]: String(spec.port) } });
      }
      if (url.pathname === "/sink" && req.body) {
        let n = 0;
        const reader = req.body.getReader();
        for (let r = await reader.read(); !r.done; r = await reader.read()) n += r.value.byteLength;
        return new Response(String(n), { headers: { [BACKEND_HEADER]: String(spec.port) } });
      }
      const delay = delayOf(spec);
      if (delay > 0) await Bun.sleep(delay);
      return new Response(`ok ${spec.port}\n`, { headers: { [BACKEND_HEADER]: String(spec.port) } });
    },
  });
}

/** Starts one Bun process with a backend per spec on the load core; resolves with their ports once they answer. */
export async function startBunBackends(
  env: Env,
  o: Options,
  label: string,
  specs: readonly Omit<BackendSpec, "port">[],
  file?: string,
): Promise<{ ports: number[]; stop(): Promise<void> }> {
  const ports = await distinctPorts(specs.length);
  const proc = start(`bun-backends-${label}`, join(env.root, "node_modules/.bin/bun"), [join(env.root, "test/bench/harness/bun-backends.ts")], {
    logDir: env.dir,
    cpu: o.loadCpu,
    env: { BACKENDS: JSON.stringify(specs.map((s, i) => ({ ...s, port: ports[i] }))), BACKEND_FILE: file },
  });
  await waitAnswering(proc, ports, "/healthz");
  return { ports, stop: () => proc.stop() };
}

if (import.meta.main) {
  const specs = JSON.parse(process.env.BACKENDS ?? "[]") as BackendSpec[];
  for (const spec of specs) serveBackend(spec, process.env.BACKEND_FILE);
  console.log(`backends on ${specs.map((s) => s.port).join(", ")}`);
}
