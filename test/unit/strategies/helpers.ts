/** Test helpers: a seeded PRNG and a configurable PickContext. */
import type { PickContext, StrategyTarget } from "../../../strategies/types.ts";

/** mulberry32: tiny seeded PRNG, uniform in [0, 1). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface CtxOptions {
  key?: string;
  tried?: Iterable<number>;
  unavailable?: Iterable<number>;
  inflight?: ArrayLike<number> | ((i: number) => number);
  factor?: (i: number) => number;
  seed?: number;
  now?: number;
}

/** A mutable context: tests flip `tried`, `unavailable`, `key`, `inflight` between picks. */
export interface TestCtx extends PickContext {
  key: string | undefined;
  triedSet: Set<number>;
  down: Set<number>;
  load: number[];
  clock: number;
}

export function makeCtx(o: CtxOptions = {}): TestCtx {
  const rnd = mulberry32(o.seed ?? 1);
  const load: number[] = [];
  const inflightFn = typeof o.inflight === "function" ? o.inflight : undefined;
  if (o.inflight !== undefined && typeof o.inflight !== "function") { for (let i = 0; i < o.inflight.length; i++) load[i] = o.inflight[i]!; }
  const ctx: TestCtx = {
    key: o.key,
    triedSet: new Set(o.tried ?? []),
    down: new Set(o.unavailable ?? []),
    load,
    clock: o.now ?? 0,
    tried(i) {
      return ctx.triedSet.has(i);
    },
    available(i) {
      return !ctx.down.has(i);
    },
    inflight(i) {
      return inflightFn ? inflightFn(i) : (ctx.load[i] ?? 0);
    },
    now() {
      return ctx.clock;
    },
    random: rnd,
  };
  if (o.factor) ctx.weightFactor = o.factor;
  return ctx;
}

export const targetsOf = (...weights: number[]): StrategyTarget[] => weights.map((weight, i) => ({ id: `http://t${i}.test:80`, weight }));

/** Pick `count` times, returning the sequence. */
export function picks(s: { pick(c: PickContext): number }, ctx: PickContext, count: number): number[] {
  const out: number[] = [];
  for (let k = 0; k < count; k++) out.push(s.pick(ctx));
  return out;
}

/** Shares of each index among `count` picks. */
export function shares(s: { pick(c: PickContext): number }, ctx: PickContext, n: number, count: number, keyOf?: (k: number) => string): number[] {
  const hits = new Array<number>(n).fill(0);
  const mutable = ctx as { key: string | undefined };
  for (let k = 0; k < count; k++) {
    if (keyOf) mutable.key = keyOf(k);
    const i = s.pick(ctx);
    if (i >= 0) hits[i]!++;
  }
  return hits.map((h) => h / count);
}

export const weightShares = (weights: number[]): number[] => {
  const total = weights.reduce((a, b) => a + b, 0);
  return weights.map((w) => w / total);
};
