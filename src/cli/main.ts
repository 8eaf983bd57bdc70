/**
 * `fulcrum check --config FILE` validates like `nginx -t`.
 * `fulcrum serve --config FILE [--runtime bun|deno|node|workerd] [--port N]` runs the balancer.
 * `fulcrum demo [--port N]` runs three demo backends with the balancer in front (npm start).
 * `fulcrum status|route|drain|ready|weight|target|reload|events` change and read a running
 * balancer through its admin API (commands.ts).
 */
import { spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { ConfigError, parseConfigText, summarize } from "../config/load.ts";
import { type Config, listenersOf } from "../config/schema.ts";
import { type CheckRuntime, preflight } from "./preflight.ts";
import { HELP } from "./help.ts";
import { buildWorkersProject } from "./build-workers.ts";
import { buildDenoEntry, buildNodeEntry } from "./build.ts";
import { serveWorkerd } from "./serve-workerd.ts";
import { watchParent } from "../runtimes/server/parent.ts";
import { osReason } from "../runtimes/server/boot.ts";
import { parseWorkers } from "../runtimes/server/args.ts";
import { adminTarget, CommandError } from "./admin-client.ts";
import { type CommandFlags, CONTROL_USAGE, runCommand } from "./commands.ts";

const RUNTIMES = ["bun", "deno", "node", "workerd"] as const;
type Runtime = (typeof RUNTIMES)[number];

const USAGE = `usage:
  fulcrum serve [--config FILE] [--runtime bun|deno|node|workerd] [--port N] [--workers N|auto]
                [--deno-server deno|node (deno)] [--trust-cf-connecting-ip (workerd)]
  fulcrum check [--config FILE] [--runtime bun|deno|node|workerd]
  fulcrum demo [--port N]
  fulcrum build workers [--config FILE] --out DIR [--name NAME]
  fulcrum build entry node|deno               rebuild what a Node or Deno server runs (fulcrum restart does)
${CONTROL_USAGE}
  fulcrum --version
  fulcrum COMMAND --help                      each option of COMMAND, with an example`;

const CONTROL_COMMANDS = new Set(["status", "route", "drain", "ready", "weight", "target", "canary", "reload", "restart", "events"]);

interface Flags {
  config?: string;
  runtime?: string;
  port?: string;
  /** Worker processes under a primary (bun, deno, node). */
  workers?: string;
  /** workerd only: believe a client's CF-Connecting-IP (see src/runtimes/workerd/bindings.ts). */
  trustCfConnectingIp?: boolean;
  /** deno only: `deno` (Deno.serve) or `node` (Deno's node:http, which keeps the client timeouts). */
  denoServer?: string;
  /** build workers: the folder to write the wrangler project to, and the Worker's name. */
  out?: string;
  name?: string;
}

function parseFlags(argv: readonly string[]): Flags {
  const flags: Flags = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === "--trust-cf-connecting-ip") {
      flags.trustCfConnectingIp = true;
      continue;
    }
    const m = /^--(config|runtime|port|workers|deno-server|out|name)(?:=(.*))?$/.exec(arg);
    if (!m) throw new Error(`unknown argument ${JSON.stringify(arg)}`);
    const value = m[2] ?? argv[++i];
    if (value === undefined) throw new Error(`--${m[1]} needs a value`);
    if (m[1] === "deno-server") flags.denoServer = value;
    else flags[m[1] as "config" | "runtime" | "port" | "workers" | "out" | "name"] = value;
  }
  return flags;
}

function bin(root: string, name: string): string {
  const local = join(root, "node_modules", ".bin", name);
  return existsSync(local) ? local : name;
}

/**
 * Run a child with our stdio. Signals sent to this process go on to it: SIGTERM and SIGINT
 * (graceful shutdown is its job) and SIGHUP (a reload). It learns our pid, to shut down
 * should we vanish without passing one on (server/parent.ts); and if our own parent goes
 * (`npx` exits on SIGTERM without waiting for us), it gets SIGTERM: one graceful shutdown,
 * never a balancer left serving behind a stopped command.
 */
