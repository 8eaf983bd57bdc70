/**
 * The balancer as it lives across configs: the platform, the metrics, the
 * target pool, the shared state store and its overrides, the change log, the
 * open WebSockets, the rate limiters, canaries and DNS discovery, their
 * periodic work (background.ts), and the current generation (generation.ts), swapped whole
 * when the config is reloaded or the store changes the target list. Runtime
 * adapters (src/runtimes/) build it with `createBalancer`, bind its listeners
 * and serve each one's app through `handler`; nothing here knows which
 * runtime it runs on.
 */
import { Hono } from "hono";
import type { ReloadResult, Status } from "../admin/api-schema.ts";
import { AdminError } from "../admin/ops.ts";
import { ConfigError } from "../config/load.ts";
import { type Config, listenerKey, listenersOf } from "../config/schema.ts";
import type { HealthChecks } from "../health/checks.ts";
import { createMetrics, type Metrics } from "../metrics/registry.ts";
import type { Platform } from "../platform.ts";
import type { HostWorkers } from "./host.ts";
import type { TargetGroup } from "../pool/group.ts";
import { TargetOverrides } from "../pool/overrides.ts";
import { TargetPool } from "../pool/pool.ts";
import { errorDetail } from "../proxy/errors.ts";
import { OpenWebSockets, SERVICE_RESTART } from "../proxy/websocket-registry.ts";
import { SnapshotCache } from "../state/cache.ts";
import { MemoryStateStore } from "../state/memory.ts";
import type { Snapshot, StateStore } from "../state/store.ts";
import { ChangeLog } from "./change-log.ts";
import { Background } from "./background.ts";
import { RateLimiters } from "../ratelimit/limiters.ts";
import { Canaries } from "../canary/controller.ts";
import { Discovery, sourceKey } from "../discovery/discovery.ts";
import type { DiscoverConfig } from "../discovery/schema.ts";
import { type ConfigSource, fixedConfigSource, type LoadedConfig } from "./config-source.ts";
import { actionOverridesOf, type Control, createControl } from "./control.ts";
import { type Handler, type ListenerHost, ServedApps } from "./served-apps.ts";
import { SerialQueue } from "./serial-queue.ts";
import { type ActionOverrides, buildGeneration, type Generation, unusableActions, withActions } from "./generation.ts";
import { healthView } from "./health-view.ts";
import { apiMode, listenerApps } from "./listener.ts";
import { overlay } from "./overlay.ts";
import { healthChecksFor } from "./probing.ts";
import { difference, planOverrides, reloadResult, restartOnly } from "./reload-plan.ts";
import { rulesOf, statusOf } from "./status.ts";

export interface ReloadOptions {
  /** The config to serve, already read (default: read the source). */
  readonly config?: LoadedConfig;
  /** Only when its version differs from the one served (a periodic re-read); resolves undefined otherwise. */
  readonly ifChanged?: boolean;
  /** Another instance's reload asked for it: do not ask the others again. */
  readonly fromOtherInstance?: boolean;
}

export interface BalancerOptions {
  /** Where the config came from, to re-read on reload. Default: the given config, fixed. */
  readonly source?: ConfigSource;
  /** The given config's version (`ConfigSource.read`). */
  readonly version?: string;
  /** Whether the runtime can give the admin API a port of its own (not Workers or Deno Deploy). Default true. */
  readonly secondPort?: boolean;
  /** This instance's name in the change log and status. Default: the runtime and a random id. */
  readonly instance?: string;
  /**
   * Present where this process is one of a host's workers, or their primary (`--workers`): the
   * host as a whole, for /metrics, the stats page and `fulcrum restart`.
   */
  readonly workers?: HostWorkers;
}

