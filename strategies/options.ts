/**
 * Target-group-level options of the balancing strategies, as valibot entries
 * that the core spreads into its target-group schema:
 *
 *   v.object({ ...coreEntries, ...strategyOptionEntries })
 *
 * Only the knobs of the algorithms live here. How the hash *key* is extracted
 * (header, cookie, query, path, client IP) is the core's business; strategies
 * just receive `ctx.key`. `maxFails` is not declared here either: it belongs to
 * the core's passive health settings (nginx `max_fails`) and is handed to the
 * strategies alongside these options.
 */
import * as v from "valibot";

/** Trial division; table sizes are at most a few million, so this is instant. */
export function isPrime(n: number): boolean {
  if (!Number.isInteger(n) || n < 2) return false;
  if (n % 2 === 0) return n === 2;
  for (let d = 3; d * d <= n; d += 2) if (n % d === 0) return false;
  return true;
}

/** Defaults, shared by the schema and by the factories (which accept partial options). */
export const strategyDefaults = {
  /** Envoy's MAGLEV default table size (a prime); should be >= 100 x targets for even shares. */
  hashTableSize: 65537,
  /** Envoy LEAST_REQUEST `choice_count` default (power of two choices). */
  choiceCount: 2,
  /** `hash` table: ketama ring (nginx `hash ... consistent`), minimally disruptive. */
  hashAlgorithm: "ketama",
  /** Peak-EWMA time constant in seconds (Finagle's `decayTime` default: 10 s). */
  latencyDecay: 10,
  /**
   * Share of picks that `latency_aware` hands out by plain weighted rotation,
   * ignoring latency, so that no target starves (traefik#12306). Each eligible
   * target gets at least `latencyFloor` x its weight share. 0.02 keeps a slow
   * target's exposure far below 1 % of traffic in a group of a few targets
   * (so it cannot own the p99) while still refreshing its latency estimate
   * well within the 10 s decay window at any realistic request rate.
   */
  latencyFloor: 0.02,
  /** nginx `max_fails` default. */
  maxFails: 1,
} as const;

/** Largest accepted Maglev table: ~40 MB of Int32 slots at most, built on every target-set change. */
const MAX_TABLE_SIZE = 10_000_019;

/** Table behind `hash`: see ketama.ts and maglev.ts for the measured trade-off. */
export const hashAlgorithms = ["ketama", "maglev"] as const;

const quote = (x: unknown) => JSON.stringify(x) ?? String(x);

// Descriptions are piped outside each `v.optional` (which keeps the key optional
// and its default): units.ts's `described` lives in a layer strategies may not import.
export const strategyOptionEntries = {
  hashAlgorithm: v.pipe(
    v.optional(
      v.picklist(hashAlgorithms, (i) => `expected one of ${hashAlgorithms.join(", ")}, got ${quote(i.input)}`),
      strategyDefaults.hashAlgorithm,
    ),
    v.description(
      'Table behind the hash strategy. "ketama": consistent-hash ring, 160 points per unit of weight (nginx hash $key consistent); removing a target remaps only its own keys, shares vary about 8 % around the weight share. "maglev": Envoy\'s MAGLEV table (hashTableSize); near-exact shares and O(1) lookup, but a rebuild also moves some keys between surviving targets. Default "ketama".',
    ),
  ),
  hashTableSize: v.pipe(
    v.optional(
      v.pipe(
        v.number("expected a number"),
        v.integer("expected an integer"),
        v.minValue(3, "expected at least 3"),
        v.maxValue(MAX_TABLE_SIZE, `expected at most ${MAX_TABLE_SIZE}`),
        v.check(isPrime, "expected a prime number (e.g. 65537, 131071, 655373)"),
      ),
      strategyDefaults.hashTableSize,
    ),
    v.description(
      `Maglev lookup table size (hash with hashAlgorithm "maglev"; Envoy table_size): a prime, at least 100 x the targets for even shares, at most ${MAX_TABLE_SIZE}. Default ${strategyDefaults.hashTableSize}.`,
    ),
  ),
  hashBalanceFactor: v.pipe(
    v.optional(
      v.pipe(
        v.number("expected a number"),
        v.finite("expected a finite number"),
        v.minValue(1, "expected a factor >= 1 (e.g. 1.25 for 25 % headroom)"),
      ),
    ),
    v.description(
      "Bounded loads for the hash strategy: no target takes a new request while its in-flight count is at ceil(factor x the weighted average). A multiplier, at least 1 (1.25 = 25 % headroom); HAProxy hash-balance-factor and Envoy hash_balance_factor write it as a percentage (125). Default: unbounded.",
    ),
  ),
  choiceCount: v.pipe(
    v.optional(
      v.pipe(
        v.number("expected a number"),
        v.integer("expected an integer"),
        v.minValue(2, "expected at least 2 choices"),
        v.maxValue(64, "expected at most 64 choices"),
      ),
      strategyDefaults.choiceCount,
    ),
    v.description(
      `Number of distinct random targets the least_request strategy compares, 2 to 64 (Envoy choice_count). Default ${strategyDefaults.choiceCount}.`,
    ),
  ),
  latencyDecay: v.pipe(
    v.optional(
      v.pipe(
        v.number("expected a number of seconds"),
        v.finite("expected a finite number of seconds"),
        v.gtValue(0, "expected a positive number of seconds"),
      ),
      strategyDefaults.latencyDecay,
    ),
    v.description(
      `Time constant in seconds of the latency_aware strategy's peak-EWMA latency estimate (Finagle decayTime): how fast good news wins back traffic after a slow spell. Default ${strategyDefaults.latencyDecay}.`,
    ),
  ),
  latencyFloor: v.pipe(
    v.optional(
      v.pipe(
        v.number("expected a number between 0 and 1"),
        v.minValue(0, "expected a number between 0 and 1"),
        v.maxValue(1, "expected a number between 0 and 1"),
      ),
      strategyDefaults.latencyFloor,
    ),
    v.description(
      `Fraction of its weight share, 0 to 1, that latency_aware hands every target regardless of latency, so none starves and its latency estimate stays fresh. Default ${strategyDefaults.latencyFloor}.`,
    ),
  ),
} as const;

export type StrategyOptions = v.InferOutput<v.ObjectSchema<typeof strategyOptionEntries, undefined>> & {
  /** From the core's passive health settings (nginx `max_fails`, default 1, 0 disables). */
  maxFails?: number;
};

/** What the factories accept: any subset, missing fields take `strategyDefaults`. */
export type StrategyOptionsInput = Partial<StrategyOptions>;