function run(cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  return new Promise((done) => {
    const child = spawn(cmd, args, { stdio: "inherit", env: { ...env, FULCRUM_SUPERVISOR_PID: String(process.pid) } });
    for (const signal of ["SIGTERM", "SIGINT", "SIGHUP", "SIGUSR2"] as const) process.on(signal, () => child.kill(signal));
    const stopWatching = watchParent(process.ppid, () => process.ppid, () => child.kill("SIGTERM"));
    // Under npx there is a shell between npm and us: npm ending on a signal it does not pass on
    // (SIGHUP) leaves the shell, our parent, alive; its own parent changing says npm is gone.
    const grandparent = parentOf(process.ppid);
    const stopWatchingNpm = grandparent !== undefined && grandparent > 1
      ? watchParent(grandparent, () => parentOf(process.ppid) ?? 0, () => child.kill("SIGTERM"))
      : () => {};
    child.on("error", (e) => {
      const name = cmd.split("/").pop()!;
      const missing = (e as NodeJS.ErrnoException).code === "ENOENT" && (name === "bun" || name === "deno");
      console.error(
        missing
          ? `fulcrum: cannot start ${name}: it is not installed (npm ci --omit=dev leaves out the runtimes, which are devDependencies): install ${name} (or npm ci with dev dependencies), or run with --runtime node`
          : `fulcrum: cannot start ${cmd}: ${e.message}`,
      );
      done(1);
    });
    child.on("exit", (code, signal) => {
      stopWatching();
      stopWatchingNpm();
      done(code ?? (signal ? 128 + 15 : 1));
    });
  });
}

/** A process's parent pid from /proc (Linux); undefined where there is no /proc or it is gone. */
function parentOf(pid: number): number | undefined {
  try {
    // The command name (field 2) is in parentheses and may hold spaces: the ppid is the 2nd field after its ")".
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
  } catch {
    return undefined;
  }
}

/**
 * The config file: `--config`, else `$FULCRUM_CONFIG`, else `fulcrum.json` here (as the runtimes
 * look for it).
 */
function configPathOf(flags: Flags, command: string): string {
  const path = flags.config ?? process.env.FULCRUM_CONFIG ?? (existsSync("fulcrum.json") ? "fulcrum.json" : undefined);
  if (path === undefined) throw new Error(`${command}: no config: pass --config FILE, set FULCRUM_CONFIG, or run where fulcrum.json is`);
  return resolve(path);
}

/**
 * The config, checked as `nginx -t` would for `runtime` (schema, then what would stop it starting:
 * certificates, secrets from the environment, keys a Worker ignores), or undefined after printing
 * every problem.
 */
function loadOrReport(path: string, runtime: CheckRuntime, local = false): { config: Config; raw: unknown; notes: string[] } | undefined {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    console.error(`fulcrum: cannot read ${path}: ${osReason(e)}`);
    return undefined;
  }
  let config: Config;
  let raw: unknown;
  try {
    ({ config, raw } = parseConfigText(text, path));
  } catch (e) {
    if (e instanceof ConfigError) {
      console.error(e.message);
      return undefined;
    }
    throw e;
  }
  const { problems, notes } = preflight(config, raw, runtime, process.env, local);
  if (problems.length > 0) {
    console.error(new ConfigError(problems, path).message);
    return undefined;
  }
  return { config, raw, notes };
}

function runtimeOf(flags: Flags): Runtime {
  const runtime = (flags.runtime ?? "bun") as Runtime;
  if (!RUNTIMES.includes(runtime)) throw new Error(`--runtime: expected one of ${RUNTIMES.join(", ")}, got ${JSON.stringify(flags.runtime)}`);
  return runtime;
}

