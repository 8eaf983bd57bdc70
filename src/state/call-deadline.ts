/**
 * The deadline on every call of the Deno KV store (deno-kv.ts).
 *
 * Fail static (issue #6), from what Deno 2.9 does when another process holds
 * the file's SQLite write lock (measured with python3's `BEGIN EXCLUSIVE`):
 * reads still answer (WAL); checked commits, which are all this store makes,
 * fail at once with "database is locked" and are reported after a few
 * jittered retries; an unchecked write would wait out a 5 s busy timeout
 * while calls on the same handle queue behind it; `Deno.openKv` waits until
 * the lock goes away. So every call is also bounded by `timeoutMs`, and while
 * a call past its deadline is still pending inside Deno every new call
 * rejects at once instead of joining the queue. A call that timed out has an
 * unknown outcome (it may still commit), like a Redis command timeout;
 * compare-and-set keeps that safe for the snapshot.
 */
import { StateStoreClosedError } from "./store.ts";

/** After this many call deadlines with an abandoned call still inside Deno, new calls are tried again anyway. */
export const STUCK_LIMIT_TIMEOUTS = 5;

/** Shared between a call and its deadline: a retry loop stops once nobody waits for it. */
export interface CallState {
  abandoned: boolean;
}

export interface CallDeadlineOptions {
  /** Bound on every call, in ms. */
  readonly timeoutMs: number;
  /** Clock for how long calls have been stuck, in ms. */
  readonly now: () => number;
  /** Whether the store is closed: new calls then fail with `StateStoreClosedError`, and a failing call's error passes through. */
  readonly isClosed: () => boolean;
  /** The error for a call that timed out, was refused while another is stuck, or failed (with the failure as `cause`). */
  readonly unavailable: (message: string, options?: { cause?: unknown }) => Error;
  /** Errors a call rejects with unchanged (the caller's own mistakes) instead of wrapping them in `unavailable`. */
  readonly passesThrough: (error: unknown) => boolean;
}

export class CallDeadline {
  /** Calls past their deadline that Deno has not settled yet, and since when there have been some. */
  private stuck = 0;
  private stuckSince = 0;

  constructor(private readonly options: CallDeadlineOptions) {}

  /** Run one store call within the deadline; see the module comment for why. */
  run<T>(what: string, op: (call: CallState) => Promise<T>): Promise<T> {
    const { timeoutMs, now, isClosed, unavailable, passesThrough } = this.options;
    if (isClosed()) return Promise.reject(new StateStoreClosedError());
    // Refuse new calls while an abandoned one is still inside Deno, but not forever: a call that never
    // settles (a remote KV without a deadline) must not keep the store down after its backend is back.
    if (this.stuck > 0 && now() - this.stuckSince < STUCK_LIMIT_TIMEOUTS * timeoutMs) {
      return Promise.reject(unavailable(`${what}: the database has not answered an earlier call yet (locked or unreachable)`));
    }
    return new Promise<T>((resolve, reject) => {
      const state: CallState = { abandoned: false };
      let timedOut = false;
      const timer = setTimeout(() => {
        timedOut = true;
        state.abandoned = true;
        if (this.stuck++ === 0) this.stuckSince = now();
        reject(unavailable(`${what}: no answer within ${timeoutMs} ms (database locked or unreachable)`));
      }, timeoutMs);
      op(state).then(
        (value) => {
          clearTimeout(timer);
          if (timedOut) this.stuck--;
          else resolve(value);
        },
        (error: unknown) => {
          clearTimeout(timer);
          if (timedOut) this.stuck--;
          else if (passesThrough(error) || isClosed()) reject(error);
          else reject(unavailable(`${what}: ${error instanceof Error ? error.message : String(error)}`, { cause: error }));
        },
      );
    });
  }
}
