/** A worker being replaced answers with Connection: close (its keep-alive clients move on); otherwise responses are untouched. */
import { expect, test } from "bun:test";
import { createBalancer } from "../../../src/app/balancer.ts";
import { validateConfig } from "../../../src/config/load.ts";
import { quietPlatform } from "../quiet-platform.ts";

test("closingConnections: every answer, the target's, a redirect's or the balancer's own, carries Connection: close", async () => {
  const config = validateConfig({
    listen: { port: 0 },
    targetGroups: { app: { targets: [{ url: "http://10.0.0.1" }] } },
    rules: [{ priority: 1, conditions: [{ pathPattern: { values: ["/old"] } }], action: { redirect: { path: "/new", statusCode: 301 } } }],
    defaultAction: { forward: "app" },
    admin: { api: false },
  });
  const app = createBalancer(config, { ...quietPlatform, upstream: async () => new Response("ok") });
  await app.balancer.ready();
  const handler = app.balancer.handler(app.balancer.listenerKeys()[0]!);
  const connection = async (path: string) => (await handler(new Request(`http://lb${path}`))).headers.get("connection");
  expect(await connection("/x")).toBeNull();
  app.balancer.closingConnections = true;
  expect([await connection("/x"), await connection("/old"), await connection("/__fulcrum/health")]).toEqual(["close", "close", "close"]);
});