export class Balancer {
  readonly metrics: Metrics;
  readonly pool: TargetPool;
  /** Every relay open on this balancer (graceful shutdown closes them). */
  readonly sockets = new OpenWebSockets();
  /** Where runtime overrides persist (blue/green, canary weights, drains, targets): in memory unless the platform shares one. */
  readonly state: StateStore;
  /** The newest snapshot seen (pushed by the store, polled every cacheTtl by the health checks). */
  readonly snapshots: SnapshotCache;
  /** Set by the adapter when a shutdown starts; the health endpoint turns 503. */
  shuttingDown = false;
  /** Set on a worker a rolling restart is replacing: responses carry `Connection: close` (listener.ts). */
  closingConnections = false;
  /** Every change through the admin API, reloads and health verdicts (change-log.ts). */
  readonly changeLog: ChangeLog;
  /** Blue/green and canary changes, drains, weights, targets and reloads, through the state store (control.ts). */
  readonly control: Control;
  /** The rate limits of every config served, carried across reloads (ratelimit/limiters.ts). */
  readonly rateLimiters: RateLimiters;
  /** The automatic canaries of the config served (canary/controller.ts). */
  readonly canaries: Canaries;
  /** Targets found in DNS (discovery/discovery.ts), laid over the config like those added at run time. */
  private readonly discovery: Discovery;
  /** Start-up's lookups are done: what discovery finds from now on is a change. */
  private discovering = false;
  /** Periodic work beside the health checks: shared rate-limit counts, canary decisions (background.ts). */
  private readonly background: Background;
  readonly source: ConfigSource;
  /** The host's worker processes, when this is one of them or their primary. */
  readonly workers: HostWorkers | undefined;

  private file: LoadedConfig & { readonly loadedAt: number };
  private gen: Generation;
  /** Which app answers each listener, across reloads (served-apps.ts). */
  private readonly apps = new ServedApps(() => this.gen);
  private checks: HealthChecks;
  private checking = false;
  private actions: ActionOverrides = new Map();
  /** The last line reportUnusable logged, so that it says each change once. */
  private unusableReported = "";
  private readonly overrides: TargetOverrides;
  private readonly instanceId = crypto.randomUUID();
  private readonly secondPort: boolean;
  /** Generation builds run one at a time (reloads, target list changes). */
  private readonly builds = new SerialQueue();
  private cancelOverlayTimer = () => {};
  /** When the target list changes by itself next (a removal's time), for `due`. */
  private overlayDueAt: number | undefined;
  /** This instance is raising the store's reload count (its own reload, not another's to follow). */
  private announcing = false;
  private reloadsSeen: number | undefined;

  constructor(
    config: Config,
    readonly platform: Platform,
    options: BalancerOptions = {},
  ) {
    this.metrics = createMetrics({ now: platform.now });
    this.pool = new TargetPool(this.metrics);
    this.state = platform.state ?? new MemoryStateStore();
    this.snapshots = new SnapshotCache(this.state, (error) => platform.log(`state: applying a snapshot failed: ${errorDetail(error)}`));
    this.overrides = new TargetOverrides(platform, (target) => {
      const closed = target.closeSockets(SERVICE_RESTART, "target draining");
      if (closed > 0) platform.log(`drain: group=${target.group} target=${target.url}: deadline reached, ${closed} WebSocket(s) closed with 1012`);
    });
    this.source = options.source ?? fixedConfigSource(config);
    this.secondPort = options.secondPort ?? true;
    this.workers = options.workers;
    this.file = { config, version: options.version ?? "", loadedAt: Date.now() };
    const instance = options.instance ?? `${platform.runtime}-${this.instanceId.slice(0, 8)}`;
    this.changeLog = new ChangeLog(() => this.state, instance, platform.log);
    this.rateLimiters = new RateLimiters({ store: () => this.state, instance, now: platform.now, timer: platform.timer, log: platform.log });
    this.canaries = new Canaries({
      store: () => this.state,
      snapshot: () => this.snapshots.get(),
      offer: (s) => this.snapshots.offer(s),
      record: (entry) => this.changeLog.record(entry),
      instance,
      now: platform.now,
      timer: platform.timer,
      log: platform.log,
    });
    this.discovery = new Discovery({
      dns: platform.dns,
      now: platform.now,
      timer: platform.timer,
      log: platform.log,
      changed: (group, added, removed, name) => {
        // What start-up finds is the starting config (ready()), not a change.
        if (!this.discovering) return;
        for (const [kind, urls] of [["target add", added], ["target remove", removed]] as const) {
          for (const url of urls) void this.changeLog.record({ source: `dns ${name}`, kind, subject: `${group}/${url}` });
        }
        this.rebuild();
      },
    });
    this.discovery.configure(discoverOf(config), config.resolver);
    this.background = new Background([() => this.rateLimiters.due(), () => this.canaries.due()], platform.log);
    this.control = createControl(this);
    apiMode(config, this.secondPort);
    this.gen = this.build(config);
    this.canaries.configure(config);
    this.activate(this.gen, true);
    this.checks = this.healthChecksFor(this.gen);
    this.snapshots.onChange((snapshot) => this.applySnapshot(snapshot));
  }

