/**
 * Graceful shutdown shared by the server runtimes. Order matters: first tell
 * the world (health 503), keep serving through the grace period, then stop
 * accepting and let in-flight requests finish, bounded by the deadline.
 * No request that had started is cut unless the deadline passes.
 */
import type { Balancer } from "../balancer.ts";

export interface ShutdownHooks {
  /** Stop accepting connections; resolves when in-flight requests have finished. */
  stopAccepting(): Promise<void>;
  /** Cut whatever is still open (deadline passed). */
  forceClose(): void;
  exit(code: number): void;
}

export function onShutdownSignal(balancer: Balancer, hooks: ShutdownHooks): () => void {
  const { grace, deadline } = balancer.config.shutdown;
  const log = balancer.platform.log;
  let started = false;
  return function shutdown(): void {
    if (started) return;
    started = true;
    balancer.shuttingDown = true;
    balancer.healthChecks.stop();
    log(`shutdown: health now 503; accepting for ${grace}s more, then draining up to ${deadline}s`);
    setTimeout(() => {
      const cut = setTimeout(() => {
        log("shutdown: deadline passed, closing remaining connections");
        hooks.forceClose();
        hooks.exit(0);
      }, deadline * 1000);
      hooks.stopAccepting().then(
        () => {
          clearTimeout(cut);
          log("shutdown: in-flight requests finished");
          hooks.exit(0);
        },
        () => hooks.exit(0),
      );
    }, grace * 1000);
  };
}
