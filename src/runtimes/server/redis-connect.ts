/** Connection settings shared by the Bun and Node Redis adapters. */

export interface RedisConnectOptions {
  /** How long connecting (at start-up, and each reconnect attempt) may take. */
  readonly connectTimeoutMs: number;
}

/** Start-up fails within this when Redis is unreachable (issue #6: a clear error, not a hang). */
export const DEFAULT_CONNECT_TIMEOUT_MS = 2000;

/** Reconnect delay: 50 ms doubling to 1 s, so a Redis that comes back is used again within about a second. */
export function connectionBackoffMs(attempt: number): number {
  return Math.min(50 * 2 ** Math.max(0, attempt - 1), 1000);
}

export function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

/** The URL without its password, for messages. */
export function redact(url: string): string {
  return url.replace(/\/\/[^@/]*@/, "//***@");
}
