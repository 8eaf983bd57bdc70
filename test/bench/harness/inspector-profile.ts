/**
 * A CPU profile over the V8 inspector protocol, for the runtimes that have no
 * `--cpu-prof` flag writing a file on exit: Deno (`--inspect`) and workerd
 * (`--inspector-addr`). Both list their isolate at `/json/list`; the
 * profile is the same Chrome `.cpuprofile` shape the other runtimes write.
 */

export interface InspectorCpuProfile {
  nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; children?: number[] }[];
  samples: number[];
  timeDeltas: number[];
}

/** The first debuggable target's WebSocket URL; retried until `timeoutMs` while the runtime starts. */
export async function inspectorTarget(port: number, timeoutMs = 20_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const list = (await (await fetch(`http://127.0.0.1:${port}/json/list`, { signal: AbortSignal.timeout(1000) })).json()) as {
        webSocketDebuggerUrl?: string;
      }[];
      const url = list.find((t) => t.webSocketDebuggerUrl)?.webSocketDebuggerUrl;
      if (url) return url;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`no inspector target on 127.0.0.1:${port} after ${timeoutMs} ms`);
    await Bun.sleep(150);
  }
}

/**
 * Profile while `during()` runs (the load). `intervalUs`: V8's sampling
 * interval; 1 ms like `node --cpu-prof`'s default keeps the profiler's own cost
 * small next to a request's tens of microseconds.
 */
export async function profileOverInspector<T>(
  wsUrl: string,
  during: () => Promise<T>,
  intervalUs = 1000,
): Promise<{ profile: InspectorCpuProfile; result: T }> {
  const ws = new WebSocket(wsUrl);
  const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  let nextId = 0;
  ws.onmessage = (event) => {
    const message = JSON.parse(String(event.data)) as { id?: number; result?: unknown; error?: { message: string } };
    const waiter = message.id === undefined ? undefined : pending.get(message.id);
    if (!waiter) return; // events (console, script parsed) are not needed
    pending.delete(message.id!);
    if (message.error) waiter.reject(new Error(`inspector: ${message.error.message}`));
    else waiter.resolve(message.result);
  };
  await new Promise<void>((resolve, reject) => {
    ws.onopen = () => resolve();
    ws.onerror = () => reject(new Error(`inspector: cannot connect to ${wsUrl}`));
  });
  ws.onclose = () => {
    for (const w of pending.values()) w.reject(new Error("inspector: connection closed"));
    pending.clear();
  };
  const call = (method: string, params: object = {}) =>
    new Promise<unknown>((resolve, reject) => {
      const id = ++nextId;
      pending.set(id, { resolve, reject });
      ws.send(JSON.stringify({ id, method, params }));
    });
  try {
    await call("Profiler.enable");
    await call("Profiler.setSamplingInterval", { interval: intervalUs });
    await call("Profiler.start");
    const result = await during();
    const { profile } = (await call("Profiler.stop")) as { profile: InspectorCpuProfile };
    return { profile, result };
  } finally {
    ws.close();
  }
}
