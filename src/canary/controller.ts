/**
 * Automatic canaries: each instance measures the canary and stable groups of
 * every canary rule over the current step and publishes its tallies through
 * the state store (`report`); one instance, the holder of the rule's lease
 * (as one instance probes a group), adds every instance's tallies up, judges
 * the step (analysis.ts) and writes where the canary stands into the
 * snapshot; every instance lays the weight it finds there over the rule's
 * action. So the instances agree, and the verdict is on all the traffic, not
 * the decider's share. Flagger and Argo Rollouts do this from Prometheus in
 * Kubernetes; here the balancer measures what it forwards itself.
 *
 * Each decision that moves the weight lands in the change log with the
 * numbers it was taken on; operators pause, resume, promote or abort
 * (`fulcrum canary`) through the same record.
 */
import type { CanaryView } from "../admin/api-schema.ts";
import type { CanaryCommand } from "../admin/ops.ts";
import type { Config } from "../config/schema.ts";
import type { ActionConfig } from "../rules/schema.ts";
import type { CanaryRecord, ChangeEvent, Snapshot, StateStore } from "../state/store.ts";
import type { CanaryMeasures } from "../../routes/proxy.ts";
import { judge } from "./analysis.ts";
import { isTallyData, type Side, sideOf, Tally, type TallyData } from "./measure.ts";
import { type Plan, plansOf, weighted } from "./plans.ts";

/** How often instances publish their tallies and the decider looks. */
const TICK_MS = 1000;
/** A decider that stops is replaced within this. */
const LEASE_MS = 5000;
/**
 * How long an instance's tallies count without being published again: a Worker publishes only
 * when it has requests, and an idle one's requests of the step still count.
 */
const REPORT_MS = 10 * 60_000;

export interface CanaryDeps {
  readonly store: () => Pick<StateStore, "report" | "reports" | "tryAcquireLease" | "update">;
  /** The newest snapshot this instance has. */
  readonly snapshot: () => Snapshot | undefined;
  /** Apply a snapshot this instance wrote. */
  readonly offer: (s: Snapshot) => void;
  readonly record: (entry: Omit<ChangeEvent, "at" | "instance">) => Promise<void>;
  readonly instance: string;
  readonly now: () => number;
  readonly timer: (ms: number, fire: () => void) => () => void;
  readonly log: (line: string) => void;
}

/** One step's measurement on this instance. */
interface Measuring {
  readonly window: number;
  readonly plan: string;
  /** The canary group. */
  readonly group: string;
  readonly canary: Tally;
  readonly stable: Tally;
  /** Requests (both sides) in the last tally published. */
  published: number;
}

interface Published {
  readonly window: number;
  readonly plan: string;
  readonly canary: TallyData;
  readonly stable: TallyData;
}

export class CanaryError extends Error {
  constructor(
    readonly status: 404 | 409 | 503,
    message: string,
  ) {
    super(message);
  }
}

export class Canaries implements CanaryMeasures {
  private plans: Plan[] = [];
  private readonly measuring = new Map<string, Measuring>();
  private nextTick = 0;
  private running: Promise<void> | undefined;

  constructor(private readonly deps: CanaryDeps) {}

  /** Whether `rule` (a priority as text, or "default") has a canary in the config served. */
  has(rule: string): boolean {
    return this.plans.some((p) => p.rule === rule);
  }

  /** Some canary runs: there is periodic work. */
  get active(): boolean {
    return this.plans.length > 0;
  }

  /** The canaries of the config now served: what to measure. */
  configure(config: Config): void {
    this.plans = plansOf(config);
    this.follow(this.deps.snapshot());
  }

  observe(rule: number | undefined, chosen: string, served: string, status: number, ms: number): void {
    const m = this.measuring.get(rule === undefined ? "default" : String(rule));
    // A client that left (499) says nothing of either side.
    if (m === undefined || status === 499) return;
    if (chosen !== m.group) m.stable.record(status, ms);
    // The canary group failed over to its fallback: the canary could not serve it.
    else m.canary.record(served === chosen ? status : 503, ms);
  }

