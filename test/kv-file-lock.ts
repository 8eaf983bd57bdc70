/**
 * Another process holding a Deno KV file's SQLite write lock (python3's
 * sqlite3, `BEGIN EXCLUSIVE`) until `release()`: the real way a local KV
 * store becomes unwritable while the balancers keep running.
 */
export async function lockKvFile(path: string): Promise<{ release(): Promise<number> }> {
  const script = [
    "import sqlite3, sys",
    "c = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=0)",
    'c.execute("BEGIN EXCLUSIVE")',
    'print("locked", flush=True)',
    "sys.stdin.readline()",
    'c.execute("ROLLBACK")',
  ].join("\n");
  const proc = Bun.spawn(["python3", "-c", script, path], { stdin: "pipe", stdout: "pipe", stderr: "inherit" });
  const { value } = await proc.stdout.getReader().read();
  if (!new TextDecoder().decode(value).includes("locked")) {
    proc.kill();
    throw new Error(`python3 could not lock ${path}`);
  }
  return {
    async release() {
      proc.stdin.end();
      return proc.exited;
    },
  };
}
