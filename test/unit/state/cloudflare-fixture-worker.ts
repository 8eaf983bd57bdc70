/**
 * Test Worker for test/unit/state/cloudflare.test.ts: the real Durable Object
 * class and the real isolate-side store, driven over HTTP so that a test can
 * act as any of several isolates. `?prefix=` picks the object, `?ttl=` the
 * store's cacheTtl (one store per prefix and TTL per isolate, kept between
 * requests like the balancer keeps its own).
 */
import { CloudflareStateStore } from "../../../src/state/cloudflare.ts";
import { defineFulcrumState } from "../../../src/runtimes/workerd/durable-object.ts";
import { emptyGroup } from "../../../src/state/store.ts";

// No health checks: the object never sets an alarm here.
export const FulcrumState = defineFulcrumState({
  listen: { port: 8080 },
  targetGroups: { app: { targets: [{ url: "http://127.0.0.1:9" }] } },
  defaultAction: { forward: "app" },
});

/** A Durable Object that fails every call (the store must reject, not hang). */
export class Throwing {
  fetch(): Response {
    throw new Error("boom from the durable object");
  }
}

/** A Durable Object that never answers. */
export class Silent {
  fetch(): Promise<Response> {
    return new Promise(() => {});
  }
}

const stores = new Map<string, CloudflareStateStore>();

export default {
  async fetch(request: Request, env: Record<string, unknown>): Promise<Response> {
    const url = new URL(request.url);
    const prefix = url.searchParams.get("prefix") ?? "fulcrum";
    const ttl = Number(url.searchParams.get("ttl") ?? "1");
    const key = `${prefix}/${ttl}`;
    let store = stores.get(key);
    if (!store) stores.set(key, store = new CloudflareStateStore({ store: "cloudflare", durableObject: "FULCRUM_STATE", prefix, cacheTtl: ttl }, env));
    try {
      switch (url.pathname) {
        case "/load":
          return Response.json(await store.load());
        case "/bump": {
          // Increment a counter per name: concurrent bumps from several isolates must all count.
          const name = url.searchParams.get("name") ?? "x";
          return Response.json(
            await store.update((d) => {
              d.groups.app ??= emptyGroup();
              d.groups.app.weights[name] = (d.groups.app.weights[name] ?? 0) + 1;
            }),
          );
        }
        default:
          return new Response("not found", { status: 404 });
      }
    } catch (error) {
      return new Response(error instanceof Error ? error.message : String(error), { status: 500 });
    }
  },
};