  /** A snapshot arrived: a canary that moved to another step measures afresh. */
  follow(snapshot: Snapshot | undefined): void {
    for (const p of this.plans) {
      const r = recordOf(snapshot, p);
      const m = this.measuring.get(p.rule);
      if (r === undefined) this.measuring.delete(p.rule);
      else if (m?.window !== r.window || m.plan !== p.text) {
        this.measuring.set(p.rule, { window: r.window, plan: p.text, group: p.config.group, canary: new Tally(), stable: new Tally(), published: 0 });
      }
    }
    for (const rule of this.measuring.keys()) if (!this.plans.some((p) => p.rule === rule)) this.measuring.delete(rule);
  }

  /** The rules' actions as their canaries' weights make them, where a canary runs. */
  actions(snapshot: Snapshot | undefined): Map<number | "default", ActionConfig> {
    const out = new Map<number | "default", ActionConfig>();
    for (const p of this.plans) {
      const r = recordOf(snapshot, p);
      if (r !== undefined) out.set(p.rule === "default" ? "default" : Number(p.rule), weighted(p, r.weight));
    }
    return out;
  }

  /**
   * The periodic work (app/background.ts): publish, and decide where this instance holds the lease.
   * Requests measured since the last tick are published at the next one even if no request
   * follows: the work returned waits for it, so a Worker keeps the request that measured them alive.
   */
  due(): Promise<void> | undefined {
    if (this.running !== undefined || (this.plans.length === 0 && this.leftOver().length === 0)) return this.running;
    const wait = this.nextTick - this.deps.now();
    if (wait > 0 && ![...this.measuring.values()].some((m) => m.canary.requests + m.stable.requests !== m.published)) return undefined;
    const run = async () => {
      if (wait > 0) await new Promise<void>((resolve) => this.deps.timer(wait, resolve));
      this.nextTick = this.deps.now() + TICK_MS;
      await this.tick();
    };
    return (this.running = run().finally(() => (this.running = undefined)));
  }

  /** Records of canaries the config no longer has (the store keeps them until one is let go). */
  private leftOver(): string[] {
    const records = this.deps.snapshot()?.canaries;
    return records === undefined ? [] : Object.keys(records).filter((rule) => !this.plans.some((p) => p.rule === rule));
  }

  /**
   * Let go of a canary the config no longer has, once no instance decides it any more (its lease
   * is free: an instance still on a config with it renews it). Otherwise the same block added
   * again later would find its old record, and a promoted canary would take all the traffic at once.
   */
  private async forget(rule: string): Promise<void> {
    const store = this.deps.store();
    if (!(await store.tryAcquireLease(`canary ${rule}`, this.deps.instance, LEASE_MS))) return;
    let before: CanaryRecord | undefined;
    const written = await store.update((d) => {
      before = d.canaries?.[rule];
      if (before === undefined) return;
      const { [rule]: _gone, ...rest } = d.canaries!;
      d.canaries = rest;
    });
    this.deps.offer(written);
    if (before !== undefined) {
      await this.deps.record({
        source: "canary analysis",
        kind: "canary",
        subject: `rule ${rule}`,
        before: `${before.weight} % ${before.state}`,
        after: "removed",
        detail: "the config has no canary on this rule any more",
      });
    }
  }

  private async tick(): Promise<void> {
    const store = this.deps.store();
    for (const rule of this.leftOver()) {
      await this.forget(rule).catch((error: unknown) => this.deps.log(`canary rule ${rule}: ${error instanceof Error ? error.message : String(error)}`));
    }
    for (const p of this.plans) {
      try {
        const m = this.measuring.get(p.rule);
        if (m !== undefined) {
          const published: Published = { window: m.window, plan: m.plan, canary: m.canary.data(), stable: m.stable.data() };
          m.published = published.canary.requests + published.stable.requests;
          await store.report(topicOf(p), this.deps.instance, published as never, REPORT_MS);
        }
        if (await store.tryAcquireLease(topicOf(p), this.deps.instance, LEASE_MS)) await this.decide(p);
      } catch (error) {
        this.deps.log(`canary rule ${p.rule}: ${error instanceof Error ? error.message : String(error)}`);
      }
    }
  }

