/**
 * The Deno KV store against real Deno KV files: the single-process contract
 * (deno-kv.deno.ts under `deno test`), two deno processes sharing one file
 * (deno-kv-peer.deno.ts), and fail static while another process holds the
 * file's SQLite lock (python3's sqlite3, `BEGIN EXCLUSIVE`).
 */
import { afterEach, describe, expect, test } from "bun:test";
import { lockKvFile } from "../../kv-file-lock.ts";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { DenoKvUnavailableError, type Kv, openDenoKvStateStore } from "../../../src/state/deno-kv.ts";

const root = join(import.meta.dir, "..", "..", "..");
const deno = join(root, "node_modules", ".bin", "deno");
const here = import.meta.dir;
const denoEnv = { ...process.env, NO_COLOR: "1" };
const cleanups: (() => void)[] = [];

afterEach(() => {
  for (const cleanup of cleanups.splice(0).reverse()) cleanup();
});

function tempKvPath(): string {
  const dir = mkdtempSync(join(tmpdir(), "fulcrum-kv-"));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return join(dir, "state.sqlite");
}

type Answer = { ok?: Record<string, unknown>; error?: string; ms: number };

/** A deno process running one store on `path`, answering one JSON line per command. */
class Peer {
  readonly pushed: number[] = [];
  readonly ready: Promise<void>;
  readonly exited: Promise<number>;
  private readonly waiting: ((a: Answer) => void)[] = [];
  private readonly proc: Subprocess<"pipe", "pipe", "pipe">;
  private stderrText = "";

  /** `openAt`: epoch ms at which the peer opens the file (peers given the same one race). */
  constructor(path: string, openAt?: number) {
    const args = openAt === undefined ? [path] : [path, String(openAt)];
    this.proc = Bun.spawn([deno, "run", "--quiet", "--unstable-kv", "--allow-read", "--allow-write", join(here, "deno-kv-peer.deno.ts"), ...args], {
      stdin: "pipe",
      stdout: "pipe",
      stderr: "pipe",
      env: denoEnv,
    });
    cleanups.push(() => this.proc.kill());
    let markReady: () => void = () => {};
    let failStart: (error: Error) => void = () => {};
    this.ready = new Promise((resolve, reject) => ((markReady = resolve), (failStart = reject)));
    this.ready.catch(() => {}); // reported where awaited; a peer killed at cleanup is not an unhandled rejection
    void this.readLines(this.proc.stdout, (line) => {
      const message = JSON.parse(line) as Answer & { pushed?: number; ready?: boolean };
      if (message.ready) markReady();
      else if (message.pushed !== undefined) this.pushed.push(message.pushed);
      else this.waiting.shift()?.(message);
    });
    void new Response(this.proc.stderr).text().then((t) => (this.stderrText = t));
    this.exited = this.proc.exited;
    // A peer that dies before it is ready fails the test with its stderr instead of leaving it waiting.
    void this.exited.then(async (code) => {
      await Bun.sleep(50); // let stderr drain
      failStart(new Error(`deno peer exited with ${code} before it was ready:\n${this.stderrText}`));
    });
  }

  get stderr(): string {
    return this.stderrText;
  }

  send(command: Record<string, unknown>): Promise<Answer> {
    const answer = new Promise<Answer>((resolve) => this.waiting.push(resolve));
    this.proc.stdin.write(`${JSON.stringify(command)}\n`);
    this.proc.stdin.flush();
    return answer;
  }

  async ok(command: Record<string, unknown>): Promise<Record<string, unknown>> {
    const answer = await this.send(command);
    if (answer.error !== undefined) throw new Error(`${JSON.stringify(command)} failed: ${answer.error}`);
    return answer.ok!;
  }

  private async readLines(stream: ReadableStream<Uint8Array>, onLine: (line: string) => void): Promise<void> {
    const decoder = new TextDecoder();
    let buffered = "";
    const reader = stream.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      buffered += decoder.decode(value, { stream: true });
      let newline: number;
      while ((newline = buffered.indexOf("\n")) >= 0) {
        onLine(buffered.slice(0, newline));
        buffered = buffered.slice(newline + 1);
      }
    }
  }
}

