/**
 * Key disruption of the `hash` tables when one of N equal targets is removed
 * from the set (the table is rebuilt without it), for N = 5, 10, 100: the
 * share of 100,000 keys that change target, as a multiple of the ideal 1/N.
 * Every target is removed in turn; mean and max over the removals are shown,
 * with the part that was unavoidable (keys the removed target owned) and the
 * part that moved between surviving targets (0 for a minimally disruptive
 * table). Re-adding the target is also checked to restore the old mapping.
 *
 * `bun test/bench/strategies-hash-disruption.ts` prints a markdown table. Deterministic.
 */
import { hash } from "../../strategies/hash.ts";
import { hashAlgorithms } from "../../strategies/options.ts";
import type { PickContext, StrategyTarget } from "../../strategies/types.ts";

const KEYS = Array.from({ length: 100_000 }, (_, k) => `session-${k}-${(k * 2654435761) >>> 0}`);
const hosts = (n: number): StrategyTarget[] => Array.from({ length: n }, (_, i) => ({ id: `http://10.1.${i >> 8}.${i & 255}:8080`, weight: 1 }));

function mapping(targets: StrategyTarget[], algorithm: (typeof hashAlgorithms)[number]): string[] {
  const s = hash(targets, { hashAlgorithm: algorithm });
  const ctx: PickContext = { key: undefined, tried: () => false, available: () => true, inflight: () => 0, now: () => 0, random: () => 0 };
  return KEYS.map((key) => {
    (ctx as { key: string | undefined }).key = key;
    return targets[s.pick(ctx)]!.id;
  });
}

interface Row {
  algorithm: string;
  n: number;
  meanMoved: number;
  maxMoved: number;
  maxOwned: number;
  maxBystanders: number;
  restored: boolean;
}

export function runDisruption(): Row[] {
  const rows: Row[] = [];
  for (const algorithm of hashAlgorithms) {
    for (const n of [5, 10, 100]) {
      const t = hosts(n);
      const before = mapping(t, algorithm);
      let sum = 0;
      let max = 0;
      let maxOwned = 0;
      let maxBystanders = 0;
      for (let r = 0; r < n; r++) {
        const after = mapping(t.filter((_, i) => i !== r), algorithm);
        let moved = 0;
        let owned = 0;
        for (let k = 0; k < KEYS.length; k++) {
          if (before[k] === t[r]!.id) owned++;
          if (before[k] !== after[k]) moved++;
        }
        const x = (moved / KEYS.length) * n;
        sum += x;
        max = Math.max(max, x);
        maxOwned = Math.max(maxOwned, (owned / KEYS.length) * n);
        maxBystanders = Math.max(maxBystanders, ((moved - owned) / KEYS.length) * n);
      }
      const again = mapping(t, algorithm);
      rows.push({ algorithm, n, meanMoved: sum / n, maxMoved: max, maxOwned, maxBystanders, restored: again.every((id, k) => id === before[k]) });
    }
  }
  return rows;
}

if (import.meta.main) {
  const f = (x: number) => `${x.toFixed(3)}/N`;
  console.log(
    "| table | N | moved, mean over removals | moved, worst removal | removed target's own keys, largest | keys moved between survivors, worst | re-add restores |",
  );
  console.log("|---|---:|---:|---:|---:|---:|---|");
  for (const r of runDisruption()) {
    console.log(`| ${r.algorithm} | ${r.n} | ${f(r.meanMoved)} | ${f(r.maxMoved)} | ${f(r.maxOwned)} | ${f(r.maxBystanders)} | ${r.restored ? "yes" : "no"} |`);
  }
  console.log("\n100,000 keys; every one of the N equal-weight targets removed in turn (table rebuilt without it); maglev at hashTableSize 65537.");
}
