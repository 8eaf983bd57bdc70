/** Naive forwarder as a Worker; the targets come from the `NAIVE_TARGETS` text binding. */
import { naiveApp, targetsFrom } from "./app.ts";

let app: ReturnType<typeof naiveApp> | undefined;

export default {
  fetch(request: Request, env: { NAIVE_TARGETS?: string }): Response | Promise<Response> {
    app ??= naiveApp(targetsFrom(env.NAIVE_TARGETS));
    return app.fetch(request, env);
  },
};
