#!/usr/bin/env node
// `npm test`: format and lint checks, strict typecheck, then every unit and e2e test with `bun test`
// (the e2e suite starts the real balancer on bun, deno, node and workerd).
// Ends with a plain "N passed, N failed" line for CI.
import { spawn, spawnSync } from "node:child_process";
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

const args = ["test", "--timeout", "120000", ...process.argv.slice(2)];
console.log(`> bun ${args.join(" ")}`);
const child = spawn(bin("bun"), args, { cwd: root, stdio: ["ignore", "pipe", "pipe"] });
let tail = "";
const tee = (stream, out) =>
  stream.on("data", (d) => {
    out.write(d);
    tail = (tail + d).slice(-4000);
  });
tee(child.stdout, process.stdout);
tee(child.stderr, process.stderr);
child.on("exit", (code) => {
  const passed = Number(/^\s*(\d+) pass$/m.exec(tail)?.[1] ?? 0);
  const failed = Number(/^\s*(\d+) fail$/m.exec(tail)?.[1] ?? (code === 0 ? 0 : 1));
  console.log(`${passed} passed, ${failed} failed`);
  process.exit(code === 0 && passed > 0 ? 0 : 1);
});
