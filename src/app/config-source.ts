/**
 * Where a balancer's config comes from, so that a reload (`fulcrum reload`,
 * SIGHUP, the API) can read it again: the file it started with on Bun, Deno
 * and Node; Workers KV, or the bundle, on Workers. Reading validates: a
 * config with problems throws a ConfigError naming each one by field path,
 * and the balancer keeps the config it has (nginx keeps its old workers when
 * `nginx -s reload` finds an error).
 */
import type { Config } from "../config/schema.ts";

export interface LoadedConfig {
  readonly config: Config;
  /** A short digest of its text: equal on every instance that reads the same config. */
  readonly version: string;
  /** The text it was read from, where the source has one: what a host's primary hands its workers. */
  readonly text?: string;
}

export interface ConfigSource {
  /** Where it is read from, for status and messages: a file path, `FULCRUM_KV/config`, `bundled config`. */
  readonly location: string;
  /**
   * Instances read the same source (Workers KV): a reload through the API on
   * one makes the others re-read at once (SnapshotData.reloads).
   */
  readonly shared: boolean;
  /** Read and validate it now. Throws ConfigError with every problem. */
  read(): Promise<LoadedConfig>;
}

/** The first 12 hex digits of the text's SHA-256. */
export async function configVersion(text: string): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text)));
  return [...digest.subarray(0, 6)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** A config that never changes (tests, the demo's first build): its version from its JSON. */
export function fixedConfigSource(config: Config, location = "config object"): ConfigSource {
  const loaded = configVersion(JSON.stringify(config)).then((version) => ({ config, version }));
  return { location, shared: false, read: () => loaded };
}