  /** The generation serving now. */
  get current(): Generation {
    return this.gen;
  }

  /**
   * Periodic work follows requests (shared rate limits, canaries): a Worker asks for `due()` again
   * after each response, so that what the request counted is told even if none follows.
   */
  get periodic(): boolean {
    return this.rateLimiters.active || this.canaries.active;
  }

  /** The config served: the file's with the targets added and removed at run time. */
  get config(): Config {
    return this.gen.config;
  }

  /** The config as its source has it. */
  get fileConfig(): Config {
    return this.file.config;
  }

  /** The text of the config served, where its source has one (what a host's primary hands its workers). */
  get fileText(): string | undefined {
    return this.file.text;
  }

  /** Active health checks of the current config (started by server adapters; run from requests and cron on Workers). */
  get healthChecks(): HealthChecks {
    return this.checks;
  }

  group(name: string): TargetGroup {
    return this.gen.group(name);
  }

  /** Every group and target as the stats page and gauges show them. */
  readonly healthProvider = () => healthView(this.gen.groups.values(), this.checks, this.platform.now);

  /** The rules' actions and the change log, for the stats page. */
  readonly pageExtras = {
    rules: () => rulesOf(this.file.config, this.snapshots.get(), this.canaries.actions(this.snapshots.get())),
    events: () => this.changeLog.recent(20),
    canaries: () => this.canaries.status(),
  };

  /** The listener keys of the current config in config order, then the admin API's own listener if it has one. */
  listenerKeys(): string[] {
    return [...this.gen.apps.keys()];
  }

  /** The fetch handler of the listener `key`: whatever app the current config gives it. */
  handler(key: string): Handler {
    return this.apps.handler(key);
  }

  /** The first traffic listener's app (Workers serve one). */
  readonly fetch = (request: Request, env?: unknown, ctx?: unknown): Response | Promise<Response> => {
    const first = listenerKey(listenersOf(this.gen.config)[0]!, 0);
    return this.gen.apps.get(first)!.fetch(request, env as never, ctx as never);
  };

  /** Resolves when start-up work is done (sticky keys imported, the store's overrides applied); rejects on a bad secret. */
  async ready(): Promise<void> {
    // Discovered targets before the first request, as part of the starting config (no slow start).
    await this.discovery.resolveAll();
    const laid = overlay(this.file.config, this.snapshots.get(), Date.now(), this.discovery.targets);
    if (laid.key !== this.gen.overlayKey) {
      const next = this.build(this.file.config);
      await readyGroups(next);
      this.swap(next, true);
    }
    this.discovering = true;
    await readyGroups(this.gen);
    await this.snapshots.refresh();
    await this.settled();
  }

  /** Resolves when the generation builds asked for so far are done. */
  settled(): Promise<void> {
    return this.builds.settled();
  }

  /** A runtime's listeners, for reloads that change them. */
  attachListeners(host: ListenerHost): void {
    this.apps.attach(host);
  }

  status(): Status {
    return statusOf({
      instance: this.changeLog.instance,
      runtime: this.platform.runtime,
      file: { location: this.source.location, ...this.file },
      groups: this.gen.groups,
      report: this.healthProvider(),
      snapshot: this.snapshots.get(),
      canaries: this.canaries.actions(this.snapshots.get()),
      store: { kind: this.gen.config.state.store, reachable: this.checks.storeReachable },
      now: this.platform.now(),
      wallNow: Date.now(),
    });
  }