  /** Every instance's tallies of the current step, added up. */
  private async measured(p: Plan, r: CanaryRecord | undefined): Promise<{ canary: Side; stable: Side }> {
    const reports = r === undefined ? {} : await this.deps.store().reports(topicOf(p));
    const mine = Object.values(reports).filter((x): x is never => {
      const y = x as Partial<Published> | null;
      return y?.window === r!.window && y.plan === p.text && isTallyData(y.canary) && isTallyData(y.stable);
    }) as Published[];
    return { canary: sideOf(mine.map((x) => x.canary)), stable: sideOf(mine.map((x) => x.stable)) };
  }

  private async decide(p: Plan): Promise<void> {
    const r = recordOf(this.deps.snapshot(), p);
    if (r === undefined) {
      await this.change(p, undefined, (x) => x, "automatic");
      return;
    }
    if (r.state !== "progressing") return;
    const numbers = await this.measured(p, r);
    const verdict = judge(p.config, numbers.canary, r.weight < 100 ? numbers.stable : undefined, Date.now() - r.since);
    if (verdict.kind === "wait") return;
    const said = describe(numbers);
    if (verdict.kind === "fail") {
      await this.change(p, r, (x) => ({ ...x, weight: 0, state: "rolled back", reason: `${verdict.why} (${said})` }), "automatic");
      return;
    }
    const last = r.step >= p.config.steps.length - 1;
    await this.change(
      p,
      r,
      (x) =>
        last
          ? { ...x, state: "promoted", reason: `step ${r.step + 1} of ${p.config.steps.length} passed (${said})` }
          : { ...x, step: r.step + 1, weight: p.config.steps[r.step + 1]!, reason: `step ${r.step + 1} passed (${said})` },
      "automatic",
    );
  }

  /**
   * Move the canary of `p` from `before` (undefined: none yet) to what `next` makes of it, in the
   * store, if nobody moved it meanwhile; applied here at once, and logged with why.
   */
  private async change(p: Plan, before: CanaryRecord | undefined, next: (r: CanaryRecord) => CanaryRecord, source: string): Promise<CanaryRecord | undefined> {
    let after: CanaryRecord | undefined;
    const written = await this.deps.store().update((d) => {
      const now = d.canaries?.[p.rule];
      const current = now?.plan === p.text ? now : undefined;
      after = undefined;
      if (JSON.stringify(current) !== JSON.stringify(before)) return;
      const base = current ?? fresh(p, (now?.window ?? 0) + 1, "started");
      const moved = next(base);
      after = { ...moved, window: base.window + (current === undefined ? 0 : 1), since: Date.now() };
      d.canaries = { ...d.canaries, [p.rule]: after };
    });
    this.deps.offer(written);
    if (after !== undefined) {
      await this.deps.record({
        source: source === "automatic" ? "canary analysis" : source,
        kind: "canary",
        subject: `rule ${p.rule}`,
        before: before === undefined ? "not started" : `${before.weight} % ${before.state}`,
        after: `${after.weight} % ${after.state}`,
        ...(after.reason ? { detail: after.reason } : {}),
      });
    }
    return after;
  }

  private planOf(rule: string): Plan {
    const p = this.plans.find((x) => x.rule === rule);
    if (p === undefined) {
      const rules = this.plans.map((x) => x.rule);
      throw new CanaryError(
        404,
        `no canary on rule ${JSON.stringify(rule)}; canaries: ${rules.length ? rules.join(", ") : "none (a weighted forward's canary block starts one)"}`,
      );
    }
    return p;
  }

