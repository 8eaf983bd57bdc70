/**
 * Shared timing loop of the micro-benchmarks: calibrate the iteration count
 * so one run lasts ~`runNs`, warm up once, then report the median of `runs`
 * runs in nanoseconds per iteration.
 */
export function nowNs(): number {
  return Number(process.hrtime.bigint());
}

/** `loop(iters)` runs `iters` iterations and returns the elapsed nanoseconds. */
export function medianNsPerIteration(loop: (iters: number) => number, runs: number, runNs: number): number {
  let iters = 1000;
  for (;;) {
    const t = loop(iters);
    if (t > runNs / 4) {
      iters = Math.max(1000, Math.round((iters * runNs) / t));
      break;
    }
    iters *= 4;
  }
  loop(iters); // warm-up
  const per: number[] = [];
  for (let r = 0; r < runs; r++) per.push(loop(iters) / iters);
  per.sort((a, b) => a - b);
  return per[runs >> 1]!;
}
