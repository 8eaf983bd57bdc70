/** `fulcrum canary status|pause|resume|promote|abort RULE`: the automatic canaries through the admin API. */
import type { CanaryChange, CanaryView } from "../admin/api-schema.ts";
import { CANARY_COMMANDS } from "../admin/ops.ts";
import { type AdminTarget, call, CommandError } from "./admin-client.ts";

export const CANARY_USAGE = "canary status [RULE] [--json] | canary pause|resume|promote|abort RULE";

export async function canaryCommand(target: AdminTarget, args: readonly string[], json: boolean): Promise<string> {
  const [sub, rule, ...rest] = args;
  if (sub === "status" && rest.length === 0) {
    const { canaries } = await call<{ canaries: CanaryView[] }>(target, "GET", "/canaries");
    const shown = rule === undefined ? canaries : canaries.filter((c) => c.rule === rule);
    if (rule !== undefined && shown.length === 0) {
      throw new CommandError(`no canary on rule ${JSON.stringify(rule)}; canaries: ${canaries.map((c) => c.rule).join(", ") || "none"}`);
    }
    return json
      ? JSON.stringify(shown, null, 2)
      : shown.length === 0
      ? "no canaries (a weighted forward's canary block starts one)"
      : shown.map(formatCanary).join("\n\n");
  }
  if ((CANARY_COMMANDS as readonly (string | undefined)[]).includes(sub) && rule !== undefined && rest.length === 0) {
    return (await call<CanaryChange>(target, "POST", `/canaries/${encodeURIComponent(rule)}/${sub}`)).message;
  }
  throw new CommandError(`usage: fulcrum ${CANARY_USAGE}`);
}

const side = (s: CanaryView["measured"]["canary"]) =>
  `${s.requests} requests, ${s.errorRate.toFixed(2)} % 5xx, p99 ${s.p99 === undefined ? "-" : `${s.p99.toFixed(1)} ms`}`;

/** One canary as `fulcrum canary status` prints it. */
export function formatCanary(c: CanaryView): string {
  const steps = c.steps.map((s, i) => (i === c.step ? `[${s}]` : String(s))).join(" → ");
  const limits = [
    `5xx ≤ ${c.config.maxErrorRate} %`,
    ...(c.config.maxP99 === undefined ? [] : [`p99 ≤ ${c.config.maxP99 * 1000} ms`]),
    ...(c.config.maxErrorRateOverStable === undefined ? [] : [`5xx ≤ stable + ${c.config.maxErrorRateOverStable} points`]),
    ...(c.config.maxP99OverStable === undefined ? [] : [`p99 ≤ ${c.config.maxP99OverStable}× stable`]),
  ].join(", ");
  const ended = c.state === "promoted" || c.state === "rolled back" || c.state === "aborted";
  return [
    `rule ${c.rule}: canary ${c.group} at ${c.weight} %, ${c.state.toUpperCase()} (stable: ${c.stable.join(", ")})`,
    ...(c.overridden ? [`  held      by fulcrum route ${c.rule}: the canary's weights apply again after fulcrum route ${c.rule} --config`] : []),
    ended
      ? `  steps     ${c.steps.join(" → ")} %, ${c.config.interval} s each; ${c.state} ${c.secondsInStep} s ago`
      : `  steps     ${steps} %, ${c.config.interval} s each, ${c.secondsInStep} s into this one`,
    `  limits    ${limits}; at least ${c.config.minRequests} canary requests a step`,
    `  canary    ${side(c.measured.canary)}`,
    `  stable    ${side(c.measured.stable)}`,
    ...(c.reason ? [`  last      ${c.reason}`] : []),
  ].join("\n");
}
