/** Naive forwarder on Bun: `NAIVE_TARGETS=... NAIVE_PORT=... bun naive/bun.ts`. */
import { naiveApp, targetsFrom } from "./app.ts";

const app = naiveApp(targetsFrom(process.env.NAIVE_TARGETS));
const server = Bun.serve({ port: Number(process.env.NAIVE_PORT), hostname: "127.0.0.1", fetch: app.fetch });
console.error(`naive (bun) listening on ${server.port}`);
