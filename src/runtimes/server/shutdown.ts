/**
 * Graceful shutdown shared by the server runtimes. Order matters: first tell
 * the world (health 503), keep serving through the grace period, then stop
 * accepting and let in-flight requests finish, bounded by the deadline.
 * No request that had started is cut unless the deadline passes.
 * Open WebSockets have no end of their own to wait for: they are left open
 * until the deadline, then closed with 1001 Going Away (RFC 6455 §7.4.1,
 * "a server going down"), so clients reconnect to another instance.
 * A second SIGINT (Ctrl-C again) exits at once with code 2, as Caddy does
 * (ExitCodeForceQuit); a second SIGTERM changes nothing (an orchestrator that
 * is done waiting sends SIGKILL).
 */
import type { Balancer } from "../../app/balancer.ts";
import { GOING_AWAY } from "../../proxy/websocket-registry.ts";

/** Time for close frames to leave before the remaining connections are cut. */
const CLOSE_FLUSH_MS = 1000;

/**
 * One Ctrl-C reaches the runtime more than once: the terminal signals the
 * whole process group, and `npm` and `fulcrum serve` each forward it to their
 * child as well. Those copies arrive within milliseconds; a person pressing
 * Ctrl-C again takes longer than this.
 */
export const REPEAT_SIGINT_AFTER_MS = 500;

/** Caddy's ExitCodeForceQuit: not a clean stop, not a failed start. */
export const FORCE_QUIT_EXIT_CODE = 2;

export type ShutdownSignal = "SIGTERM" | "SIGINT";

export interface ShutdownHooks {
  /** Stop accepting connections; resolves when in-flight requests have finished. */
  stopAccepting(): Promise<void>;
  /** Cut whatever is still open (deadline passed). */
  forceClose(): void;
  exit(code: number): void;
}

export function onShutdownSignal(
  balancer: Pick<Balancer, "config" | "platform" | "shuttingDown" | "stopTimers" | "sockets">,
  hooks: ShutdownHooks,
): (signal: ShutdownSignal) => void {
  const { grace, deadline } = balancer.config.shutdown;
  const log = balancer.platform.log;
  const now = balancer.platform.now;
  let startedAt: number | undefined;
  return function shutdown(signal: ShutdownSignal): void {
    if (startedAt !== undefined) {
      if (signal === "SIGINT" && now() - startedAt >= REPEAT_SIGINT_AFTER_MS) {
        log("shutdown: second SIGINT, exiting now without waiting for in-flight requests");
        hooks.exit(FORCE_QUIT_EXIT_CODE);
      }
      return;
    }
    startedAt = now();
    balancer.shuttingDown = true;
    balancer.stopTimers();
    log(`shutdown: health now 503; accepting for ${grace}s more, then draining up to ${deadline}s`);
    const sockets = balancer.sockets;
    setTimeout(() => {
      const cut = setTimeout(() => {
        const closed = sockets.closeAll(GOING_AWAY, "balancer shutting down");
        log(`shutdown: deadline passed, closing remaining connections (${closed} WebSockets with ${GOING_AWAY})`);
        setTimeout(() => {
          hooks.forceClose();
          hooks.exit(0);
        }, closed > 0 ? CLOSE_FLUSH_MS : 0);
      }, deadline * 1000);
      hooks
        .stopAccepting()
        .then(() => sockets.whenEmpty())
        .then(
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
