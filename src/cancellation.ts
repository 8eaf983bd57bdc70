/**
 * The two kinds of `Cancellation` (platform.ts) the upstream clients get: the
 * proxy's own, which makes a web AbortSignal only for a client that reads
 * one, and one that follows an existing AbortSignal (health probes).
 */
import type { Cancellation } from "./platform.ts";

/**
 * A cancellation without an EventTarget: listeners in an array, and the web
 * AbortSignal only for a client that asks for one (see `Cancellation`).
 */
export class AttemptCancellation implements Cancellation {
  aborted = false;
  reason: unknown = undefined;
  private listeners: ((reason: unknown) => void)[] | undefined;
  private controller: AbortController | undefined;

  get signal(): AbortSignal {
    if (!this.controller) {
      this.controller = new AbortController();
      if (this.aborted) this.controller.abort(this.reason);
    }
    return this.controller.signal;
  }

  onAbort(listener: (reason: unknown) => void): () => void {
    (this.listeners ??= []).push(listener);
    return () => {
      const i = this.listeners?.indexOf(listener) ?? -1;
      if (i >= 0) this.listeners!.splice(i, 1);
    };
  }

  abort(reason: unknown): void {
    if (this.aborted) return;
    this.aborted = true;
    this.reason = reason;
    this.controller?.abort(reason);
    const listeners = this.listeners;
    this.listeners = undefined;
    if (!listeners) return;
    for (const listener of listeners) {
      try {
        listener(reason);
      } catch (error) {
        // As EventTarget does: the others still run, and the error is reported, not thrown at the canceller (a deadline sweep).
        queueMicrotask(() => {
          throw error;
        });
      }
    }
  }
}

/** A Cancellation that follows a web AbortSignal (health probes own one per probe; their cost is per interval, not per request). */
export function signalCancellation(signal: AbortSignal): Cancellation {
  return {
    get aborted() {
      return signal.aborted;
    },
    get reason() {
      return signal.reason;
    },
    signal,
    onAbort(listener) {
      const onAbort = () => listener(signal.reason);
      signal.addEventListener("abort", onAbort, { once: true });
      return () => signal.removeEventListener("abort", onAbort);
    },
  };
}
