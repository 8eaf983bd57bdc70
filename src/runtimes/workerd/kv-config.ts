/**
 * On Workers, the config may live in Workers KV (binding `FULCRUM_KV`, key
 * `config`) instead of the bundle, so that a config change needs no
 * redeploy: `wrangler kv key put --binding FULCRUM_KV config "$(cat fulcrum.json)"`.
 * Under `fulcrum serve --runtime workerd` the config file itself takes that
 * place, through a service binding of the launcher (FULCRUM_CONFIG_FILE),
 * so that `fulcrum reload` reads the edited file as on the other runtimes.
 *
 * Read at an isolate's first request, then at most every
 * `FULCRUM_CONFIG_REFRESH` seconds (a Worker variable; default 60, since KV
 * is eventually consistent and a write takes up to a minute to reach every
 * location anyway), and at once on `fulcrum reload`. No binding or no key:
 * the bundled config. An invalid config is logged once per distinct text
 * with its problems, and the config in use is kept (nginx keeps its old
 * configuration when a reload fails); a reload through the API gets the
 * problems back.
 */
import { configVersion } from "../../app/config-source.ts";
import { ConfigError, parseConfig } from "../../config/load.ts";
import type { Config } from "../../config/schema.ts";
import { CONFIG_FILE_BINDING, CONFIG_PATH_BINDING } from "./bindings.ts";

export const CONFIG_KV_BINDING = "FULCRUM_KV";
export const CONFIG_KV_KEY = "config";
const DEFAULT_REFRESH_S = 60;

interface KvNamespaceLike {
  get(key: string, type: "text"): Promise<string | null>;
}

interface FetcherLike {
  fetch(input: string): Promise<Response>;
}

export interface ConfigVersion {
  readonly config: Config;
  /** The text it came from; undefined for the bundled config. */
  readonly text: string | undefined;
  /** A digest of that text (of the bundled config's JSON for it). */
  readonly version: string;
}

/** Where a text config can come from on this Worker: KV, the launcher's file, or nowhere (the bundle). */
interface TextSource {
  readonly location: string;
  read(): Promise<string | null>;
}

function textSourceOf(env: Readonly<Record<string, unknown>>): TextSource | undefined {
  const kv = env[CONFIG_KV_BINDING] as Partial<KvNamespaceLike> | undefined;
  if (kv && typeof kv.get === "function") {
    return {
      location: `${CONFIG_KV_BINDING}/${CONFIG_KV_KEY}`,
      read: () => (kv as KvNamespaceLike).get(CONFIG_KV_KEY, "text"),
    };
  }
  const file = env[CONFIG_FILE_BINDING] as Partial<FetcherLike> | undefined;
  if (file && typeof file.fetch === "function") {
    return {
      location: typeof env[CONFIG_PATH_BINDING] === "string" ? env[CONFIG_PATH_BINDING] : "the config file",
      read: async () => {
        const r = await (file as FetcherLike).fetch("http://config-file/");
        if (!r.ok) throw new Error(await r.text());
        return r.text();
      },
    };
  }
  return undefined;
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
    private readonly bundledVersion = "bundled",
  ) {
    this.current = { config: bundled, text: undefined, version: bundledVersion };
  }

  /** The bundled config with the version of its JSON (call once; the constructor cannot await). */
  static async create(bundled: Config, log: (line: string) => void, acceptable?: (config: Config) => string | undefined): Promise<KvConfigSource> {
    return new KvConfigSource(bundled, log, acceptable, Date.now, await configVersion(JSON.stringify(bundled)));
  }

  get config(): Config {
    return this.current.config;
  }

  get version(): string {
    return this.current.version;
  }

  /** Where the config is read from on this Worker, for status and messages. */
  location(env: Readonly<Record<string, unknown>>): string {
    return textSourceOf(env)?.location ?? "bundled config";
  }

  /** Whether other isolates read the same config (KV, the launcher's file). */
  shared(env: Readonly<Record<string, unknown>>): boolean {
    return textSourceOf(env) !== undefined;
  }

  /** Is a re-read due (a source exists and the refresh interval has passed)? */
  due(env: Readonly<Record<string, unknown>>): boolean {
    return textSourceOf(env) !== undefined && this.now() - this.lastRead >= refreshMs(env);
  }

  /**
   * Read now and take what changed into use (the Durable Object's path: it has nothing that could
   * refuse it). Resolves to the new version, or undefined when nothing changed.
   */
  async refresh(env: Readonly<Record<string, unknown>>, options: { strict?: boolean } = {}): Promise<ConfigVersion | undefined> {
    const next = await this.read(env, options);
    if (next) this.commit(next, env);
    return next;
  }

  /**
   * Read now; resolves to a config that differs from the one in use, without taking it into use:
   * a balancer may still refuse it (a reload of a restart-only key), and then the source must not
   * claim it (`commit` once it is served, `reject` if it will not be). `strict`: an invalid config
   * (or one that cannot be read) throws its problems instead of only being logged.
   */
  async read(env: Readonly<Record<string, unknown>>, options: { strict?: boolean } = {}): Promise<ConfigVersion | undefined> {
    const source = textSourceOf(env);
    this.lastRead = this.now();
    if (!source) return undefined;
    let text: string | null;
    try {
      text = await source.read();
    } catch (error) {
      const why = `reading ${source.location} failed (${error instanceof Error ? error.message : String(error)})`;
      this.log(`config: ${why}; keeping the config in use`);
      if (options.strict) throw new Error(why);
      return undefined;
    }
    const next = text ?? undefined;
    if (next === this.current.text) return undefined;
    if (next === this.rejected && !options.strict) return undefined;
    // The key was deleted: back to the bundled config.
    if (next === undefined) return { config: this.bundled, text: undefined, version: this.bundledVersion };
    try {
      const config = parseConfig(next, source.location);
      const problem = this.acceptable(config);
      if (problem) throw new ConfigError([problem], source.location);
      return { config, text: next, version: await configVersion(next) };
    } catch (error) {
      this.reject({ text: next }, error, source.location);
      if (options.strict) throw error;
      return undefined;
    }
  }

  /** `next` (from `read`) is what the balancer serves now. */
  commit(next: ConfigVersion, env: Readonly<Record<string, unknown>>): void {
    if (next.version === this.current.version && next.text === this.current.text) return;
    this.current = next;
    this.rejected = undefined;
    this.log(next.text === undefined ? `config: no ${this.location(env)}; using the bundled config` : `config: now from ${this.location(env)}`);
  }

  /** `next` will not be served: logged once, and not read again until the text changes. */
  reject(next: Pick<ConfigVersion, "text">, error: unknown, location: string): void {
    if (next.text !== this.rejected) {
      this.log(`config: ignoring ${location}, keeping the config in use: ${error instanceof Error ? error.message : String(error)}`);
    }
    this.rejected = next.text;
  }
}

function refreshMs(env: Readonly<Record<string, unknown>>): number {
  const s = Number(env.FULCRUM_CONFIG_REFRESH ?? DEFAULT_REFRESH_S);
  return (Number.isFinite(s) && s > 0 ? s : DEFAULT_REFRESH_S) * 1000;
}