  /**
   * Re-read the config and serve it (nginx `-s reload`): validated first,
   * then built while the current one serves, then swapped in one step.
   * Targets that remain keep what the pool knows of them; new ones start per
   * `initialState`; removed ones finish what runs on them. Nothing changes
   * when the config is invalid or needs a restart (AdminError 422, with every
   * problem), or when a new listener cannot bind.
   */
  reload(by: string, options: ReloadOptions & { ifChanged: true }): Promise<ReloadResult | undefined>;
  reload(by: string, options?: ReloadOptions): Promise<ReloadResult>;
  reload(by: string, options: ReloadOptions = {}): Promise<ReloadResult | undefined> {
    return this.builds.run(() =>
      this.reloadNow(by, options).catch(async (error: unknown) => {
        // Refused (nothing changed): in the log and the change log too, not only in the answer to whoever asked.
        const problems = error instanceof AdminError && error.problems?.length ? error.problems : [];
        // An AdminError is a reason worded for the operator: its message, never a stack.
        const why = error instanceof AdminError ? error.message : errorDetail(error);
        this.platform.log(`reload by ${by} refused: ${why}${problems.length ? `\n  ${problems.join("\n  ")}` : ""}`);
        await this.changeLog.record({
          source: by,
          kind: "reload",
          subject: "config",
          before: this.file.version,
          after: "refused",
          detail: [why, ...problems].join("; "),
        });
        throw error;
      })
    );
  }

  /**
   * Start the health checks and the periodic work (servers; Workers run them from requests and
   * the cron trigger instead).
   */
  startTimers(): void {
    this.checking = true;
    this.checks.start();
    this.background.start();
    this.discovery.start();
  }

  stopTimers(): void {
    this.checking = false;
    this.checks.stop();
    this.background.stop();
    this.discovery.stop();
  }

  private async reloadNow(by: string, options: ReloadOptions): Promise<ReloadResult | undefined> {
    let loaded: LoadedConfig;
    try {
      loaded = options.config ?? await this.source.read();
    } catch (error) {
      if (error instanceof ConfigError) throw new AdminError(422, `${this.source.location}: invalid, nothing changed`, error.problems);
      throw new AdminError(422, `${error instanceof Error ? error.message : String(error)}; nothing changed`);
    }
    if (options.ifChanged && loaded.version === this.file.version) return undefined;
    const fromOtherInstance = options.fromOtherInstance ?? false;
    const refused = restartOnly(this.file.config, loaded.config, this.apps.bindsListeners);
    try {
      apiMode(loaded.config, this.secondPort);
    } catch (error) {
      refused.push((error as Error).message);
    }
    if (refused.length) throw new AdminError(422, `${this.source.location}: cannot be reloaded, nothing changed`, refused);
    const snapshot = this.snapshots.get();
    const plan = planOverrides(loaded.config, snapshot);
    const before = this.gen;
    let next: Generation;
    // Groups the new config adds or changes are looked up for it; they take over only if it is served.
    const staged = await this.discovery.prepare(discoverOf(loaded.config), loaded.config.resolver);
    try {
      next = this.build(loaded.config, staged.targets);
      await readyGroups(next);
    } catch (error) {
      throw new AdminError(422, `${this.source.location}: ${(error as Error).message}; nothing changed`);
    }
    let listeners: Awaited<ReturnType<ServedApps["prepare"]>>;
    try {
      listeners = await this.apps.prepare(next);
    } catch (error) {
      throw new AdminError(422, `${(error as Error).message}; nothing changed`);
    }
    const previousVersion = this.file.version;
    this.file = { ...loaded, loadedAt: Date.now() };
    staged.commit();
    this.swap(next);
    this.apps.retire(before, this.gen, listeners);
    if (plan.prune) {
      await this.state.update(plan.prune).then(
        (s) => this.snapshots.offer(s),
        (error: unknown) => this.platform.log(`reload: stale overrides not dropped: ${errorDetail(error)}`),
      );
    }
    if (this.source.shared && !fromOtherInstance) {
      // The other instances re-read the shared config now, not at their next refresh.
      this.announcing = true;
      await this.state.update((d) => void (d.reloads = (d.reloads ?? 0) + 1)).then((s) => this.snapshots.offer(s), () => {});
      this.announcing = false;
    }
    const urls = (g: Generation) => [...g.groups.values()].flatMap((group) => group.targets.map((t) => `${group.name}/${t.url}`));
    const result = reloadResult({
      location: this.source.location,
      previousVersion,
      version: loaded.version,
      targets: difference(urls(before), urls(this.gen)),
      listeners: { added: listeners?.added ?? [], removed: listeners?.removed ?? [] },
      plan,
    });
    const detail = [plan.kept.length ? `kept: ${plan.kept.join("; ")}` : "", plan.dropped.length ? `dropped: ${plan.dropped.join("; ")}` : ""].filter(Boolean);
    // One reload is one entry: the instance that was asked records it, those following it (a host's workers) do not.
    if (fromOtherInstance) return result;
    await this.changeLog.record({
      source: by,
      kind: "reload",
      subject: "config",
      before: previousVersion,
      after: loaded.version,
      ...(detail.length ? { detail: detail.join("; ") } : {}),
    });
    return result;
  }

