/**
 * Targets found in DNS (a group's `discover`): each address of a name's A/AAAA
 * records at the configured port, or each SRV record's host and port (its
 * weight the target's), re-resolved when the records' TTL runs out, within
 * the resolver's minTtl and maxTtl. The targets are ordinary ones: the
 * balancer lays them over the config (app/overlay.ts), so health checks,
 * passive checks, slow start and draining apply to them, unlike Caddy's
 * dynamic upstreams (caddy#7036, #7037). A change of the set rebuilds the
 * generation; targets that left finish what runs on them. A resolution that
 * fails keeps the last answer (fail static) and is retried after minTtl.
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
  /** Resolutions started for this config: one in flight at a time. */
  running: Promise<void> | undefined;
}

const nameOf = (d: DiscoverConfig) => (d.dns ?? d.srv)!;
const hostPort = (address: string, port: number) => (address.includes(":") ? `[${address}]:${port}` : `${address}:${port}`);

export class Discovery {
  private readonly groups = new Map<string, Found>();
  private resolver: ResolverConfig = { minTtl: 1, maxTtl: 300, timeout: 2 };
  private dns: DnsResolver | undefined;
  private running = false;

  constructor(private readonly deps: DiscoveryDeps) {}

  /** The discovered targets of each group, for the overlay. */
  readonly targets = (group: string): readonly TargetConfig[] => this.groups.get(group)?.targets ?? [];

  /** The groups that discover and how; groups whose `discover` is unchanged keep what they found. */
  configure(discover: ReadonlyMap<string, DiscoverConfig>, resolver: ResolverConfig): void {
    if (this.dns === undefined || JSON.stringify(resolver) !== JSON.stringify(this.resolver)) {
      this.dns = this.deps.dns?.(resolver.servers, resolver.timeout * 1000);
    }
    this.resolver = resolver;
    for (const [group, found] of this.groups) {
      const next = discover.get(group);
      if (next === undefined || JSON.stringify(next) !== JSON.stringify(found.config)) {
        found.cancel();
        this.groups.delete(group);
      }
    }
    for (const [group, config] of discover) {
      if (this.groups.has(group)) continue;
      this.groups.set(group, { config, targets: [], cancel: () => {}, failing: false, running: undefined });
      if (this.running) void this.resolve(group);
    }
  }

  /** Resolve every group now (start-up, a reload); later resolutions follow on timers while running. */
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

  private async lookup(group: string, found: Found): Promise<void> {
    const resolver = this.dns;
    const name = nameOf(found.config);
    let nextMs = this.resolver.minTtl * 1000;
    if (resolver === undefined) {
      this.deps.log(`discover: group ${group}: this runtime has no DNS resolver; ${name} is not resolved`);
      return;
    }
    try {
      const { targets, ttl } = await this.answer(resolver, found.config);
      nextMs = Math.min(this.resolver.maxTtl, Math.max(this.resolver.minTtl, ttl)) * 1000;
      if (this.groups.get(group) !== found) return;
      if (found.failing) this.deps.log(`discover: group ${group}: ${name} resolves again`);
      found.failing = false;
      const before = new Set(found.targets.map((t) => t.url));
      const after = new Set(targets.map((t) => t.url));
      const added = [...after].filter((u) => !before.has(u));
      const removed = [...before].filter((u) => !after.has(u));
      found.targets = targets;
      if (added.length > 0 || removed.length > 0) this.deps.changed(group, added, removed, name);
    } catch (error) {
      if (!found.failing) {
        this.deps.log(
          `discover: group ${group}: resolving ${name} failed, keeping its ${found.targets.length} target(s) until it works: ${
            error instanceof Error ? error.message : String(error)
          }`,
        );
      }
      found.failing = true;
    } finally {
      if (this.running && this.groups.get(group) === found) {
        found.cancel();
        found.cancel = this.deps.timer(nextMs, () => void this.resolve(group));
      }
    }
  }

  /** The targets a config's records give now, and the seconds they may be kept. */
  private async answer(resolver: DnsResolver, d: DiscoverConfig): Promise<{ targets: TargetConfig[]; ttl: number }> {
    const target = (host: string, weight: number): TargetConfig => ({ url: `${d.scheme}://${host}`, weight, backup: false, drain: false });
    if (d.dns !== undefined) {
      const [a, aaaa] = await Promise.all([resolver.a(d.dns), resolver.aaaa(d.dns)]);
      const records = [...a, ...aaaa];
      return { targets: records.map((r) => target(hostPort(r.address, d.port!), d.weight)), ttl: Math.min(...records.map((r) => r.ttl), this.resolver.maxTtl) };
    }
    // SRV: the lowest priority in use (RFC 2782: higher ones are for when those fail; the balancer's health does that), each host's addresses.
    const srv = await resolver.srv(d.srv!);
    const best = Math.min(...srv.map((r) => r.priority));
    const chosen = srv.filter((r) => r.priority === best);
    const hosts = await Promise.all(chosen.map(async (r) => ({ r, addresses: [...(await resolver.a(r.name)), ...(await resolver.aaaa(r.name))] })));
    // SRV weight 0 is "very rarely" (RFC 2782), not never: the least weight here.
    const targets = hosts.flatMap(({ r, addresses }) => addresses.map((a) => target(hostPort(a.address, r.port), Math.max(1, Math.min(1000, r.weight)))));
    // SRV answers carry no TTL here (node:dns resolveSrv): the addresses' bound the next look.
    const ttl = Math.min(...hosts.flatMap((h) => h.addresses.map((a) => a.ttl)), this.resolver.maxTtl);
    return { targets: dedupe(targets), ttl };
  }
}

/** One target per URL (two SRV records naming the same host and port). */
function dedupe(targets: TargetConfig[]): TargetConfig[] {
  const seen = new Set<string>();
  return targets.filter((t) => !seen.has(t.url) && (seen.add(t.url), true));
}
