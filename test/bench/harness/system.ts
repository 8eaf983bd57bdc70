/** The machine and tool versions the numbers were measured on, and installing the peers when missing. */
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";

/** Debian package → the command it provides. */
const PACKAGES: Record<string, string> = { nginx: "nginx", haproxy: "haproxy", caddy: "caddy", wrk: "wrk", "util-linux": "taskset" };

export function which(cmd: string): boolean {
  return spawnSync("sh", ["-c", `command -v ${cmd}`], { stdio: "ignore" }).status === 0;
}

/** `apt-get install -y` whatever is missing (with sudo when not root). Throws if it still is. */
export function ensurePackages(): void {
  const missing = Object.entries(PACKAGES).filter(([, cmd]) => !which(cmd)).map(([pkg]) => pkg);
  if (missing.length === 0) return;
  console.error(`bench: installing ${missing.join(", ")} with apt-get`);
  const sudo = process.getuid?.() === 0 ? [] : ["sudo"];
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  const run = (args: string[]) => spawnSync(sudo[0] ?? args[0]!, sudo.length ? args : args.slice(1), { stdio: "inherit", env, timeout: 600_000 });
  run(["apt-get", "update"]);
  run(["apt-get", "install", "-y", "--no-install-recommends", ...missing]);
  const still = Object.entries(PACKAGES).filter(([, cmd]) => !which(cmd)).map(([pkg]) => pkg);
  if (still.length) throw new Error(`bench: could not install ${still.join(", ")}`);
}

function firstLine(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: "utf8", timeout: 20_000 });
  const text = `${r.stdout ?? ""}\n${r.stderr ?? ""}`.split("\n").map((l) => l.trim()).find((l) => l !== "");
  return text ?? `(${cmd} not available)`;
}

export function versions(root: string): Record<string, string> {
  const bin = (n: string) => join(root, "node_modules", ".bin", n);
  return {
    nginx: firstLine("nginx", ["-v"]),
    HAProxy: firstLine("haproxy", ["-v"]),
    Caddy: firstLine("caddy", ["version"]),
    wrk: firstLine("wrk", ["-v"]),
    Bun: `bun ${firstLine(bin("bun"), ["-v"])}`,
    Deno: firstLine(bin("deno"), ["-v"]),
    Node: `node ${firstLine("node", ["-v"])}`,
    workerd: firstLine(workerdBinary(root), ["--version"]),
    Hono: `hono ${JSON.parse(readFileSync(join(root, "node_modules/hono/package.json"), "utf8")).version}`,
    undici: `undici ${JSON.parse(readFileSync(join(root, "node_modules/undici/package.json"), "utf8")).version}`,
  };
}

export function workerdBinary(root: string): string {
  const direct = join(root, "node_modules/@cloudflare/workerd-linux-64/bin/workerd");
  return which(direct) ? direct : join(root, "node_modules/.bin/workerd");
}

export interface Machine {
  readonly cpus: number;
  readonly cpuModel: string;
  readonly memory: string;
  readonly kernel: string;
  readonly loadAtStart: string;
  readonly date: string;
}

export function machine(): Machine {
  const cpuinfo = readFileSync("/proc/cpuinfo", "utf8");
  const meminfo = readFileSync("/proc/meminfo", "utf8");
  const memKb = Number(/^MemTotal:\s+(\d+)/m.exec(meminfo)?.[1] ?? 0);
  return {
    cpus: Number(spawnSync("nproc", [], { encoding: "utf8" }).stdout.trim()),
    cpuModel: /^model name\s*:\s*(.*)$/m.exec(cpuinfo)?.[1]?.trim() ?? "unknown",
    memory: `${(memKb / 1024 / 1024).toFixed(1)} GiB`,
    kernel: spawnSync("uname", ["-sr"], { encoding: "utf8" }).stdout.trim(),
    loadAtStart: readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" "),
    date: new Date().toISOString().replace(/\.\d+Z$/, "Z"),
  };
}
