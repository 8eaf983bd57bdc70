/**
 * Hono's own proxy helper (`hono/proxy`) as a peer, round robin over the backends: the floor on
 * Fulcrum's own stack with hop-by-hop cleanup. Runs under Bun or Deno:
 * `NAIVE_TARGETS=... NAIVE_PORT=... bun hono-proxy.ts` (or `deno run -A`).
 */
import { Hono } from "hono";
import { proxy } from "hono/proxy";

const targets = (process.env.NAIVE_TARGETS ?? "").split(",").filter(Boolean);
let next = 0;
const app = new Hono();
app.all("*", (c) => {
  const target = targets[next++ % targets.length]!;
  const url = new URL(c.req.url);
  return proxy(`${target}${url.pathname}${url.search}`, { raw: c.req.raw });
});

const port = Number(process.env.NAIVE_PORT);
const g = globalThis as { Bun?: { serve(o: unknown): unknown }; Deno?: { serve(o: unknown, h: unknown): unknown } };
// Bun.serve refuses bodies over 128 MiB unless told otherwise (the streaming phase uploads 1 GiB).
if (g.Bun) g.Bun.serve({ port, hostname: "127.0.0.1", fetch: app.fetch, maxRequestBodySize: Number.MAX_SAFE_INTEGER });
else g.Deno!.serve({ port, hostname: "127.0.0.1", onListen: () => {} }, app.fetch);
console.error(`hono proxy listening on ${port}`);
