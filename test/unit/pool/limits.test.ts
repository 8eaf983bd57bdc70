/**
 * maxConnections and the group's queue through a balancer with targets that
 * answer when the test says: the limit per target (a target's own wins), the
 * queue's order, size and timeout, a client leaving the queue, the sticky
 * client whose target is full, and a reload with requests waiting.
 */
import { expect, test } from "bun:test";
import { createBalancer } from "../../../src/app/balancer.ts";
import { validateConfig } from "../../../src/config/load.ts";
import type { UpstreamRequest } from "../../../src/platform.ts";
import { quietPlatform } from "../quiet-platform.ts";

const [A, B] = ["http://10.0.0.1", "http://10.0.0.2"];

/** Targets that answer only when `release` is called (with a short body of known length: not held while relayed). */
function heldTargets() {
  const held: { origin: string; answer: () => void }[] = [];
  const upstream = (req: UpstreamRequest) =>
    new Promise<Response>((resolve) =>
      held.push({ origin: req.origin, answer: () => resolve(new Response(req.origin, { headers: { "content-length": String(req.origin.length) } })) })
    );
  const release = (origin: string) => {
    const i = held.findIndex((h) => h.origin === origin);
    held.splice(i, 1)[0]!.answer();
  };
  return { held, upstream, release };
}

function group(extra: Record<string, unknown>, targets: Record<string, unknown>[] = [{ url: A }, { url: B }]) {
  return validateConfig({
    listen: { port: 0 },
    targetGroups: { app: { strategy: "least_connections", targets, ...extra } },
    defaultAction: { forward: "app" },
    admin: { api: false },
  });
}

const tick = () => new Promise((r) => setTimeout(r, 5));

test("each target takes up to its maxConnections; the rest wait in order, and past the queue's size get 503", async () => {
  const t = heldTargets();
  const app = createBalancer(group({ maxConnections: 1, queue: { size: 2, timeout: 30 } }, [{ url: A }, { url: B, maxConnections: 2 }]), {
    ...quietPlatform,
    upstream: t.upstream,
  });
  await app.balancer.ready();
  const answers = Array.from({ length: 6 }, (_, i) => app.fetch(new Request(`http://lb/${i}`)));
  await tick();
  expect(t.held.map((h) => h.origin).sort()).toEqual([A, B, B]);
  // The sixth found the queue full.
  const sixth = await answers[5]!;
  expect(sixth.status).toBe(503);
  expect(sixth.headers.get("retry-after")).toBe("5");
  expect(app.balancer.metrics.group("app").queued).toBe(2);
  t.release(A);
  expect(await (await answers[0]!).text()).toBe(A);
  await tick();
  // The first in the queue went to the free slot.
  expect(t.held.map((h) => h.origin).sort()).toEqual([A, B, B]);
  while (t.held.length > 0) {
    t.release(t.held[0]!.origin);
    await tick();
  }
  expect((await Promise.all(answers.slice(0, 5))).map((r) => r.status)).toEqual([200, 200, 200, 200, 200]);
  expect(app.balancer.metrics.group("app").queueRejected).toEqual({ full: 1, timeout: 0 });
  expect(app.balancer.metrics.group("app").queued).toBe(0);
});

test("without a queue, a request no target can take gets 503 at once; a target that is down does not make anyone wait", async () => {
  const t = heldTargets();
  const app = createBalancer(group({ maxConnections: 1 }, [{ url: A }]), { ...quietPlatform, upstream: t.upstream });
  await app.balancer.ready();
  const first = app.fetch(new Request("http://lb/1"));
  await tick();
  expect((await app.fetch(new Request("http://lb/2"))).status).toBe(503);
  t.release(A);
  expect((await first).status).toBe(200);
});

