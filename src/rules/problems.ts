/**
 * Cross checks over the raw config input that per-field schemas cannot
 * express: unique rule priorities, target group names that exist, weighted
 * forwards that can send traffic somewhere. They read the input defensively
 * (it may be invalid in other ways), so the loader reports them together with
 * the schema's problems, each with its field path.
 */

const isRecord = (x: unknown): x is Record<string, unknown> => typeof x === "object" && x !== null && !Array.isArray(x);

/**
 * Problems in `rules` and in a weighted `defaultAction.forward`. The plain
 * `defaultAction.forward: "name"` reference is already checked by the config
 * loader, so it is not repeated here.
 */
export function ruleProblems(rawInput: unknown, groupNames: readonly string[]): string[] {
  if (!isRecord(rawInput)) return [];
  const problems: string[] = [];
  const known = new Set(groupNames);
  const checkGroup = (path: string, name: unknown) => {
    if (typeof name === "string" && name !== "" && !known.has(name)) {
      problems.push(
        `${path}: unknown target group ${JSON.stringify(name)}, ${
          groupNames.length ? `expected one of ${groupNames.join(", ")}` : "and targetGroups has none"
        }`,
      );
    }
  };
  const checkAction = (path: string, action: unknown, plainForward: boolean) => {
    if (!isRecord(action)) return;
    const forward = action.forward;
    if (typeof forward === "string") {
      if (plainForward) checkGroup(`${path}.forward`, forward);
      return;
    }
    if (!isRecord(forward) || !Array.isArray(forward.targetGroups)) return;
    const groups = forward.targetGroups as unknown[];
    let total = 0;
    let counted = 0;
    const firstIndex = new Map<string, number>();
    groups.forEach((entry, i) => {
      if (!isRecord(entry)) return;
      const itemPath = `${path}.forward.targetGroups[${i}]`;
      checkGroup(`${itemPath}.group`, entry.group);
      if (typeof entry.group === "string") {
        const seen = firstIndex.get(entry.group);
        if (seen !== undefined) problems.push(`${itemPath}.group: duplicate target group ${JSON.stringify(entry.group)}, also at targetGroups[${seen}]`);
        else firstIndex.set(entry.group, i);
      }
      const weight = entry.weight === undefined ? 1 : entry.weight;
      if (typeof weight === "number") {
        total += weight;
        counted++;
      }
    });
    if (counted === groups.length && groups.length > 0 && total === 0) {
      problems.push(`${path}.forward.targetGroups: expected at least one weight above 0, got all 0`);
    }
    // A canary shifts weight from the forward's other groups to one of its own (canary/plans.ts).
    const canary = forward.canary;
    if (isRecord(canary) && typeof canary.group === "string") {
      const names = [...firstIndex.keys()];
      if (!firstIndex.has(canary.group)) {
        problems.push(
          `${path}.forward.canary.group: ${JSON.stringify(canary.group)} is not one of this forward's targetGroups (${names.join(", ")}); list it there`,
        );
      } else if (names.length < 2) {
        problems.push(`${path}.forward.canary: a canary needs a stable group beside ${JSON.stringify(canary.group)} in targetGroups`);
      }
    }
  };

  const rules = rawInput.rules;
  if (Array.isArray(rules)) {
    const byPriority = new Map<number, number>();
    rules.forEach((rule, i) => {
      if (!isRecord(rule)) return;
      const p = rule.priority;
      if (typeof p === "number") {
        const first = byPriority.get(p);
        if (first !== undefined) problems.push(`rules[${i}].priority: duplicate priority ${p}, also used by rules[${first}]`);
        else byPriority.set(p, i);
      }
      checkAction(`rules[${i}].action`, rule.action, true);
      // A transform shapes what is forwarded: a redirect or a fixed response has nothing to shape.
      if (isRecord(rule.transform) && isRecord(rule.action) && rule.action.forward === undefined) {
        problems.push(`rules[${i}].transform: does nothing on a redirect or fixedResponse action (it shapes what is forwarded); remove it`);
      }
    });
  }
  checkAction("defaultAction", rawInput.defaultAction, false);
  return problems;
}