/** Another process holding the KV file's SQLite write lock until `release()`. */
async function lockFile(path: string): Promise<{ release: () => Promise<void> }> {
  const lock = await lockKvFile(path);
  let released = false;
  cleanups.push(() => void (released || lock.release()));
  return {
    release: async () => {
      released = true;
      expect(await lock.release()).toBe(0);
    },
  };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe("deno-kv state store on a real Deno KV file", () => {
  test("the StateStore contract in one deno process (deno test --unstable-kv)", () => {
    const run = Bun.spawnSync([deno, "test", "--quiet", "--unstable-kv", "--allow-read", "--allow-write", join(here, "deno-kv.deno.ts")], {
      env: denoEnv,
      cwd: root,
    });
    const output = `${run.stdout.toString()}\n${run.stderr.toString()}`;
    if (run.exitCode !== 0) throw new Error(`deno test failed (exit ${run.exitCode}):\n${output}`);
    expect(output).toMatch(/ok \| 20 passed \| 0 failed/);
  }, 60_000);

  test("two deno processes on one file: writes are seen (load), concurrent updates lose nothing, leases are exclusive", async () => {
    const path = tempKvPath();
    const a = new Peer(path);
    const b = new Peer(path);
    await Promise.all([a.ready, b.ready]);

    expect(await a.ok({ op: "setWeight", group: "app", target: "http://10.0.0.1", weight: 5 })).toEqual({ version: 1 });
    expect(await b.ok({ op: "load" })).toEqual({ version: 1, weights: { "http://10.0.0.1": 5 } });

    // B's subscriber is told of A's write once B learns of it (its poll of load()).
    await b.ok({ op: "subscribe" });
    await a.ok({ op: "setWeight", group: "app", target: "http://10.0.0.2", weight: 7 });
    expect(await b.ok({ op: "load" })).toMatchObject({ version: 2 });
    expect(b.pushed).toContain(2);

    // Both processes update at once, 10 writes each: none is lost.
    const writes = [a, b].flatMap((peer, p) =>
      Array.from({ length: 10 }, (_, i) => peer.ok({ op: "setWeight", group: "app", target: `http://10.1.${p}.${i}`, weight: i }))
    );
    await Promise.all(writes);
    const final = await a.ok({ op: "load" });
    expect(final.version).toBe(22);
    expect(Object.keys(final.weights as object).length).toBe(22);
    expect(b.pushed).toEqual([...b.pushed].sort((x, y) => x - y)); // never an older version after a newer one

    // A lease held by one process is refused to the other until released.
    expect(await a.ok({ op: "acquire", name: "probe:app", holder: "a", ttlMs: 30_000 })).toEqual({ acquired: true });
    expect(await b.ok({ op: "acquire", name: "probe:app", holder: "b", ttlMs: 30_000 })).toEqual({ acquired: false });
    expect(await a.ok({ op: "acquire", name: "probe:app", holder: "a", ttlMs: 30_000 })).toEqual({ acquired: true });
    await b.ok({ op: "release", name: "probe:app", holder: "b" }); // not b's: no effect
    expect(await b.ok({ op: "acquire", name: "probe:app", holder: "b", ttlMs: 30_000 })).toEqual({ acquired: false });
    await a.ok({ op: "release", name: "probe:app", holder: "a" });
    expect(await b.ok({ op: "acquire", name: "probe:app", holder: "b", ttlMs: 30_000 })).toEqual({ acquired: true });
    expect(await a.ok({ op: "acquire", name: "probe:app", holder: "a", ttlMs: 30_000 })).toEqual({ acquired: false });
  }, 30_000);

  test("fail static: while another process holds the file's lock, calls reject promptly instead of hanging; afterwards they work again", async () => {
    const path = tempKvPath();
    const a = new Peer(path);
    await a.ready;
    await a.ok({ op: "setWeight", group: "app", target: "http://10.0.0.1", weight: 1 });

    const lock = await lockFile(path);
    const write = await a.send({ op: "setWeight", group: "app", target: "http://10.0.0.2", weight: 2 });
    expect(write.error).toMatch(/DenoKvUnavailableError: deno-kv store: compareAndSet: database is locked/);
    const lease = await a.send({ op: "acquire", name: "probe:app", holder: "a", ttlMs: 30_000 });
    expect(lease.error).toMatch(/DenoKvUnavailableError: deno-kv store: tryAcquireLease: database is locked/);
    // A new process opens the file, but its first read waits for the lock (measured: as long as it is held),
    // so start-up's first load() times out instead of hanging, and calls fail fast while that read is stuck.
    const late = new Peer(path);
    await late.ready; // (its opener returned; openStateStore's load comes next)
    const firstLoad = await late.send({ op: "load" });
    expect(firstLoad.error).toMatch(/DenoKvUnavailableError: deno-kv store: load: no answer within 2000 ms/);
    const secondLoad = await late.send({ op: "load" });
    expect(secondLoad.error).toMatch(/DenoKvUnavailableError: deno-kv store: load: the database has not answered an earlier call yet/);
    // The process that had it open keeps reading (SQLite WAL readers are not blocked): it serves on what it knows.
    expect(await a.ok({ op: "load" })).toEqual({ version: 1, weights: { "http://10.0.0.1": 1 } });
    console.log(
      `deno-kv with the file locked: update rejected after ${write.ms} ms, lease after ${lease.ms} ms; new process: first load ${firstLoad.ms} ms, next ${secondLoad.ms} ms`,
    );

    await lock.release();
    let recovered: Answer | undefined;
    for (let attempt = 0; attempt < 100 && !recovered; attempt++) {
      const answer = await a.send({ op: "setWeight", group: "app", target: "http://10.0.0.3", weight: 3 });
      if (answer.error === undefined) recovered = answer;
      else await sleep(100);
    }
    expect(recovered).toBeDefined();
    const after = await a.ok({ op: "load" });
    expect(after.weights).toEqual({ "http://10.0.0.1": 1, "http://10.0.0.3": 3 });
    expect(await a.ok({ op: "acquire", name: "probe:app", holder: "a", ttlMs: 30_000 })).toEqual({ acquired: true });
    // The stuck process recovers by itself once its read returns.
    let lateAfter: Answer | undefined;
    for (let attempt = 0; attempt < 100 && !lateAfter; attempt++) {
      const answer = await late.send({ op: "load" });
      if (answer.error === undefined) lateAfter = answer;
      else await sleep(100);
    }
    expect(lateAfter?.ok).toEqual({ version: 2, weights: { "http://10.0.0.1": 1, "http://10.0.0.3": 3 } });
  }, 30_000);
});

describe("deno-kv opener", () => {
  test("two deno processes opening one fresh file at the same moment both start (the loser of the schema race retries)", async () => {
    // Measured before the retry, with the opens synchronised to a fraction of a millisecond (the peer spins
    // until OPEN_AT): one of the two failed with "database is locked" in 7 rounds of 30. 16 rounds all
    // passing by luck would be 0.77^16, about 1.5 %.
    for (let round = 0; round < 16; round++) {
      const path = tempKvPath();
      const openAt = Date.now() + 500; // after both deno processes have loaded
      const peers = [new Peer(path, openAt), new Peer(path, openAt)];
      await Promise.all(peers.map((peer) => peer.ready));
      const answers = await Promise.all(peers.map((peer, p) => peer.ok({ op: "setWeight", group: "app", target: `http://10.0.0.${p}`, weight: 1 })));
      expect(answers.map((a) => a.version).sort()).toEqual([1, 2]);
      for (const cleanup of cleanups.splice(0).reverse()) cleanup();
    }
  }, 60_000);

  test("a busy openKv is retried until it opens; other errors fail at once; busy past the deadline fails with the reason", async () => {
    const kv = { close: () => {} } as unknown as Kv;
    let calls = 0;
    const busyTwice = () => (++calls <= 2 ? Promise.reject(new Error("database is locked")) : Promise.resolve(kv));
    await expect(openDenoKvStateStore(busyTwice, "state.sqlite", { timeoutMs: 1000, random: () => 0.5 })).resolves.toBeDefined();
    expect(calls).toBe(3);

    calls = 0;
    const denied = () => (++calls, Promise.reject(new Error('Requires write access to "state.sqlite"')));
    await expect(openDenoKvStateStore(denied, "state.sqlite", { timeoutMs: 1000 })).rejects.toThrow("Requires write access");
    expect(calls).toBe(1);

    calls = 0;
    const alwaysBusy = () => (++calls, Promise.reject(new Error("database is locked")));
    const opening = openDenoKvStateStore(alwaysBusy, "state.sqlite", { timeoutMs: 50 });
    await expect(opening).rejects.toBeInstanceOf(DenoKvUnavailableError);
    await expect(opening).rejects.toThrow('opening state.sqlite: still "database is locked" after retrying for 50 ms');
    expect(calls).toBeGreaterThan(1);
    const settled = calls;
    await sleep(100);
    expect(calls).toBe(settled); // no retries after giving up
  });

  test("an openKv that does not answer fails start-up within the deadline; the handle arriving later is closed", async () => {
    let arrive: (kv: Kv) => void = () => {};
    let closed = 0;
    const opening = openDenoKvStateStore(() => new Promise<Kv>((resolve) => (arrive = resolve)), "/var/lib/fulcrum/state.sqlite", { timeoutMs: 10 });
    await expect(opening).rejects.toBeInstanceOf(DenoKvUnavailableError);
    await expect(opening).rejects.toThrow("opening /var/lib/fulcrum/state.sqlite: no answer within 10 ms");
    arrive({ close: () => void closed++ } as unknown as Kv);
    await Promise.resolve();
    expect(closed).toBe(1);
  });
});