  /** The generation of `file` with the store's target changes laid over it, its listener apps included. */
  private build(file: Config, discovered = this.discovery.targets): Generation {
    const laid = overlay(file, this.snapshots.get(), Date.now(), discovered);
    const gen = buildGeneration(laid.config, this, this.actions);
    return { ...gen, overlayKey: laid.key, apps: listenerApps(this, laid.config, this.secondPort) };
  }

  /**
   * Keep the target list in step with the store: a snapshot whose targets added or removed
   * differ from the current generation's rebuilds it, and a removal still to come sets a
   * timer for its time, since nothing else may change then.
   */
  private followOverlay(snapshot: Snapshot | undefined): void {
    const laid = overlay(this.file.config, snapshot, Date.now(), this.discovery.targets);
    if (laid.key !== this.gen.overlayKey) this.rebuild();
    this.cancelOverlayTimer();
    this.cancelOverlayTimer = () => {};
    this.overlayDueAt = laid.nextChangeAt;
    if (laid.nextChangeAt !== undefined) {
      this.cancelOverlayTimer = this.platform.timer(Math.max(0, laid.nextChangeAt - Date.now()) + 10, () => this.followOverlay(this.snapshots.get()));
    }
  }

  /**
   * Work a Worker must keep its request alive for (no timers outside requests there): a
   * removed target whose time has come, rebuilds still running, and periodic work that is due
   * (background.ts). Servers have timers.
   */
  due(): Promise<void> | undefined {
    if (this.overlayDueAt !== undefined && Date.now() >= this.overlayDueAt) {
      this.overlayDueAt = undefined;
      this.followOverlay(this.snapshots.get());
    }
    const periodic = this.background.due();
    const builds = this.builds.busy ? this.settled() : undefined;
    return periodic && builds ? Promise.all([periodic, builds]).then(() => {}) : (periodic ?? builds);
  }

  /** The store changed the target list (added, removed, a removal came due): the same file, a new generation. */
  private rebuild(): void {
    void this.builds.run(async () => {
      // Not on the caller's synchronous path (a Worker's `due()` runs in a request): the build starts after it.
      await Promise.resolve();
      const next = this.build(this.file.config);
      if (next.overlayKey === this.gen.overlayKey) return;
      await readyGroups(next);
      this.swap(next);
    }).catch((error: unknown) => this.platform.log(`state: target list change not applied: ${errorDetail(error)}`));
  }

  private activate(gen: Generation, fresh: boolean): void {
    for (const g of gen.groups.values()) {
      g.activate(fresh);
      g.health.onTransition((t) => this.changeLog.health(g.name, g.config.targets[t.index]?.name ?? g.targets[t.index]!.url, t));
      g.onFailover = (down, why) => this.changeLog.failover(g.name, g.config.fallbackGroup!, down, why);
    }
  }

