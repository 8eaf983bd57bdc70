/**
 * Opening the configured store at start-up. Each runtime adapter injects the
 * stores it can open (Bun's and Node's Redis clients, Deno KV, a Durable
 * Object binding); asking for one the runtime lacks is a start-up error that
 * names the field, like any other config problem. So is a store that cannot
 * be reached: a balancer must not start blind (issue #6), while one that
 * loses its store later keeps serving on what it last knew.
 */
import { MemoryStateStore } from "./memory.ts";
import type { StateConfig, StoreName } from "./schema.ts";
import type { StateStore } from "./store.ts";

export interface OpenContext {
  /** Environment variables / Worker bindings. */
  readonly env: Readonly<Record<string, unknown>>;
  readonly log: (line: string) => void;
}

/** What a runtime can open, by store name (memory is always available). */
export type StateOpeners = {
  readonly [K in Exclude<StoreName, "memory">]?: (config: Extract<StateConfig, { store: K }>, ctx: OpenContext) => Promise<StateStore>;
};

export class StateOpenError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(`state.store: ${message}`, options);
    this.name = "StateOpenError";
  }
}

/** Why `store` cannot be opened on this runtime, or undefined: memory always can, the others when the runtime injects them. */
export function storeUnavailable(store: StoreName, runtime: string, injected: readonly string[]): string | undefined {
  if (store === "memory" || injected.includes(store)) return undefined;
  const expected = ["memory", ...injected].map((s) => JSON.stringify(s)).join(", ");
  return `${JSON.stringify(store)} is not available on ${runtime}, expected one of ${expected}`;
}

/** Open the store and read it once (proves it is reachable); rejects with a `state.store: ...` message. */
export async function openStateStore(config: StateConfig, openers: StateOpeners, ctx: OpenContext, runtime: string): Promise<StateStore> {
  if (config.store === "memory") return new MemoryStateStore();
  const unavailable = storeUnavailable(config.store, runtime, Object.keys(openers));
  if (unavailable) throw new StateOpenError(unavailable);
  const open = openers[config.store] as (c: StateConfig, x: OpenContext) => Promise<StateStore>;
  let store: StateStore | undefined;
  try {
    store = await open(config, ctx);
    await store.load();
  } catch (error) {
    await store?.close().catch(() => {});
    if (error instanceof StateOpenError) throw error;
    throw new StateOpenError(`cannot reach the ${config.store} store: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
  }
  return store;
}
