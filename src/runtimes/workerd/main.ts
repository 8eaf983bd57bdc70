/**
 * Main module for `wrangler deploy` (and for `fulcrum serve --runtime workerd`,
 * which bundles this same file, see src/cli/build.ts): wrangler.toml's
 * `[alias]` points `fulcrum-config` at your config file, which esbuild bundles
 * into the Worker. `FulcrumState` is the Durable Object behind
 * `state: { store: "cloudflare" }` (wrangler.toml `[[durable_objects.bindings]]`);
 * it is exported whatever the store, since a class named in a migration must
 * stay exported.
 */
import config from "fulcrum-config";
import { CloudflareStateStore } from "../../state/cloudflare.ts";
import { defineFulcrumState } from "./durable-object.ts";
import { createWorker } from "./worker.ts";

export default createWorker(config, { cloudflare: (cfg, env) => new CloudflareStateStore(cfg, env) });

export const FulcrumState = defineFulcrumState(config);
