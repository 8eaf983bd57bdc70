#!/usr/bin/env node
// `npm test`: strict typecheck, then every unit and e2e test with `bun test`
// (the e2e suite starts the real balancer on bun, deno, node and workerd).
// Ends with a plain "N passed, N failed" line for CI.
import { spawn, spawnSync } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const bin = (name) => join(root, "node_modules", ".bin", name);

console.log("> tsc --noEmit (strict)");
const tsc = spawnSync(bin("tsc"), ["--noEmit", "-p", root], { stdio: "inherit" });
if (tsc.status !== 0) {
  console.log("typecheck failed\n0 passed, 1 failed");
  process.exit(1);
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
