/**
 * Worker processes as plain child processes (Bun, Deno: each binds the shared
 * port itself with SO_REUSEPORT), and the rebuild a rolling restart runs
 * first where workers run a bundle (Node, Deno: `fulcrum serve` passes the
 * command, so new files on disk become the new workers' code).
 */
import { spawn } from "node:child_process";
import type { SpawnWorker, WorkerProcess } from "../runtime.ts";

/**
 * Start `command` (program and arguments) once per worker, with this process's stdio for its logs.
 * `codeAt`: the argument that names the bundle, replaced by a rebuilt one (Deno).
 */
export function childProcessWorkers(command: readonly string[], env: Readonly<Record<string, string | undefined>>, codeAt = -1): SpawnWorker {
  return (extra, code): WorkerProcess => {
    const argv = code !== undefined && codeAt >= 0 ? command.map((a, i) => (i === codeAt ? code : a)) : command;
    const child = spawn(argv[0]!, argv.slice(1), { stdio: ["ignore", "inherit", "inherit"], env: { ...env, ...extra } });
    const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) => {
      child.once("exit", (code, signal) => resolve({ code, signal }));
      // Not started at all (no such program): no 'exit' follows.
      child.once("error", () => resolve({ code: 127, signal: null }));
    });
    return { pid: child.pid ?? 0, kill: (signal) => void child.kill(signal), exited };
  };
}

/** The rebuild `FULCRUM_REBUILD_COMMAND` names (a JSON list: program and arguments; it prints the new bundle's path), or undefined without one. */
export function rebuildCommand(env: Readonly<Record<string, unknown>>): (() => Promise<string>) | undefined {
  const raw = env.FULCRUM_REBUILD_COMMAND;
  if (typeof raw !== "string" || raw === "") return undefined;
  const command = JSON.parse(raw) as string[];
  return () =>
    new Promise((resolve, reject) => {
      const child = spawn(command[0]!, command.slice(1), { stdio: ["ignore", "pipe", "pipe"] });
      let errors = "";
      let out = "";
      child.stdout!.on("data", (d: Uint8Array) => (out += new TextDecoder().decode(d)));
      child.stderr!.on("data", (d: Uint8Array) => (errors = (errors + new TextDecoder().decode(d)).slice(-2000)));
      child.once("error", (e) => reject(e));
      // Its last line says what failed (`fulcrum: …`, esbuild's error): one line for the operator.
      const last = () => errors.trim().split("\n").filter((l) => l.trim() !== "").pop()?.trim();
      child.once("exit", (code) => (code === 0 ? resolve(out.trim().split("\n").pop()!) : reject(new Error(last() ?? `the rebuild exited with code ${code}`))));
    });
}
