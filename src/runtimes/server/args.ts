/**
 * Arguments every runtime entry accepts: `--config FILE [--port N] [--workers N|auto]`. Without
 * `--config`, the path comes from `FULCRUM_CONFIG`, else `fulcrum.json` in the
 * working directory (what `deno task start` and Deno Deploy use: no CLI args there).
 */
export interface EntryArgs {
  readonly config: string;
  readonly port: number | undefined;
  /** `--workers N|auto`: worker processes under a primary (the config's `workers` otherwise). */
  readonly workers: number | "auto" | undefined;
}

/** `N` (1-256) or `auto`; throws with what was expected. */
export function parseWorkers(value: string, what = "--workers"): number | "auto" {
  if (value === "auto") return "auto";
  const n = Number(value);
  if (!(Number.isInteger(n) && n >= 1 && n <= 256)) {
    throw new Error(`${what}: expected a number of worker processes from 1 to 256, or auto, got ${JSON.stringify(value)}`);
  }
  return n;
}

export function parseEntryArgs(argv: readonly string[], env: Readonly<Record<string, string | undefined>> = {}): EntryArgs {
  let config: string | undefined;
  let port: number | undefined;
  let workers: number | "auto" | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const value = (): string => {
      const next = argv[++i];
      if (next === undefined) throw new Error(`${a} needs a value`);
      return next;
    };
    if (a === "--config" || a === "-c") config = value();
    else if (a.startsWith("--config=")) config = a.slice(9);
    else if (a === "--port" || a === "-p") port = Number(value());
    else if (a.startsWith("--port=")) port = Number(a.slice(7));
    else if (a === "--workers") workers = parseWorkers(value());
    else if (a.startsWith("--workers=")) workers = parseWorkers(a.slice(10));
  }
  config ??= env.FULCRUM_CONFIG || "fulcrum.json";
  if (port !== undefined && !(Number.isInteger(port) && port >= 0 && port <= 65535)) throw new Error("--port: expected 0-65535");
  return { config, port, workers };
}
