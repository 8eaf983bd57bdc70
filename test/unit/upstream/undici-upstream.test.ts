/**
 * The Node/Deno upstream client (src/runtimes/upstream/undici.ts) in the
 * runtimes that use it: Bun's own `undici` module is a stub, so driver.ts runs
 * cases.ts in Node (an esbuild bundle, as the CLI does) and in Deno (from
 * source), and each case becomes one test here.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import { join, resolve } from "node:path";
import { build } from "esbuild";
import { cases } from "./cases.ts";

const ROOT = resolve(import.meta.dir, "../../..");
const BIN = join(ROOT, "node_modules/.bin");
const DRIVER = join(import.meta.dir, "driver.ts");

/**
 * A loopback listener that never accepts, with its queue (backlog 0) already
 * full: Linux then drops further SYNs, so a connect there neither completes nor
 * fails, the only way to see a connect timeout on loopback.
 */
const BLACKHOLE = [
  "import socket, sys",
  "s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen(0)",
  "fill = []",
  "for _ in range(2):",
  "    c = socket.socket(); c.setblocking(False); c.connect_ex(s.getsockname()); fill.append(c)",
  "print(s.getsockname()[1], flush=True)",
  "sys.stdin.readline()",
].join("\n");

let blackhole: ReturnType<typeof Bun.spawn<"pipe", "pipe", "inherit">> | undefined;
let blackholePort = 0;
let bundle = "";

beforeAll(async () => {
  blackhole = Bun.spawn(["python3", "-c", BLACKHOLE], { stdin: "pipe", stdout: "pipe", stderr: "inherit" });
  const { value } = await blackhole.stdout.getReader().read();
  blackholePort = Number(new TextDecoder().decode(value).trim());
  if (!(blackholePort > 0)) throw new Error("python3 could not open the black-hole listener");
  // Inside the repo so that Node resolves `undici` from node_modules.
  bundle = join(ROOT, `node_modules/.cache/upstream-unit/driver.${process.pid}.mjs`);
  await build({
    entryPoints: [DRIVER],
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    packages: "external",
    outfile: bundle,
    logLevel: "error",
  });
});

afterAll(() => {
  blackhole?.stdin.end();
  blackhole?.kill();
  if (bundle) rmSync(bundle, { force: true });
});

interface Outcome {
  readonly name: string;
  readonly ok: boolean;
  readonly error?: string;
}

async function runDriver(runtime: "node" | "deno"): Promise<Map<string, Outcome>> {
  const cmd = runtime === "node"
    ? ["node", bundle]
    : [join(BIN, "deno"), "run", "--quiet", "--allow-net", "--allow-env", "--allow-read", "--allow-sys", DRIVER];
  const proc = Bun.spawn(cmd, { cwd: ROOT, env: { ...process.env, BLACKHOLE_PORT: String(blackholePort) }, stdout: "pipe", stderr: "pipe" });
  const [out, err] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  const outcomes = new Map<string, Outcome>();
  for (const line of out.split("\n")) {
    if (!line.startsWith("{")) continue;
    const o = JSON.parse(line) as Outcome;
    outcomes.set(o.name, o);
  }
  if (outcomes.size === 0) throw new Error(`${runtime} driver reported nothing: ${err}`);
  return outcomes;
}

for (const runtime of ["node", "deno"] as const) {
  describe(`undici upstream on ${runtime}`, () => {
    let outcomes: Map<string, Outcome>;
    beforeAll(async () => {
      outcomes = await runDriver(runtime);
    }, 240_000);
    for (const name of Object.keys(cases)) {
      test(name, () => {
        const outcome = outcomes.get(name);
        expect(outcome, `${name} did not report`).toBeDefined();
        expect(outcome!.error ?? "").toBe("");
        expect(outcome!.ok).toBe(true);
      });
    }
  });
}