async function serve(root: string, flags: Flags): Promise<number> {
  const configPath = configPathOf(flags, "serve");
  const runtime = runtimeOf(flags);
  if (flags.trustCfConnectingIp && runtime !== "workerd") {
    throw new Error("--trust-cf-connecting-ip is for --runtime workerd only (the other runtimes take the socket's address)");
  }
  if (flags.denoServer !== undefined && runtime !== "deno") throw new Error("--deno-server is for --runtime deno only");
  if (flags.denoServer !== undefined && flags.denoServer !== "deno" && flags.denoServer !== "node") {
    throw new Error(`--deno-server: expected deno or node, got ${JSON.stringify(flags.denoServer)}`);
  }
  const workers = flags.workers === undefined ? undefined : parseWorkers(flags.workers);
  if (workers !== undefined && runtime === "workerd") throw new Error("--workers is for bun, deno and node (Cloudflare runs as many isolates as it needs)");
  const loaded = loadOrReport(configPath, runtime, true);
  if (!loaded) return 1;
  const { config } = loaded;
  const first = listenersOf(config)[0]!;
  const port = flags.port ?? String(first.port);
  // --port only when given: it pins the first listener's port, which a reload could then not move.
  const entryArgs = ["--config", configPath, ...(flags.port ? ["--port", flags.port] : []), ...(flags.workers ? ["--workers", flags.workers] : [])];
  // A rolling restart (`fulcrum restart`, SIGUSR2) rebuilds the bundle first, so new files on disk become the workers' code.
  const rebuild = (name: "node" | "deno") => ({
    ...process.env,
    FULCRUM_REBUILD_COMMAND: JSON.stringify([process.execPath, join(root, "src/cli/fulcrum.mjs"), "build", "entry", name]),
  });
  switch (runtime) {
    case "bun":
      return run(bin(root, "bun"), [join(root, "src/runtimes/bun/entry.ts"), ...entryArgs]);
    case "deno": {
      const deno = bin(root, "deno");
      // A local Deno KV file (and SQLite's -wal/-shm beside it) needs write access to its directory, and nothing else does.
      const kvFile = config.state.store === "deno-kv" && config.state.path ? resolve(config.state.path) : undefined;
      const write = kvFile ? [`--allow-write=${dirname(kvFile)}`] : [];
      const server = flags.denoServer ? ["--deno-server", flags.denoServer] : [];
      const flagsOf = (extra: string[]) => [
        "run",
        "--quiet",
        "--allow-net",
        "--allow-read",
        "--allow-env",
        "--allow-sys",
        ...write,
        ...extra,
        "--unstable-kv",
        "--unstable-net",
        "--unstable-no-legacy-abort",
      ];
      const entry = await buildDenoEntry(root);
      const rest = [entry, ...entryArgs, ...server];
      if ((workers ?? config.workers) === undefined) return run(deno, [...flagsOf([]), ...rest]);
      // The primary starts the workers (this command without --allow-run) and the rebuild (Node).
      const env = { ...rebuild("deno"), FULCRUM_WORKER_COMMAND: JSON.stringify([deno, ...flagsOf([]), ...rest]) };
      return run(deno, [...flagsOf([`--allow-run=${deno},${process.execPath}`]), ...rest], env);
    }
    case "node":
      return run(process.execPath, [await buildNodeEntry(root), ...entryArgs], rebuild("node"));
    case "workerd":
      return serveWorkerd(root, configPath, first.host === "0.0.0.0" ? "127.0.0.1" : first.host, Number(port), {
        trustCfConnectingIp: flags.trustCfConnectingIp ?? false,
      });
  }
}

/** A control command's words and flags (`--admin`, `--token`, `--json`, `--name`, `--weight`, `--backup`, `--config`). */
function parseControl(argv: readonly string[]): { args: string[]; admin?: string; token?: string; flags: CommandFlags } {
  const args: string[] = [];
  const out: { admin?: string; token?: string; flags: CommandFlags } = { flags: {} };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const m = /^--(admin|token|name|weight)(?:=(.*))?$/.exec(arg);
    if (m) {
      const value = m[2] ?? argv[++i];
      if (value === undefined) throw new CommandError(`--${m[1]} needs a value`);
      if (m[1] === "admin" || m[1] === "token") out[m[1]] = value;
      else out.flags[m[1] as "name" | "weight"] = value;
    } else if (arg === "--json" || arg === "--backup" || arg === "--config") out.flags[arg.slice(2) as "json" | "backup" | "config"] = true;
    else if (arg.startsWith("--")) throw new CommandError(`unknown option ${JSON.stringify(arg)}`);
    else args.push(arg);
  }
  return { args, ...out };
}

