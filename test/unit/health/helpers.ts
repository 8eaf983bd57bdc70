import { type HealthSettingsInput, parseHealthSettings } from "../../../src/health/schema.ts";
import { HealthTable, type Transition } from "../../../src/health/table.ts";

export const S = 1000;

export function table(n: number, input: HealthSettingsInput = {}, opts: { backups?: number[]; now?: number } = {}) {
  const targets = Array.from({ length: n }, (_, i) => ({ backup: opts.backups?.includes(i) ?? false }));
  const t = new HealthTable({ targets, settings: parseHealthSettings(input), now: opts.now ?? 0 });
  const events: Transition[] = [];
  t.onTransition((e) => events.push(e));
  return { t, events };
}
