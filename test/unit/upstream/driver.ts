/**
 * Runs cases.ts in the current runtime (Node via an esbuild bundle, Deno from
 * source) and prints one JSON line per case: { name, ok, error? }.
 * Env: BLACKHOLE_PORT (see cases.ts), ONLY (a case name, optional).
 */
import process from "node:process";
import { undiciUpstream } from "../../../src/runtimes/upstream/undici.ts";
import { cases } from "./cases.ts";

/** A hung case is reported as failed instead of hanging the run (a liveness bound, not a timing check). */
const CASE_LIMIT_MS = 30_000;

const env = { blackholePort: Number(process.env.BLACKHOLE_PORT) };
for (const [name, run] of Object.entries(cases)) {
  if (process.env.ONLY && process.env.ONLY !== name) continue;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const limit = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`no result after ${CASE_LIMIT_MS} ms`)), CASE_LIMIT_MS)));
  try {
    await Promise.race([run(undiciUpstream, env), limit]);
    console.log(JSON.stringify({ name, ok: true }));
  } catch (error) {
    console.log(JSON.stringify({ name, ok: false, error: error instanceof Error ? `${error.name}: ${error.message}` : String(error) }));
  } finally {
    clearTimeout(timer);
  }
}
process.exit(0);
