/**
 * Runs `fn` with `queueMicrotask` run at once, and returns what the queued
 * callbacks threw: the errors a component reports the way EventTarget does
 * (rethrown in a microtask, never at its caller).
 */
export function reportedErrors(fn: () => void): unknown[] {
  const reported: unknown[] = [];
  const original = globalThis.queueMicrotask;
  globalThis.queueMicrotask = (queued) => {
    try {
      queued();
    } catch (error) {
      reported.push(error);
    }
  };
  try {
    fn();
  } finally {
    globalThis.queueMicrotask = original;
  }
  return reported;
}
