/**
 * A balancer never outlives the `fulcrum serve` that started it. The
 * launcher passes the signals it gets on (src/cli/main.ts), but a launcher
 * killed outright (SIGKILL, an OOM kill) or one whose own parent went
 * (`npx` ends on SIGTERM without waiting) cannot: then the runtime's parent
 * changes (it is reparented to init or a subreaper), which a cheap poll of
 * the parent's pid notices. Linux offers PR_SET_PDEATHSIG for this, which
 * none of the runtimes expose.
 */

/** How often to look (ms). The timer is unref'd where the runtime allows it. */
const EVERY_MS = 1000;

export function watchParent(expected: number, parentPid: () => number, gone: () => void): () => void {
  const timer = setInterval(() => {
    if (parentPid() === expected) return;
    clearInterval(timer);
    gone();
  }, EVERY_MS);
  (timer as { unref?: () => void }).unref?.();
  return () => clearInterval(timer);
}
