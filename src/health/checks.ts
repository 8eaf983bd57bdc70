/**
 * Runs the active health checks of every target group that configures them,
 * through the platform's own upstream client (so probes send the same Host
 * and never decompress), and logs each state transition once. Servers start
 * the timers; Workers call `runDue()` from requests and the cron trigger,
 * since an isolate has no timers outside a request.
 */
import type { Platform } from "../platform.ts";
import type { TargetGroup } from "../target-group.ts";
import { createProber, type Prober } from "./prober.ts";

export class HealthChecks {
  private readonly probers: { group: TargetGroup; prober: Prober; intervalMs: number; lastRun: number }[] = [];

  constructor(
    groups: Iterable<TargetGroup>,
    private readonly platform: Platform,
  ) {
    for (const group of groups) {
      group.health.onTransition((t) =>
        platform.log(`health: group=${group.name} target=${group.targets[t.index]!.url} ${t.from} -> ${t.to} (${t.reason})`),
      );
      const check = group.config.healthCheck;
      if (!check?.enabled) continue;
      const prober = createProber({
        targets: group.targets,
        config: check,
        fetch: (req, signal) => {
          const u = new URL(req.url);
          return platform.upstream({ origin: u.origin, path: u.pathname + u.search, method: req.method, headers: req.headers, body: null, signal, connectTimeoutMs: check.timeout * 1000 });
        },
        timers: {
          setTimeout: (fn, ms) => {
            const t = setTimeout(fn, ms);
            // Probes must not keep a stopping server alive.
            (t as unknown as { unref?: () => void }).unref?.();
            return t;
          },
          clearTimeout: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
        },
        now: platform.now,
        random: platform.random,
        onResult: (i, ok, detail) => group.health.recordProbe(i, ok, detail, platform.now()),
      });
      this.probers.push({ group, prober, intervalMs: check.interval * 1000, lastRun: -Infinity });
    }
  }

  get enabled(): boolean {
    return this.probers.length > 0;
  }

  /** Servers: probe now, then every interval (+ jitter), at most one probe in flight per target. */
  start(): void {
    for (const p of this.probers) p.prober.start();
  }

  stop(): void {
    for (const p of this.probers) p.prober.stop();
  }

  /** Workers: one round for each group whose interval has passed; resolves when they have reported. */
  runDue(): Promise<void> {
    const now = this.platform.now();
    const due = this.probers.filter((p) => now - p.lastRun >= p.intervalMs);
    for (const p of due) p.lastRun = now;
    return Promise.all(due.map((p) => p.prober.probeAllOnce())).then(() => {});
  }

  /** Workers' cron trigger: probe everything now. */
  runAll(): Promise<void> {
    const now = this.platform.now();
    for (const p of this.probers) p.lastRun = now;
    return Promise.all(this.probers.map((p) => p.prober.probeAllOnce())).then(() => {});
  }

  url(group: TargetGroup, i: number): string | undefined {
    return this.probers.find((p) => p.group === group)?.prober.url(i);
  }
}
