/**
 * Main module for `wrangler deploy`: wrangler.toml's `[alias]` points
 * `fulcrum-config` at your config file, which esbuild bundles into the Worker.
 */
import config from "fulcrum-config";
import { createWorker } from "./workerd.ts";

export default createWorker(config);