test("a queued request leaves the queue at its timeout, or when its client goes", async () => {
  const t = heldTargets();
  const app = createBalancer(group({ maxConnections: 1, queue: { size: 5, timeout: 0.05 } }, [{ url: A }]), { ...quietPlatform, upstream: t.upstream });
  await app.balancer.ready();
  const first = app.fetch(new Request("http://lb/1"));
  await tick();
  const started = Date.now();
  expect((await app.fetch(new Request("http://lb/2"))).status).toBe(503);
  expect(Date.now() - started).toBeGreaterThanOrEqual(40);
  const client = new AbortController();
  const leaving = app.fetch(new Request("http://lb/3", { signal: client.signal }));
  await tick();
  expect(app.balancer.metrics.group("app").queued).toBe(1);
  client.abort();
  await Promise.resolve(leaving).catch(() => {});
  await tick();
  expect(app.balancer.metrics.group("app").queued).toBe(0);
  expect(app.balancer.metrics.group("app").queueRejected).toEqual({ full: 0, timeout: 1 });
  t.release(A);
  await first;
});

test("requests waiting through a reload are woken by the new config's targets", async () => {
  const t = heldTargets();
  const config = group({ maxConnections: 1, queue: { size: 5, timeout: 30 } }, [{ url: A }]);
  const app = createBalancer(config, { ...quietPlatform, upstream: t.upstream });
  await app.balancer.ready();
  const first = app.fetch(new Request("http://lb/1"));
  await tick();
  const waiting = app.fetch(new Request("http://lb/2"));
  await tick();
  await app.balancer.reload("test", { config: { config: group({ maxConnections: 1, queue: { size: 10, timeout: 30 } }, [{ url: A }]), version: "2" } });
  t.release(A);
  await first;
  await tick();
  expect(t.held.length).toBe(1);
  t.release(A);
  expect((await waiting).status).toBe(200);
});

test("a queue without maxConnections is named by `check`", () => {
  expect(() => group({ queue: { size: 5 } })).toThrow("targetGroups.app.queue: does nothing without maxConnections (on the group or a target)");
});

test("first come, first served: a new request waits behind those already queued, and slots freed together serve as many", async () => {
  const t = heldTargets();
  const app = createBalancer(group({ maxConnections: 2, queue: { size: 10, timeout: 30 } }, [{ url: A }]), { ...quietPlatform, upstream: t.upstream });
  await app.balancer.ready();
  const order: string[] = [];
  const send = (name: string) => Promise.resolve(app.fetch(new Request(`http://lb/${name}`))).then((r) => (order.push(name), r));
  const running = [send("r1"), send("r2")];
  await tick();
  const queued = [send("q1"), send("q2")];
  await tick();
  expect(app.balancer.metrics.group("app").queued).toBe(2);
  // Both slots free at once: both queued requests are served, before a newcomer.
  t.release(A);
  t.release(A);
  const late = send("late");
  await tick();
  await tick();
  expect(t.held.length).toBe(2);
  expect(app.balancer.metrics.group("app").queued).toBe(1);
  while (t.held.length > 0) {
    t.release(A);
    await tick();
  }
  await Promise.all([...running, ...queued, late]);
  expect(order.slice(2)).toEqual(["q1", "q2", "late"]);
});

test("a client that leaves the queue is answered 499, not counted against anyone; a reload without the queue answers the rest 503 at once", async () => {
  const t = heldTargets();
  const app = createBalancer(group({ maxConnections: 1, queue: { size: 10, timeout: 30 } }, [{ url: A }]), { ...quietPlatform, upstream: t.upstream });
  await app.balancer.ready();
  const first = app.fetch(new Request("http://lb/1"));
  await tick();
  const client = new AbortController();
  const leaving = Promise.resolve(app.fetch(new Request("http://lb/2", { signal: client.signal })));
  const staying = Promise.resolve(app.fetch(new Request("http://lb/3")));
  await tick();
  client.abort();
  expect((await leaving).status).toBe(499);
  const started = Date.now();
  await app.balancer.reload("test", { config: { config: group({ maxConnections: 1 }, [{ url: A }]), version: "2" } });
  expect((await staying).status).toBe(503);
  expect(Date.now() - started).toBeLessThan(1000);
  t.release(A);
  await first;
});
