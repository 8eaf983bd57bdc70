#!/usr/bin/env node
// `npm test`: format and lint checks, strict typecheck, then every unit and e2e test with `bun test`
// (the e2e suite starts the real balancer on bun, deno, node and workerd).
// Ends with a plain "N passed, N failed" line for CI.
import { spawn, spawnSync } from "node:child_process";
import { readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const bin = (name) => join(root, "node_modules", ".bin", name);

// Style is the formatter's and the linter's (deno fmt, deno lint; settings in deno.json), then types.
for (
  const [what, cmd, args] of [
    ["format", bin("deno"), ["fmt", "--check"]],
    ["lint", bin("deno"), ["lint"]],
    ["typecheck", bin("tsc"), ["--noEmit", "-p", root]],
  ]
) {
  console.log(`> ${[cmd.split("/").pop(), ...args].join(" ")}`);
  const r = spawnSync(cmd, args, { cwd: root, stdio: "inherit", env: { ...process.env, NO_COLOR: "1" } });
  if (r.status !== 0) {
    console.log(`${what} failed${what === "format" ? " (npm run fmt fixes it)" : ""}\n0 passed, 1 failed`);
    process.exit(1);
  }
}

// Two `bun test` processes at once, each with half of the files: most of the e2e suite waits on
// timers (health intervals, drains, timeouts), so two halves on two cores take about half the time
// (5 min against 9, measured) and passed alike. Lines of the second half are marked "[b]".
const SECOND = [
  "test/e2e/node.test.ts",
  "test/e2e/workerd.test.ts",
  "test/e2e/shared-deno-kv.test.ts",
  "test/e2e/shared-cloudflare.test.ts",
  "test/e2e/build-workers.test.ts",
  "test/e2e/workers-upgrade.test.ts",
];
const FIRST = [
  "test/unit",
  "test/bench",
  ...readdirSync(join(root, "test/e2e")).map((f) => `test/e2e/${f}`).filter((f) => f.endsWith(".test.ts") && !SECOND.includes(f)),
];
const extra = process.argv.slice(2);

function half(files, mark, index) {
  const args = ["test", "--timeout", "120000", ...extra, ...files];
  console.log(`> ${mark}bun ${args.join(" ")}`);
  // Each half hands out ports of its own parity (test/e2e/launch.ts freePort).
  const env = index === undefined ? process.env : { ...process.env, FULCRUM_TEST_HALF: String(index) };
  const child = spawn(bin("bun"), args, { cwd: root, stdio: ["ignore", "pipe", "pipe"], env });
  let tail = "";
  let partial = "";
  const tee = (stream, out) =>
    stream.on("data", (d) => {
      tail = (tail + d).slice(-4000);
      if (mark === "") return void out.write(d);
      const text = partial + d;
      const lines = text.split("\n");
      partial = lines.pop();
      for (const line of lines) out.write(`${mark}${line}\n`);
    });
  tee(child.stdout, process.stdout);
  tee(child.stderr, process.stderr);
  return new Promise((done) =>
    child.on("exit", (code) => {
      if (partial) process.stdout.write(`${mark}${partial}\n`);
      const passed = Number(/^\s*(\d+) pass$/m.exec(tail)?.[1] ?? 0);
      const failed = Number(/^\s*(\d+) fail$/m.exec(tail)?.[1] ?? (code === 0 ? 0 : 1));
      done({ code, passed, failed });
    })
  );
}

// Arguments (`npm test -- test/unit`, `-t name`) choose the tests themselves: one process, as given.
const results = extra.length ? [await half([], "")] : await Promise.all([half(FIRST, "", 0), half(SECOND, "[b] ", 1)]);
const passed = results.reduce((n, r) => n + r.passed, 0);
const failed = results.reduce((n, r) => n + r.failed, 0);
console.log(`${passed} passed, ${failed} failed`);
process.exit(results.every((r) => r.code === 0 && r.passed > 0) ? 0 : 1);
