/** Naive forwarder on Node (bundled by the harness; Node 20 runs no TypeScript): @hono/node-server + global fetch. */
import { serve } from "@hono/node-server";
import { naiveApp, targetsFrom } from "./app.ts";

const app = naiveApp(targetsFrom(process.env.NAIVE_TARGETS));
serve({ fetch: app.fetch, port: Number(process.env.NAIVE_PORT), hostname: "127.0.0.1" }, (info) => console.error(`naive (node) listening on ${info.port}`));