  /** Where every canary (or `rule`'s) stands, with the step's numbers so far. */
  async status(rule?: string): Promise<CanaryView[]> {
    const plans = rule === undefined ? this.plans : [this.planOf(rule)];
    return Promise.all(plans.map(async (p): Promise<CanaryView> => {
      const r = recordOf(this.deps.snapshot(), p);
      return {
        rule: p.rule,
        group: p.config.group,
        stable: p.stable.map((s) => s.group),
        steps: p.config.steps,
        state: r?.state ?? "starting",
        step: r?.step ?? 0,
        weight: r?.weight ?? 0,
        secondsInStep: r === undefined ? 0 : Math.max(0, Math.round((Date.now() - r.since) / 1000)),
        ...(r?.reason ? { reason: r.reason } : {}),
        // An operator's `fulcrum route` on the rule holds its action: the canary's weights wait.
        ...(this.deps.snapshot()?.actions[p.rule] !== undefined ? { overridden: true } : {}),
        measured: await this.measured(p, r).then(({ canary, stable }) => ({ canary: plain(canary), stable: plain(stable) })),
        config: p.config,
      };
    }));
  }

  /** An operator's command on `rule`'s canary; resolves to where it stands after. */
  async command(rule: string, what: CanaryCommand, by: string): Promise<CanaryView> {
    const p = this.planOf(rule);
    const r = recordOf(this.deps.snapshot(), p);
    const state = r?.state;
    const moves: Record<typeof what, (x: CanaryRecord) => CanaryRecord> = {
      pause: (x) => ({ ...x, state: "paused", reason: `paused by ${by}` }),
      // From a pause, the step goes on (measured afresh); from an end, it starts over.
      resume: (x) => (x.state === "paused" ? { ...x, state: "progressing", reason: `resumed by ${by}` } : { ...fresh(p, x.window, `started over by ${by}`) }),
      promote: (x) => ({ ...x, step: p.config.steps.length - 1, weight: 100, state: "promoted", reason: `promoted by ${by}` }),
      abort: (x) => ({ ...x, weight: 0, state: "aborted", reason: `aborted by ${by}` }),
    };
    if (what === "pause" && state !== undefined && state !== "progressing") {
      throw new CanaryError(
        409,
        `the canary of rule ${rule} is ${state}, not progressing${state === "paused" ? "" : ` (fulcrum canary resume ${rule} starts it over)`}`,
      );
    }
    if (what === "resume" && state === "progressing") throw new CanaryError(409, `the canary of rule ${rule} is already progressing`);
    if ((what === "promote" && state === "promoted") || (what === "abort" && state === "aborted")) {
      throw new CanaryError(409, `the canary of rule ${rule} is already ${state}`);
    }
    let after: CanaryRecord | undefined;
    try {
      after = await this.change(p, r, moves[what], by);
    } catch (error) {
      throw new CanaryError(503, `state store unreachable, nothing changed: ${error instanceof Error ? error.message : String(error)}`);
    }
    // Another instance moved it meanwhile (a step, another operator): nothing was written.
    if (after === undefined) {
      throw new CanaryError(409, `the canary of rule ${rule} changed meanwhile; nothing done (fulcrum canary status ${rule}, then again)`);
    }
    return (await this.status(rule))[0]!;
  }
}

/** A side as JSON has it: no p99 without requests. */
const plain = (s: Side) => (s.p99 === undefined ? { requests: s.requests, errors: s.errors, errorRate: s.errorRate } : s) as CanaryView["measured"]["canary"];

const topicOf = (p: Plan) => `canary ${p.rule}`;

/** The record of `p`'s canary, if it runs the plan the config has now. */
function recordOf(snapshot: Snapshot | undefined, p: Plan): CanaryRecord | undefined {
  const r = snapshot?.canaries?.[p.rule];
  return r !== undefined && r.plan === p.text ? (r as CanaryRecord) : undefined;
}

function fresh(p: Plan, window: number, reason: string): CanaryRecord {
  return { plan: p.text, step: 0, weight: p.config.steps[0]!, state: "progressing", since: Date.now(), window, reason };
}

const num = (s: Side) => `${s.requests} requests, ${s.errorRate.toFixed(2)} % 5xx, p99 ${s.p99 === undefined ? "-" : `${s.p99.toFixed(1)} ms`}`;

function describe(m: { canary: Side; stable: Side }): string {
  return `canary ${num(m.canary)}; stable ${num(m.stable)}`;
}
