/** Resident memory of a process tree, read from /proc (VmRSS now, VmHWM = peak RSS). */
import { readdirSync, readFileSync } from "node:fs";

export interface Memory {
  /** KiB, summed over the processes. */
  readonly rssKb: number;
  readonly hwmKb: number;
  readonly pids: readonly number[];
}

function childrenByParent(): Map<number, number[]> {
  const map = new Map<number, number[]>();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      // The command name may contain spaces and parentheses: fields start after the last ')'.
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      const list = map.get(ppid) ?? [];
      list.push(Number(entry));
      map.set(ppid, list);
    } catch {
      // the process ended meanwhile
    }
  }
  return map;
}

/** `root` and all its descendants. */
export function processTree(root: number): number[] {
  const children = childrenByParent();
  const out: number[] = [];
  const stack = [root];
  while (stack.length) {
    const pid = stack.pop()!;
    out.push(pid);
    stack.push(...(children.get(pid) ?? []));
  }
  return out;
}

/** The descendants only: for `fulcrum serve` the runtime, without the idle Node launcher. */
export function descendants(root: number): number[] {
  return processTree(root).filter((p) => p !== root);
}

export function memoryOf(pids: readonly number[]): Memory {
  let rssKb = 0;
  let hwmKb = 0;
  const seen: number[] = [];
  for (const pid of pids) {
    try {
      const status = readFileSync(`/proc/${pid}/status`, "utf8");
      rssKb += Number(/^VmRSS:\s+(\d+)/m.exec(status)?.[1] ?? 0);
      hwmKb += Number(/^VmHWM:\s+(\d+)/m.exec(status)?.[1] ?? 0);
      seen.push(pid);
    } catch {
      // the process ended meanwhile
    }
  }
  return { rssKb, hwmKb, pids: seen };
}
