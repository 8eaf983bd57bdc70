/**
 * The naive forwarder: Hono + `fetch`, round robin, no features at all (no
 * hop-by-hop cleanup, no X-Forwarded-*, no timeouts, no health). It is the
 * floor Fulcrum's features are measured against on the same runtime.
 */
import { Hono } from "hono";

export function naiveApp(targets: readonly string[]): Hono {
  if (targets.length === 0) throw new Error("naive forwarder: no targets");
  const app = new Hono();
  let next = 0;
  app.all("*", (c) => {
    const target = targets[next]!;
    next = (next + 1) % targets.length;
    const url = new URL(c.req.url);
    const req = c.req.raw;
    return fetch(target + url.pathname + url.search, {
      method: req.method,
      headers: req.headers,
      body: req.body,
      redirect: "manual",
      duplex: "half",
    } as RequestInit);
  });
  return app;
}

/** `NAIVE_TARGETS=http://a,http://b` */
export function targetsFrom(value: string | undefined): string[] {
  return (value ?? "").split(",").filter((s) => s !== "");
}
