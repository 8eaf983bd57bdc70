/**
 * One balancer instance's state store in its own deno process, opened the way
 * the Deno runtime opens it (stateOpeners["deno-kv"]), driven by
 * deno-kv.test.ts: one JSON command per stdin line, one JSON answer per
 * stdout line, in order. Subscriber pushes are written as `{ "pushed": version }`.
 *
 * `deno run --unstable-kv --allow-read --allow-write test/unit/state/deno-kv-peer.deno.ts KV_PATH [OPEN_AT_EPOCH_MS]`
 */
import { stateOpeners } from "../../../src/runtimes/deno/stores.ts";
import { emptyGroup, type StateStore } from "../../../src/state/store.ts";

declare const Deno: {
  args: string[];
  stdin: { readable: ReadableStream<Uint8Array> };
};

type Command =
  | { op: "load" }
  | { op: "setWeight"; group: string; target: string; weight: number }
  | { op: "subscribe" }
  | { op: "acquire"; name: string; holder: string; ttlMs: number }
  | { op: "release"; name: string; holder: string }
  | { op: "close" };

const [path, openAt] = Deno.args;
if (!path) throw new Error("usage: deno-kv-peer.deno.ts KV_PATH [OPEN_AT_EPOCH_MS]");
// Peers given one OPEN_AT open the file within a fraction of a millisecond of each other (the start-up
// race is that narrow, measured): sleep until just before, then spin, since timers wake a few ms late.
if (openAt) {
  await new Promise((resolve) => setTimeout(resolve, Math.max(0, Number(openAt) - 20 - Date.now())));
  while (performance.timeOrigin + performance.now() < Number(openAt));
}
const store: StateStore = await stateOpeners["deno-kv"]!({ store: "deno-kv", path, prefix: "peer", cacheTtl: 1 }, { env: {}, log: console.error });
const say = (value: unknown) => console.log(JSON.stringify(value));

async function run(command: Command): Promise<unknown> {
  switch (command.op) {
    case "load": {
      const s = await store.load();
      return { version: s.version, weights: s.groups.app?.weights ?? {} };
    }
    case "setWeight": {
      const s = await store.update((d) => {
        const group = (d.groups[command.group] ??= emptyGroup());
        group.weights[command.target] = command.weight;
      });
      return { version: s.version };
    }
    case "subscribe":
      store.subscribe((s) => say({ pushed: s.version }));
      return {};
    case "acquire":
      return { acquired: await store.tryAcquireLease(command.name, command.holder, command.ttlMs) };
    case "release":
      await store.releaseLease(command.name, command.holder);
      return {};
    case "close":
      await store.close();
      return {};
  }
}

say({ ready: true });
let buffered = "";
const decoder = new TextDecoder();
const stdin = Deno.stdin.readable.getReader();
for (;;) {
  const { done, value } = await stdin.read();
  if (done) break;
  buffered += decoder.decode(value, { stream: true });
  let newline: number;
  while ((newline = buffered.indexOf("\n")) >= 0) {
    const line = buffered.slice(0, newline);
    buffered = buffered.slice(newline + 1);
    if (line.trim() === "") continue;
    const started = performance.now();
    try {
      say({ ok: await run(JSON.parse(line) as Command), ms: Math.round(performance.now() - started) });
    } catch (error) {
      say({ error: error instanceof Error ? `${error.name}: ${error.message}` : String(error), ms: Math.round(performance.now() - started) });
    }
  }
}
// stdin closed: the driver is gone (an open watch would keep deno running).
await store.close();
