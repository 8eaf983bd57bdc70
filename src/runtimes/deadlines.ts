/**
 * Response timeouts for the server runtimes without a timer per request: one
 * interval sweeps the pending deadlines every `tickMs` (a per-request
 * setTimeout + clearTimeout cost ~5 % of a proxied request on Bun). Deadlines
 * fire up to one tick late, which is fine for timeouts measured in seconds.
 * Workers keep per-request setTimeout: an isolate has no timers of its own.
 */
interface Pending {
  at: number;
  fire: () => void;
}

export function coarseDeadlines(now: () => number, tickMs = 50): (ms: number, fire: () => void) => () => void {
  const pending = new Set<Pending>();
  let timer: ReturnType<typeof setInterval> | undefined;
  const sweep = () => {
    const t = now();
    for (const p of pending) {
      if (p.at <= t) {
        pending.delete(p);
        p.fire();
      }
    }
    if (pending.size === 0 && timer !== undefined) {
      clearInterval(timer);
      timer = undefined;
    }
  };
  return (ms, fire) => {
    const p: Pending = { at: now() + ms, fire };
    pending.add(p);
    if (timer === undefined) {
      timer = setInterval(sweep, tickMs);
      // Never keep a stopping process alive for a timeout.
      (timer as unknown as { unref?: () => void }).unref?.();
    }
    return () => void pending.delete(p);
  };
}
