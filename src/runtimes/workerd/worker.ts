/**
 * Cloudflare Workers entry. The config is bundled at build time: the Worker's
 * main module imports it (see wrangler.toml `[alias]`) and calls
 * `createWorker(config)`; a config in Workers KV replaces it without a
 * redeploy (kv-config.ts). TLS ends at Cloudflare's edge; the client address is
 * `CF-Connecting-IP`, which Cloudflare sets (and which is whatever a local
 * client sent under `wrangler dev`).
 */
import { getConnInfo } from "hono/cloudflare-workers";
import { type BalancerApp, createBalancer } from "../../app/balancer.ts";
import { validateConfig } from "../../config/load.ts";
import type { Config } from "../../config/schema.ts";
import { KvConfigSource } from "./kv-config.ts";
import type { ConfigSource } from "../../app/config-source.ts";
import { apiMode } from "../../app/listener.ts";
import { LOCAL_CLIENT_IP } from "./bindings.ts";
import { storeUnavailable } from "../../state/open.ts";
import { commonPlatform, type Geo, type Platform } from "../../platform.ts";
import { fetchUpstream } from "../upstream/fetch.ts";
import { fetchPipe, pairAccept } from "../../proxy/websocket-standard.ts";
import type { StateConfig } from "../../state/schema.ts";
import type { StateStore } from "../../state/store.ts";

/**
 * The stores a Worker can open. Synchronous: bindings are plain objects on
 * `env`, and the isolate builds its balancer inside the first request.
 */
export interface WorkerStores {
  readonly cloudflare?: (config: Extract<StateConfig, { store: "cloudflare" }>, env: Record<string, unknown>) => StateStore;
}

type ExecutionContext = import("hono").ExecutionContext;

/** workerd's stream that declares its length to whoever sends it (Workers runtime API). */
declare const FixedLengthStream: new (length: number) => { readonly readable: ReadableStream<Uint8Array>; readonly writable: WritableStream<Uint8Array> };

/** A JavaScript stream body with its length kept: cut short, it errors visibly (Platform.fixedLength). */
function fixedLength(body: ReadableStream<Uint8Array>, length: number): ReadableStream<Uint8Array> {
  const framed = new FixedLengthStream(length);
  body.pipeTo(framed.writable).catch(() => {});
  return framed.readable;
}

/** The balancer an isolate serves with: it lives as long as the isolate, across configs from KV. */
interface Live {
  readonly app: BalancerApp;
  /** Start-up work (sticky keys, the shared store's first snapshot): the first requests wait for it. */
  readonly ready: Promise<void>;
  started: boolean;
}

/** Where Cloudflare says the client is (request.cf), for geo rule conditions. */
function cfGeo(request: Request): Geo | undefined {
  const cf = (request as { cf?: Record<string, unknown> }).cf;
  if (cf === undefined) return undefined;
  const code = (x: unknown) => (typeof x === "string" && x !== "" ? x.toUpperCase() : undefined);
  return { country: code(cf.country), continent: code(cf.continent), region: code(cf.regionCode), colo: code(cf.colo) };
}