export async function main(argv: string[], root: string): Promise<number> {
  const [command, ...rest] = argv;
  if (command === "--version" || command === "-V" || command === "version") {
    const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { version: string };
    console.log(`fulcrum ${pkg.version}`);
    return 0;
  }
  if (command !== undefined && Object.hasOwn(HELP, command) && rest.some((a) => a === "--help" || a === "-h")) {
    console.log(HELP[command]);
    return 0;
  }
  if (command === "help" && rest[0] !== undefined && Object.hasOwn(HELP, rest[0])) {
    console.log(HELP[rest[0]]);
    return 0;
  }
  if (command !== undefined && CONTROL_COMMANDS.has(command)) {
    try {
      const { args, admin, token, flags } = parseControl(rest);
      console.log(await runCommand(adminTarget({ admin, token }, process.env), command, args, flags));
      return 0;
    } catch (e) {
      if (!(e instanceof CommandError)) throw e;
      console.error(`fulcrum ${command}: ${e.message}`);
      return 1;
    }
  }
  try {
    switch (command) {
      case "check": {
        const flags = parseFlags(rest);
        const loaded = loadOrReport(configPathOf(flags, "check"), runtimeOf(flags));
        if (!loaded) return 1;
        console.log([summarize(loaded.config), ...loaded.notes.map((n) => `  note: ${n}`)].join("\n"));
        return 0;
      }
      case "serve":
        return await serve(root, parseFlags(rest));
      case "build": {
        const [what, ...options] = rest;
        if (what === "entry" && (options[0] === "node" || options[0] === "deno")) {
          try {
            console.log(options[0] === "node" ? await buildNodeEntry(root) : await buildDenoEntry(root));
            return 0;
          } catch (e) {
            // esbuild's error names the file and line; one line, as a rolling restart reports it.
            console.error(`fulcrum: build entry ${options[0]}: ${(e as Error).message.split("\n").filter((l) => l.trim() !== "").slice(0, 2).join(" ")}`);
            return 1;
          }
        }
        if (what !== "workers") throw new Error(`build: expected build workers --config FILE --out DIR [--name NAME], got ${JSON.stringify(what ?? "")}`);
        const flags = parseFlags(options);
        if (!flags.out) throw new Error("build workers: --out DIR is required (the folder to write the wrangler project to)");
        const configPath = configPathOf(flags, "build workers");
        const loaded = loadOrReport(configPath, "workerd");
        if (!loaded) return 1;
        const name = flags.name ?? "fulcrum";
        const project = await buildWorkersProject(root, configPath, loaded.config, loaded.raw, flags.out, name);
        for (const w of project.warnings) console.error(`fulcrum: warning: ${w}`);
        console.log(
          [
            `wrote ${project.dir} (wrangler.toml, worker.mjs with the config inside) for Worker ${JSON.stringify(name)}`,
            ...project.secrets.map((s) => `  then: npx wrangler secret put ${s}`),
            `  deploy: cd ${project.dir} && npx wrangler deploy`,
          ].join("\n"),
        );
        return 0;
      }
      case "demo": {
        const flags = parseFlags(rest);
        return await run(bin(root, "bun"), [join(root, "src/demo.ts"), ...(flags.port ? ["--port", flags.port] : [])]);
      }
      case undefined:
      case "help":
      case "--help":
      case "-h":
        console.log(USAGE);
        return command === undefined ? 1 : 0;
      default:
        throw new Error(`unknown command ${JSON.stringify(command)}`);
    }
  } catch (e) {
    console.error(`fulcrum: ${(e as Error).message}\n${USAGE}`);
    return 1;
  }
}
