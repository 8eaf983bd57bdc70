/** Naive forwarder on Deno: `NAIVE_TARGETS=... NAIVE_PORT=... deno run -A naive/deno.ts`. */
import { naiveApp, targetsFrom } from "./app.ts";

declare const Deno: {
  env: { get(name: string): string | undefined };
  serve(options: { port: number; hostname: string }, handler: (req: Request) => Response | Promise<Response>): unknown;
};

const app = naiveApp(targetsFrom(Deno.env.get("NAIVE_TARGETS")));
Deno.serve({ port: Number(Deno.env.get("NAIVE_PORT")), hostname: "127.0.0.1" }, (req) => app.fetch(req));