export function createWorker(configInput: unknown, stores: WorkerStores = {}) {
  // Validate at module load so that a bad config fails `wrangler dev`/`deploy`, not the first request.
  const bundled = validateConfig(configInput, "bundled config");
  const storeProblem = (config: Config): string | undefined => {
    const unavailable = storeUnavailable(config.state.store, "workerd", stores.cloudflare ? ["cloudflare"] : []);
    return unavailable && `state.store: ${unavailable}`;
  };
  const problem = storeProblem(bundled);
  if (problem) throw new Error(`bundled config: ${problem}`);
  // A Worker has one port: an admin API with a listener of its own is a config error here.
  apiMode(bundled, false);
  const log = (line: string) => console.log(line);
  // Made in the first request: a Worker's global scope may not hash or draw random numbers.
  let source: KvConfigSource;
  let instance: string;

  /** What a reload through the API reads: KV (or the launcher's file) now, its problems thrown. */
  const configSource = (env: Record<string, unknown>): ConfigSource => ({
    location: source.location(env),
    shared: source.shared(env),
    async read() {
      // Not taken into use here: the balancer may still refuse it; the next refresh commits what it serves.
      const next = await source.read(env, { strict: true });
      return next ? { config: next.config, version: next.version } : { config: source.config, version: source.version };
    },
  });

  // One balancer per isolate: health, counters and sticky keys live as long as the isolate.
  const build = (config: Config, env: Record<string, unknown>): Live => {
    const platform: Platform = {
      ...commonPlatform,
      runtime: "workerd",
      upstream: fetchUpstream(undefined, { immutableResponses: true, decodesBodies: true, passSmallBodies: true }),
      // CF-Connecting-IP: Cloudflare's edge sets it; a local run believes it only when told to (serve-workerd.ts, LOCAL_CLIENT_IP).
      clientAddress: env[LOCAL_CLIENT_IP] === "unknown" ? () => undefined : (c) => getConnInfo(c).remote.address,
      fixedLength,
      // Its fetch and request bodies come in 4 KiB chunks; reads of 256 KiB take what has arrived.
      streamReadSize: 256 * 1024,
      // Upstream through fetch + Upgrade (Host is always the target's there); the target's socket is handed
      // to the client and workerd joins the two with backpressure (no bufferedAmount to bound a JS relay).
      websocket: { connect: fetchPipe, accept: (_c, init) => pairAccept(init) },
      env,
      log,
      // A mirror's copy outlives its request's response.
      background: (c, work) => c.executionCtx.waitUntil(work),
      geo: cfGeo,
      ...(config.state.store === "cloudflare" ? { state: stores.cloudflare!(config.state, env) } : {}),
    };
    const app = createBalancer(config, platform, { source: configSource(env), version: source.version, secondPort: false, instance });
    const live: Live = {
      app,
      // A Worker has no start-up to fail: a store that cannot be read yet leaves the config's state (fail static).
      ready: app.balancer.ready().then(
        () => void (live.started = true),
        (error: unknown) => {
          live.started = true;
          log(`fulcrum: start-up: ${error instanceof Error ? error.message : String(error)}`);
        },
      ),
      started: false,
    };
    return live;
  };

  let live: Live | undefined;
  let first: Promise<Live> | undefined;
  const liveFor = (env: Record<string, unknown>): Promise<Live> => (first ??= (async () => {
    source = await KvConfigSource.create(bundled, log, storeProblem);
    instance = `workerd-${crypto.randomUUID().slice(0, 8)}`;
    await source.refresh(env);
    return (live = build(source.config, env));
  })());
  /**
   * A changed config in KV: the isolate's balancer reloads it, keeping what it
   * knows of every target the new config still lists (health, in-flight
   * counts); requests in flight finish on the config they started with. Only a
   * change of the state store needs a new balancer.
   */
  const reload = (env: Record<string, unknown>) =>
    source.read(env).then(async (next) => {
      if (!next || !live) return;
      if (JSON.stringify(live.app.balancer.fileConfig.state) === JSON.stringify(next.config.state)) {
        // Already served when `fulcrum reload` applied it (ifChanged: nothing to do); the source only learns it here.
        const applied = await live.app.balancer.reload(`${source.location(env)} refresh`, { config: next, ifChanged: true }).then(
          () => true,
          (error: unknown) => (source.reject(next, error, source.location(env)), false),
        );
        if (applied) source.commit(next, env);
        return;
      }
      const fresh = build(next.config, env);
      await fresh.ready;
      live = fresh;
      source.commit(next, env);
    });

  const serve = (l: Live, request: Request, env: Record<string, unknown>, ctx: ExecutionContext): Response | Promise<Response> => {
    // No timers outside a request on Workers: probes that are due run after the response, and what
    // they set off (a target list a snapshot changed, a removal that came due) with them.
    const balancer = l.app.balancer;
    const probing = balancer.healthChecks.enabled ? balancer.healthChecks.runDue() : undefined;
    if (probing) ctx.waitUntil(probing.finally(() => balancer.settled()));
    // A rebuild that came due starts after this request's own synchronous work (Balancer.rebuild); it is kept alive here.
    const due = balancer.due();
    if (due) ctx.waitUntil(due);
    if (source.due(env)) ctx.waitUntil(reload(env));
    const answer = l.started ? l.app.fetch(request, env, ctx) : l.ready.then(() => l.app.fetch(request, env, ctx));
    if (!balancer.periodic) return answer;
    // What this request counted (a shared rate limit, a canary's step) is told after it, even if no request follows.
    return Promise.resolve(answer).then((response) => {
      const after = balancer.due();
      if (after) ctx.waitUntil(after);
      return response;
    });
  };

  return {
    fetch(request: Request, env: Record<string, unknown>, ctx: ExecutionContext): Response | Promise<Response> {
      return live ? serve(live, request, env, ctx) : liveFor(env).then((l) => serve(l, request, env, ctx));
    },
    /** Cron trigger (wrangler.toml `[triggers] crons`): probe every target even when no traffic arrives. */
    scheduled(_event: unknown, env: Record<string, unknown>, ctx: ExecutionContext): void {
      ctx.waitUntil(liveFor(env).then((l) => (source.due(env) ? reload(env) : Promise.resolve()).then(() => (live ?? l).app.balancer.healthChecks.runAll())));
    },
  };
}
