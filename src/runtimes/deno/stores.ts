/** The shared-state stores this runtime can open (`state.store`); memory is always available. */
import { type Kv, openDenoKvStateStore } from "../../state/deno-kv.ts";
import type { StateOpeners } from "../../state/open.ts";

/** The slice of the Deno namespace used here (the project typechecks with tsc, not deno check). */
declare const Deno: {
  /** Absent unless deno runs with `--unstable-kv`. */
  openKv?: (path?: string) => Promise<Kv>;
};

export const stateOpeners: StateOpeners = {
  "deno-kv": async (config) => {
    const openKv = Deno.openKv;
    if (typeof openKv !== "function") throw new Error("Deno KV is off: run deno with --unstable-kv");
    // A local file also needs --allow-read and --allow-write for its path; Deno's own error says so.
    return openDenoKvStateStore((path) => openKv(path), config.path, { prefix: config.prefix });
  },
};
