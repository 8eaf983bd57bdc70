/**
 * Arguments every runtime entry accepts: `--config FILE [--port N]`. Without
 * `--config`, the path comes from `FULCRUM_CONFIG`, else `fulcrum.json` in the
 * working directory (what `deno task start` and Deno Deploy use: no CLI args there).
 */
export interface EntryArgs {
  readonly config: string;
  readonly port: number | undefined;
}

export function parseEntryArgs(argv: readonly string[], env: Readonly<Record<string, string | undefined>> = {}): EntryArgs {
  let config: string | undefined;
  let port: number | undefined;
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
  }
  config ??= env.FULCRUM_CONFIG || "fulcrum.json";
  if (port !== undefined && !(Number.isInteger(port) && port >= 0 && port <= 65535)) throw new Error("--port: expected 0-65535");
  return { config, port };
}
