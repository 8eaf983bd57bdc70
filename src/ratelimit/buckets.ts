/**
 * Token buckets by key: what a `rateLimit` counts with. Each key (a client
 * address, an API key, ...) has a bucket of `capacity` tokens refilled at
 * `rate` tokens per millisecond; a request takes one, and none left means
 * 429. Envoy's local rate limit and Traefik's RateLimit are token buckets;
 * nginx's limit_req is the leaky-bucket form of the same.
 *
 * Memory is bounded: at most `maxKeys` buckets, the least recently used
 * going first, so a flood of new keys cannot grow the balancer (a key seen
 * again after its bucket went starts full, as an idle one would be anyway).
 *
 * For limits shared between instances (sharing.ts) the buckets also count
 * what each key took since the last exchange, and take what the other
 * instances' keys took (`deduct`): a bucket may go below zero then, so a key
 * that overspent on several instances waits for all of it.
 */

export interface Verdict {
  readonly allowed: boolean;
  /** Whole tokens left after this request. */
  readonly remaining: number;
  /** Seconds until the next token (what a refused client should wait), 0 when allowed. */
  readonly retryAfter: number;
  /** Seconds until the bucket is full again. */
  readonly reset: number;
}

interface Bucket {
  tokens: number;
  /** Platform ms of the last refill. */
  at: number;
}

export class TokenBuckets {
  private readonly buckets = new Map<string, Bucket>();
  /** Tokens taken by each key since `drainUsed` last ran, when counting for sharing. */
  private used: Map<string, number> | undefined;

  constructor(
    /** Tokens per millisecond. */
    private readonly rate: number,
    readonly capacity: number,
    private readonly maxKeys: number,
    /** Count what each key takes, for sharing.ts. */
    countUsed = false,
  ) {
    if (countUsed) this.used = new Map();
  }

  /** Milliseconds an empty bucket takes to fill. */
  get refillMs(): number {
    return this.capacity / this.rate;
  }

  get size(): number {
    return this.buckets.size;
  }

  /** The key's bucket refilled to `now`, made most recently used. */
  private bucket(key: string, now: number): Bucket {
    let b = this.buckets.get(key);
    if (b === undefined) {
      if (this.buckets.size >= this.maxKeys) this.buckets.delete(this.buckets.keys().next().value!);
      b = { tokens: this.capacity, at: now };
    } else {
      this.buckets.delete(key);
      b.tokens = Math.min(this.capacity, b.tokens + (now - b.at) * this.rate);
      b.at = now;
    }
    this.buckets.set(key, b);
    return b;
  }

  take(key: string, now: number): Verdict {
    const b = this.bucket(key, now);
    if (b.tokens >= 1) {
      b.tokens -= 1;
      // Bounded like the buckets: past maxKeys new keys are not told to the others (they still count here).
      const used = this.used;
      if (used !== undefined) {
        const n = used.get(key);
        if (n !== undefined) used.set(key, n + 1);
        else if (used.size < this.maxKeys) used.set(key, 1);
      }
      return { allowed: true, remaining: Math.floor(b.tokens), retryAfter: 0, reset: (this.capacity - b.tokens) / this.rate / 1000 };
    }
    const wait = (1 - b.tokens) / this.rate / 1000;
    return { allowed: false, remaining: 0, retryAfter: wait, reset: (this.capacity - b.tokens) / this.rate / 1000 };
  }

  /** Another instance's requests took `n` tokens of `key` (sharing.ts); the bucket goes down to minus its capacity at most. */
  deduct(key: string, n: number, now: number): void {
    const b = this.bucket(key, now);
    b.tokens = Math.max(-this.capacity, b.tokens - n);
  }

  /** Some key took a token since `drainUsed` last ran. */
  get hasUsed(): boolean {
    return this.used !== undefined && this.used.size > 0;
  }

  /** What each key took since the last call, the busiest first, at most `limit` keys; the count starts again. */
  drainUsed(limit: number): [string, number][] {
    const used = this.used;
    if (used === undefined || used.size === 0) return [];
    this.used = new Map();
    const all = [...used];
    return all.length <= limit ? all : all.sort((a, b) => b[1] - a[1]).slice(0, limit);
  }
}