  private swap(built: Generation, fresh = false): void {
    const before = this.gen;
    // Compiled with the actions of when its build began; one that came in meanwhile (a blue/green
    // switch during a reload's bind) must not be lost with the old generation. A new config may
    // start, change or end canaries, whose weights are actions too.
    this.canaries.configure(built.config);
    this.actions = this.actionsFrom(this.snapshots.get());
    const next = withActions(built, this.actions);
    this.reportUnusable(next.config);
    this.gen = next;
    this.activate(next, fresh);
    const listed = new Set([...next.groups.values()].flatMap((g) => g.targets));
    const retired = this.pool.retireAllBut(listed);
    this.checks.close();
    this.checks = this.healthChecksFor(next);
    if (this.checking) this.checks.start();
    const latest = this.snapshots.get();
    if (latest) this.overrides.apply(latest, next.groups.values());
    const added = [...listed].filter((t) => ![...before.groups.values()].some((g) => g.targets.includes(t)));
    this.platform.log(
      `config: now serving ${next.groups.size} group(s); ${added.length} target(s) added, ${retired.length} removed (they finish what runs on them)`,
    );
  }

  /**
   * The rules' actions as the store has them: the canaries' weights, and over them what operators
   * set (`fulcrum route` on a rule with a canary wins until `--config` gives it back).
   */
  private actionsFrom(snapshot: Snapshot | undefined): ActionOverrides {
    const operator = snapshot ? actionOverridesOf(snapshot, (line) => this.platform.log(line)) : new Map();
    const canary = this.canaries.actions(snapshot);
    if (canary.size === 0) return operator;
    for (const [rule, action] of operator) canary.set(rule, action);
    return canary;
  }

  /** Overrides this config cannot run (they name a group it lacks) are not applied; say so once per change. */
  private reportUnusable(config: Config): void {
    const unusable = [...unusableActions(config, this.actions)].map(([rule, why]) => `rule ${rule} (${why})`).join(", ");
    if (unusable && unusable !== this.unusableReported) {
      this.platform.log(`state: action overrides not applied here, the rule keeps its config action: ${unusable}`);
    }
    this.unusableReported = unusable;
  }

  private healthChecksFor(gen: Generation): HealthChecks {
    return healthChecksFor(gen.config, gen.groups.values(), this.platform, this.state, this.snapshots, this.instanceId);
  }

  /** A snapshot from the store (written by this or another instance): rule actions, weights, drains, the target list. */
  private applySnapshot(snapshot: Snapshot): void {
    this.canaries.follow(snapshot);
    const actions = this.actionsFrom(snapshot);
    if (!sameActions(actions, this.actions)) {
      this.actions = actions;
      this.gen = withActions(this.gen, actions);
      this.reportUnusable(this.gen.config);
    }
    this.overrides.apply(snapshot, this.gen.groups.values());
    this.followOverlay(snapshot);
    const reloads = snapshot.reloads ?? 0;
    if (this.source.shared && this.reloadsSeen !== undefined && reloads > this.reloadsSeen && !this.announcing) {
      // A refusal is logged, with its reason, by reload itself.
      void this.reload("a reload on another instance", { fromOtherInstance: true }).catch(() => {});
    }
    this.reloadsSeen = Math.max(this.reloadsSeen ?? 0, reloads);
  }
}

/** Every DNS name a group finds targets by, keyed `group#n` (discovery/discovery.ts `sourceKey`). */
function discoverOf(config: Config): Map<string, DiscoverConfig> {
  return new Map(Object.entries(config.targetGroups).flatMap(([name, g]) => g.discover.map((d, i) => [sourceKey(name, i), d] as const)));
}

/** The groups' stickiness keys imported; a bad secret is a start-up error naming its field. */
async function readyGroups(gen: Generation): Promise<void> {
  await Promise.all([...gen.groups.values()].map((g) => g.stickiness));
  const failed = [...gen.groups.values()].find((g) => g.stickinessFailure);
  if (failed) throw new Error(`targetGroups.${failed.name}.stickiness: ${failed.stickinessFailure!.message}`);
}

function sameActions(a: ActionOverrides, b: ActionOverrides): boolean {
  return a.size === b.size && [...a].every(([k, action]) => JSON.stringify(b.get(k)) === JSON.stringify(action));
}

export type BalancerApp = Hono & { readonly balancer: Balancer };

/** The balancer and, as a Hono app, its first listener (what Workers serve and tests call). */
export function createBalancer(config: Config, platform: Platform, options: BalancerOptions = {}): BalancerApp {
  const balancer = new Balancer(config, platform, options);
  const app = new Hono();
  app.fetch = (request, env, ctx) => balancer.fetch(request, env, ctx);
  return Object.assign(app, { balancer });
}
