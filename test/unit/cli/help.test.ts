/** `fulcrum COMMAND --help` covers every command and every option the parsers accept, each with an example. */
import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { HELP } from "../../../src/cli/help.ts";

const ROOT = join(import.meta.dir, "..", "..", "..");

test("every command has help with an example, and every option the parsers accept is described", () => {
  const commands = ["serve", "check", "build", "demo", "status", "route", "drain", "ready", "weight", "target", "reload", "restart", "events"];
  expect(Object.keys(HELP).sort()).toEqual([...commands].sort());
  for (const c of commands) expect(HELP[c]).toMatch(/Examples?: fulcrum /);
  // The option names the parsers in main.ts know.
  const main = readFileSync(join(ROOT, "src/cli/main.ts"), "utf8");
  // The parsers' option regexes (`/^--(config|runtime|…)`) and flag comparisons (`arg === "--json"`).
  const options = new Set([
    ...[...main.matchAll(/\^--\(([a-z|-]+)\)/g)].flatMap((m) => m[1]!.split("|")),
    ...[...main.matchAll(/arg === "--([a-z-]+)"/g)].map((m) => m[1]!),
  ]);
  expect(options.size).toBeGreaterThan(10);
  const all = Object.values(HELP).join("\n");
  for (const o of options) expect({ option: o, described: all.includes(`--${o}`) }).toEqual({ option: o, described: true });
});
