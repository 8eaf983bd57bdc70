/**
 * On Workers, the config may live in Workers KV (binding `FULCRUM_KV`, key
 * `config`) instead of the bundle, so that a config change needs no
 * redeploy: `wrangler kv key put --binding FULCRUM_KV config "$(cat fulcrum.json)"`.
 *
 * Read at an isolate's first request, then at most every
 * `FULCRUM_CONFIG_REFRESH` seconds (a Worker variable; default 60, since KV
 * is eventually consistent and a write takes up to a minute to reach every
 * location anyway). No binding or no key: the bundled config. An invalid
 * config is logged once per distinct text with its problems, and the config
 * in use is kept (nginx keeps its old configuration when a reload fails).
 */
import { ConfigError, parseConfig } from "../../config/load.ts";
import type { Config } from "../../config/schema.ts";

export const CONFIG_KV_BINDING = "FULCRUM_KV";
export const CONFIG_KV_KEY = "config";
const DEFAULT_REFRESH_S = 60;

interface KvNamespaceLike {
  get(key: string, type: "text"): Promise<string | null>;
}

export interface ConfigVersion {
  readonly config: Config;
  /** The KV text it came from; undefined for the bundled config. */
  readonly text: string | undefined;
}

export class KvConfigSource {
  private current: ConfigVersion;
  private lastRead = Number.NEGATIVE_INFINITY;
  private rejected: string | undefined;

  constructor(
    /** Kept apart from `current` so that deleting the key restores it. */
    private readonly bundled: Config,
    private readonly log: (line: string) => void,
    /** Extra check a config must pass to be used here (e.g. a store this runtime can open); returns a problem or undefined. */
    private readonly acceptable: (config: Config) => string | undefined = () => undefined,
    private readonly now: () => number = Date.now,
  ) {
    this.current = { config: bundled, text: undefined };
  }

  get config(): Config {
    return this.current.config;
  }

  /** Is a re-read due (the binding exists and the refresh interval has passed)? */
  due(env: Readonly<Record<string, unknown>>): boolean {
    return kvOf(env) !== undefined && this.now() - this.lastRead >= refreshMs(env);
  }

  /** Read KV now; resolves to the new version when the config in use changed, undefined otherwise. */
  async refresh(env: Readonly<Record<string, unknown>>): Promise<ConfigVersion | undefined> {
    const kv = kvOf(env);
    this.lastRead = this.now();
    if (!kv) return undefined;
    let text: string | null;
    try {
      text = await kv.get(CONFIG_KV_KEY, "text");
    } catch (error) {
      this.log(
        `config: reading ${CONFIG_KV_BINDING}/${CONFIG_KV_KEY} failed (${error instanceof Error ? error.message : String(error)}); keeping the config in use`,
      );
      return undefined;
    }
    const next = text ?? undefined;
    if (next === this.current.text || next === this.rejected) return undefined;
    if (next === undefined) {
      // The key was deleted: back to the bundled config.
      this.current = { config: this.bundled, text: undefined };
      this.log(`config: no ${CONFIG_KV_BINDING}/${CONFIG_KV_KEY}; using the bundled config`);
      return this.current;
    }
    try {
      const config = parseConfig(next, `${CONFIG_KV_BINDING}/${CONFIG_KV_KEY}`);
      const problem = this.acceptable(config);
      if (problem) throw new ConfigError([problem], `${CONFIG_KV_BINDING}/${CONFIG_KV_KEY}`);
      this.current = { config, text: next };
      this.rejected = undefined;
      this.log(`config: now from ${CONFIG_KV_BINDING}/${CONFIG_KV_KEY}`);
      return this.current;
    } catch (error) {
      this.rejected = next;
      this.log(`config: ignoring ${CONFIG_KV_BINDING}/${CONFIG_KV_KEY}, keeping the config in use: ${error instanceof Error ? error.message : String(error)}`);
      return undefined;
    }
  }
}

function kvOf(env: Readonly<Record<string, unknown>>): KvNamespaceLike | undefined {
  const kv = env[CONFIG_KV_BINDING] as Partial<KvNamespaceLike> | undefined;
  return kv && typeof kv.get === "function" ? (kv as KvNamespaceLike) : undefined;
}

function refreshMs(env: Readonly<Record<string, unknown>>): number {
  const s = Number(env.FULCRUM_CONFIG_REFRESH ?? DEFAULT_REFRESH_S);
  return (Number.isFinite(s) && s > 0 ? s : DEFAULT_REFRESH_S) * 1000;
}
