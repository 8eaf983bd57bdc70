/**
 * Targets found in DNS (a group's `discover`): each address of a name's A/AAAA
 * records at the configured port, or each SRV record's host and port (its
 * weight the target's; higher priorities as backups, RFC 2782), looked up
 * again when the records' TTL runs out, within the resolver's minTtl and
 * maxTtl. The targets are ordinary ones: the balancer lays them over the
 * config (app/overlay.ts), so health checks, passive checks, slow start and
 * draining apply to them, unlike Caddy's dynamic upstreams (caddy#7036,
 * #7037). A change of the set rebuilds the generation; targets that left
 * finish what runs on them. A lookup that fails keeps the last answer (fail
 * static) and is tried again after minTtl, as is an empty answer.
 *
 * A reload stages the groups it adds or changes (`prepare`): they are looked
 * up for the new config to serve, and take over only when it does
 * (`commit`); a refused reload leaves discovery as it was.
 */
import type { TargetConfig } from "../config/schema.ts";
import type { DnsResolver } from "../platform.ts";
import type { DiscoverConfig, ResolverConfig } from "./schema.ts";

export interface DiscoveryDeps {
  /** The runtime's DNS (Platform.dns); absent where it has none. */
  readonly dns: ((servers: readonly string[] | undefined, timeoutMs: number) => DnsResolver) | undefined;
  readonly now: () => number;
  readonly timer: (ms: number, fire: () => void) => () => void;
  readonly log: (line: string) => void;
  /** The targets of a group changed: rebuild what is served. */
  readonly changed: (group: string, added: readonly string[], removed: readonly string[], from: string) => void;
}

interface Found {
  readonly config: DiscoverConfig;
  targets: TargetConfig[];
  cancel: () => void;
  failing: boolean;
  /** The lookup in flight, one at a time. */
  running: Promise<void> | undefined;
}

/** A config's groups, looked up, not yet serving. */
export interface Staged {
  readonly targets: (group: string) => readonly TargetConfig[];
  commit(): void;
}

const nameOf = (d: DiscoverConfig) => (d.dns ?? d.srv)!;

/** One DNS name of a group (a group may find targets by several): `group#n`. */
export const sourceKey = (group: string, n: number) => `${group}#${n}`;
const groupOf = (key: string) => (key.includes("#") ? key.slice(0, key.lastIndexOf("#")) : key);
const DEFAULT: ResolverConfig = { minTtl: 1, maxTtl: 300, timeout: 2 };

export class Discovery {
  /** By source key (`sourceKey`): each DNS name of each group. */
  private groups = new Map<string, Found>();
  private resolver: ResolverConfig = DEFAULT;
  private dns: DnsResolver | undefined;
  private running = false;

  constructor(private readonly deps: DiscoveryDeps) {}

  /** The discovered targets of each group (all its names'), for the overlay. */
  readonly targets = (group: string): readonly TargetConfig[] => gather(this.groups, group);

  /** Start with these groups (the balancer's first config). */
  configure(discover: ReadonlyMap<string, DiscoverConfig>, resolver: ResolverConfig): void {
    this.resolver = resolver;
    this.dns = this.deps.dns?.(resolver.servers, resolver.timeout * 1000);
    for (const [group, config] of discover) this.groups.set(group, fresh(config));
  }

  /**
   * The groups of a config about to be served: those it keeps unchanged as they are, those it adds
   * or changes looked up now. Nothing changes until `commit`.
   */
  async prepare(discover: ReadonlyMap<string, DiscoverConfig>, resolver: ResolverConfig): Promise<Staged> {
    const sameResolver = JSON.stringify(resolver) === JSON.stringify(this.resolver);
    const dns = sameResolver ? this.dns : this.deps.dns?.(resolver.servers, resolver.timeout * 1000);
    const next = new Map<string, Found>();
    const looked: Promise<void>[] = [];
    for (const [group, config] of discover) {
      const kept = this.groups.get(group);
      if (kept !== undefined && sameResolver && JSON.stringify(kept.config) === JSON.stringify(config)) {
        next.set(group, kept);
        continue;
      }
      const found = fresh(config);
      // What the group had, until the new lookup answers (fail static across a reload too).
      if (kept !== undefined) found.targets = kept.targets;
      next.set(group, found);
      if (dns !== undefined) looked.push(this.answer(dns, config, resolver).then((a) => void (found.targets = a.targets), () => {}));
    }
    await Promise.all(looked);
    return {
      targets: (group) => gather(next, group),
      commit: () => {
        for (const [group, f] of this.groups) if (next.get(group) !== f) f.cancel();
        this.groups = next;
        this.resolver = resolver;
        this.dns = dns;
        if (this.running) { for (const [group, f] of next) if (f.running === undefined) this.schedule(group, f, resolver.minTtl * 1000); }
      },
    };
  }

  /** Look every group up now (start-up); later lookups follow on timers while running. */
  async resolveAll(): Promise<void> {
    await Promise.all([...this.groups.keys()].map((g) => this.resolve(g)));
  }

  start(): void {
    this.running = true;
    for (const g of this.groups.keys()) void this.resolve(g);
  }

  stop(): void {
    this.running = false;
    for (const f of this.groups.values()) f.cancel();
  }

  private resolve(group: string): Promise<void> {
    const found = this.groups.get(group);
    if (found === undefined) return Promise.resolve();
    return (found.running ??= this.lookup(group, found).finally(() => (found.running = undefined)));
  }

