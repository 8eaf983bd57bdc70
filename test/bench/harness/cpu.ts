/**
 * CPU time a process tree spends, from /proc (utime + stime, children that
 * have exited excluded). Divided by the requests served in the same window it
 * gives CPU microseconds per request: the plainest unit for what a feature
 * costs. It is not steadier than req/s on a shared machine (measured: it
 * spread across rounds as much, since every contestant is CPU-bound on its
 * core), so rounds stay interleaved and medians reported.
 */
import { readFileSync } from "node:fs";

/** Clock ticks per second of /proc's utime/stime (`getconf CLK_TCK`; 100 on Linux). */
export function clockTicks(): number {
  const r = Bun.spawnSync(["getconf", "CLK_TCK"]);
  const n = Number(r.stdout.toString().trim());
  return r.exitCode === 0 && n > 0 ? n : 100;
}

/** utime + stime of `/proc/<pid>/stat` (fields 14 and 15), in clock ticks; 0 for a process that is gone. */
export function parseCpuTicks(stat: string): number {
  // The command name may contain spaces and parentheses: fields start after the last ')'.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // After the name, field 3 (state) is index 0, so utime (14) and stime (15) are 11 and 12.
  return Number(fields[11]) + Number(fields[12]);
}

/** CPU seconds used so far by `pids` together. */
export function cpuSeconds(pids: readonly number[], ticksPerSecond: number): number {
  let ticks = 0;
  for (const pid of pids) {
    try {
      ticks += parseCpuTicks(readFileSync(`/proc/${pid}/stat`, "utf8"));
    } catch {
      // the process ended: nothing more to count
    }
  }
  return ticks / ticksPerSecond;
}
