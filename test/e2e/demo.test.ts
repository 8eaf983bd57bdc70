/**
 * `npm start` as a new user runs it: the demo answers, and the commands it
 * prints work against it (its admin API is on the default 127.0.0.1:9901, so
 * the commands need no --admin). Ctrl-C stops it.
 */
import { expect, test } from "bun:test";
import { spawn } from "node:child_process";
import { join } from "node:path";
import { freePort, fulcrumCommand, ROOT } from "./launch.ts";

test("npm start: the demo serves blue, and the printed fulcrum commands switch it to green", async () => {
  const port = await freePort();
  const child = spawn("node", [join(ROOT, "src/cli/fulcrum.mjs"), "demo", "--port", String(port)], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  child.stdout!.on("data", (d) => (out += d));
  child.stderr!.on("data", (d) => (out += d));
  const exited = new Promise<number | null>((ok) => child.on("exit", (code) => ok(code)));
  try {
    for (let i = 0; i < 300 && !out.includes("Ctrl-C to stop"); i++) await Bun.sleep(100);
    expect(out).toContain("npx fulcrum route default green");
    const backend = async () => ((await (await fetch(`http://127.0.0.1:${port}/hello`)).json()) as { backend: string }).backend;
    expect(new Set([await backend(), await backend()])).toEqual(new Set(["alpha", "beta"]));
    const status = await fulcrumCommand(["status"]);
    expect([status.code, status.out]).toEqual([0, expect.stringContaining("group green")]);
    const routed = await fulcrumCommand(["route", "default", "green"]);
    expect([routed.code, routed.out.trim()]).toEqual([0, "rule default: forward green"]);
    expect(await backend()).toBe("gamma");
  } finally {
    child.kill("SIGINT");
  }
  expect(await exited).toBe(0);
}, 60_000);