  private schedule(group: string, found: Found, ms: number): void {
    found.cancel();
    found.cancel = this.deps.timer(ms, () => void this.resolve(group));
  }

  private async lookup(group: string, found: Found): Promise<void> {
    const resolver = this.dns;
    const name = nameOf(found.config);
    let nextMs = this.resolver.minTtl * 1000;
    if (resolver === undefined) {
      this.deps.log(`discover: group ${groupOf(group)}: this runtime has no DNS resolver; ${name} is not resolved`);
      return;
    }
    try {
      const { targets, ttl } = await this.answer(resolver, found.config, this.resolver);
      nextMs = ttl * 1000;
      if (this.groups.get(group) !== found) return;
      if (found.failing) this.deps.log(`discover: group ${groupOf(group)}: ${name} resolves again`);
      found.failing = false;
      const key = (t: TargetConfig) => `${t.url} ${t.weight} ${t.backup}`;
      const before = new Set(found.targets.map(key));
      const after = new Set(targets.map(key));
      if (before.size === after.size && [...after].every((k) => before.has(k))) return;
      const urls = (list: TargetConfig[]) => new Set(list.map((t) => t.url));
      const [was, is] = [urls(found.targets), urls(targets)];
      found.targets = targets;
      this.deps.changed(groupOf(group), [...is].filter((u) => !was.has(u)), [...was].filter((u) => !is.has(u)), name);
    } catch (error) {
      if (!found.failing) {
        const detail = error instanceof Error ? error.message : String(error);
        this.deps.log(`discover: group ${groupOf(group)}: resolving ${name} failed, keeping its ${found.targets.length} target(s) until it works: ${detail}`);
      }
      found.failing = true;
    } finally {
      if (this.running && this.groups.get(group) === found) this.schedule(group, found, nextMs);
    }
  }

  /**
   * The targets a config's records give now, sorted (the order of an answer is no change), and the
   * seconds until the next look: the records' TTL within the bounds; minTtl for an empty answer.
   * One query failing (a server without AAAA) spoils nothing as long as another answers.
   */
  private async answer(resolver: DnsResolver, d: DiscoverConfig, bounds: ResolverConfig): Promise<{ targets: TargetConfig[]; ttl: number }> {
    const target = (host: string, port: number, weight: number, backup: boolean): TargetConfig => ({
      url: new URL(`${d.scheme}://${host.includes(":") ? `[${host}]` : host}:${port}`).origin,
      weight,
      backup,
      drain: false,
    });
    const addresses = async (name: string) => {
      const answers = await Promise.allSettled([resolver.a(name), resolver.aaaa(name)]);
      const ok = answers.flatMap((a) => (a.status === "fulfilled" ? [...a.value] : []));
      const failed = answers.find((a): a is PromiseRejectedResult => a.status === "rejected");
      // Nothing but a failure is a failure (the last answer is kept); an answer from either is one.
      if (ok.length === 0 && failed !== undefined) throw failed.reason;
      return ok;
    };
    let found: { targets: TargetConfig[]; ttls: number[] };
    if (d.dns !== undefined) {
      const records = await addresses(d.dns);
      found = { targets: records.map((r) => target(r.address, d.port!, d.weight, false)), ttls: records.map((r) => r.ttl) };
    } else {
      // SRV: the lowest priority in use as the primaries, the others as backups (RFC 2782: used when those fail).
      const srv = await resolver.srv(d.srv!);
      const best = Math.min(...srv.map((r) => r.priority));
      const hosts = await Promise.allSettled(srv.map(async (r) => ({ r, addresses: await addresses(r.name) })));
      const answered = hosts.flatMap((h) => (h.status === "fulfilled" ? [h.value] : []));
      if (answered.length === 0 && hosts.length > 0) throw (hosts[0] as PromiseRejectedResult).reason;
      found = {
        // SRV weight 0 means "very rarely" (RFC 2782); the least weight here is 1.
        targets: answered.flatMap(({ r, addresses }) =>
          addresses.map((a) => target(a.address, r.port, Math.max(1, Math.min(1000, r.weight)), r.priority !== best))
        ),
        // SRV answers carry no TTL here (node:dns resolveSrv): their hosts' addresses bound the next look.
        ttls: answered.flatMap((h) => h.addresses.map((a) => a.ttl)),
      };
    }
    const seen = new Set<string>();
    const targets = found.targets.filter((t) => !seen.has(t.url) && (seen.add(t.url), true)).sort((a, b) => (a.url < b.url ? -1 : a.url > b.url ? 1 : 0));
    const ttl = targets.length === 0 ? bounds.minTtl : Math.min(bounds.maxTtl, Math.max(bounds.minTtl, ...[Math.min(...found.ttls)]));
    return { targets, ttl };
  }
}

/** A group's targets from all its names, each URL once. */
function gather(sources: ReadonlyMap<string, Found>, group: string): TargetConfig[] {
  const out: TargetConfig[] = [];
  const seen = new Set<string>();
  for (const [key, f] of sources) {
    if (groupOf(key) !== group) continue;
    for (const t of f.targets) if (!seen.has(t.url)) (seen.add(t.url), out.push(t));
  }
  return out;
}

function fresh(config: DiscoverConfig): Found {
  return { config, targets: [], cancel: () => {}, failing: false, running: undefined };
}
