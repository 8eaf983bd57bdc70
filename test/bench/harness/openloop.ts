/**
 * An open-loop HTTP/1.1 load generator over a fixed set of keep-alive
 * connections: requests are due at a fixed rate whatever the answers do, and
 * each one's latency counts from when it was due, not from when a connection
 * was free to send it (wrk2's correction for coordinated omission). wrk keeps
 * every connection busy, so its latencies measure queueing at saturation;
 * here the offered load stays fixed and below every contestant's capacity, so
 * the tail is what the balancer's choices and its connection handling cost.
 *
 * Requests go out on the idle connection that has been idle longest, so with
 * N connections each of them carries a request every N / rate seconds: 10,000
 * connections at 2,000 req/s are 10,000 mostly idle keep-alive clients, each
 * asking every 5 s. Responses must be small with a Content-Length or chunked.
 *
 * Run as a script (the harness pins it to the load core):
 *   bun openloop.ts '{"url":"http://127.0.0.1:8080/","connections":64,"rate":1000,"warmupS":3,"durationS":15}'
 * It prints one JSON OpenLoopResult on stdout.
 */

import { join } from "node:path";
import { capture } from "./processes.ts";

export interface OpenLoopOptions {
  readonly url: string;
  readonly connections: number;
  /** Requests per second, all connections together. */
  readonly rate: number;
  /** Requests during the warm-up are sent but not counted. */
  readonly warmupS: number;
  readonly durationS: number;
}

export interface OpenLoopResult {
  readonly connected: number;
  /** Timed requests: due during the timed window. */
  readonly requests: number;
  readonly completed: number;
  /** Non-200 answers, broken connections and requests unanswered 15 s after the window. */
  readonly errors: number;
  /** Of the errors: answers other than 200, and the status of the first one. */
  readonly non200: number;
  readonly firstBadStatus?: number;
  /** Milliseconds, from when each request was due to its last response byte. */
  readonly p50: number;
  readonly p99: number;
  readonly p999: number;
  readonly max: number;
  readonly reconnects: number;
  /** Reconnects that failed: those connections were gone for the rest of the run. */
  readonly reconnectFailures: number;
}

interface Due {
  readonly at: number;
  readonly timed: boolean;
}

interface Conn {
  socket: Bun.Socket<undefined> | undefined;
  buffer: string;
  current: Due | undefined;
  open: boolean;
}

export function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)]!;
}

/** How many bytes of `buffer` the first complete response takes, its status; undefined while incomplete. */
export function completeResponse(buffer: string): { length: number; status: number } | undefined {
  const end = buffer.indexOf("\r\n\r\n");
  if (end < 0) return undefined;
  const head = buffer.slice(0, end);
  const status = Number(head.slice(9, 12));
  const bodyStart = end + 4;
  const cl = /\r\ncontent-length:\s*(\d+)/i.exec(head);
  if (cl) {
    const length = bodyStart + Number(cl[1]);
    return buffer.length >= length ? { length, status } : undefined;
  }
  if (/\r\ntransfer-encoding:\s*chunked/i.test(head)) {
    const last = buffer.indexOf("\r\n0\r\n\r\n", bodyStart - 2);
    return last < 0 ? undefined : { length: last + 7, status };
  }
  // No body (204, 304) or one we cannot frame: take the head alone.
  return { length: bodyStart, status };
}

export async function openLoop(o: OpenLoopOptions): Promise<OpenLoopResult> {
  const url = new URL(o.url);
  const hostname = url.hostname;
  const port = Number(url.port);
  const request = `GET ${url.pathname}${url.search} HTTP/1.1\r\nHost: ${url.host}\r\nUser-Agent: fulcrum-openloop\r\n\r\n`;
  const idle: Conn[] = [];
  const waiting: Due[] = [];
  const latencies: number[] = [];
  let errors = 0;
  let non200 = 0;
  let firstBadStatus: number | undefined;
  let reconnects = 0;
  let reconnectFailures = 0;
  let completed = 0;
  let stopping = false;
  let pooled = false; // the connections are in `idle`: before that, a reconnected one gets there with the rest

  const fail = (c: Conn) => {
    if (c.current?.timed) errors++;
    c.current = undefined;
  };
  const send = (c: Conn, due: Due) => {
    c.current = due;
    c.socket!.write(request);
  };
  const release = (c: Conn) => {
    const next = waiting.shift();
    if (next) send(c, next);
    else idle.push(c);
  };
  const connect = (c: Conn): Promise<void> =>
    Bun.connect({
      hostname,
      port,
      socket: {
        open(socket) {
          c.socket = socket;
          c.open = true;
          c.buffer = "";
        },
        data(socket, data) {
          c.buffer += data.toString("latin1");
          for (;;) {
            const r = completeResponse(c.buffer);
            if (!r) return;
            c.buffer = c.buffer.slice(r.length);
            const due = c.current;
            c.current = undefined;
            if (!due) {
              socket.end(); // an answer nobody asked for: the connection is no longer in step
              return;
            }
            if (due?.timed) {
              if (r.status === 200) {
                latencies.push(performance.now() - due.at);
                completed++;
              } else {
                errors++;
                non200++;
                firstBadStatus ??= r.status;
              }
            }
            release(c);
          }
        },
        close() {
          const wasOpen = c.open;
          c.open = false;
          const i = idle.indexOf(c);
          if (i >= 0) idle.splice(i, 1);
          fail(c);
          if (wasOpen && !stopping) {
            reconnects++;
            connect(c).then(() => pooled && release(c), () => void reconnectFailures++);
          }
        },
        error() {
          // close follows
        },
      },
    }).then(() => {});

  // Open the connections in batches, as many clients arriving over a moment would.
  const conns: Conn[] = [];
  for (let i = 0; i < o.connections; i += 500) {
    const batch = Array.from({ length: Math.min(500, o.connections - i) }, () => ({ socket: undefined, buffer: "", current: undefined, open: false }) as Conn);
    const results = await Promise.allSettled(batch.map(connect));
    results.forEach((r, j) => r.status === "fulfilled" && conns.push(batch[j]!));
    await Bun.sleep(20);
  }
  idle.push(...conns);
  pooled = true;

  const start = performance.now();
  const interval = 1000 / o.rate;
  // Whole slots, counted by index: the warm-up's first, then the timed window's.
  const warmupSlots = Math.round(o.rate * o.warmupS);
  const slots = warmupSlots + Math.round(o.rate * o.durationS);
  let n = 0;
  await new Promise<void>((done) => {
    const timer = setInterval(() => {
      const now = performance.now();
      for (; n < slots && start + n * interval <= now; n++) {
        const due = { at: start + n * interval, timed: n >= warmupSlots };
        const c = idle.shift();
        if (c) send(c, due);
        else waiting.push(due);
      }
      if (n >= slots) {
        clearInterval(timer);
        done();
      }
    }, 1);
  });
  // Let the last answers arrive, bounded.
  const drainUntil = performance.now() + 15_000;
  while (performance.now() < drainUntil && (waiting.length > 0 || conns.some((c) => c.current))) await Bun.sleep(20);
  stopping = true;
  const unanswered = waiting.filter((d) => d.timed).length + conns.filter((c) => c.current?.timed).length;
  for (const c of conns) c.socket?.end();
  const sorted = Float64Array.from(latencies).sort();
  return {
    connected: conns.length,
    requests: slots - warmupSlots,
    completed,
    errors: errors + unanswered,
    non200,
    ...(firstBadStatus === undefined ? {} : { firstBadStatus }),
    p50: percentile(sorted, 0.5),
    p99: percentile(sorted, 0.99),
    p999: percentile(sorted, 0.999),
    max: sorted.length ? sorted[sorted.length - 1]! : NaN,
    reconnects,
    reconnectFailures,
  };
}

/** Errors, and what they were: answers other than 200 (with the first status) or requests lost with their connection. */
export function errorCell(x: OpenLoopResult): string {
  if (x.errors === 0) return "0";
  const parts = [x.non200 ? `${x.non200} answered ${x.firstBadStatus}` : "", x.errors - x.non200 ? `${x.errors - x.non200} lost` : ""];
  return `${x.errors} (${parts.filter(Boolean).join(", ")})`;
}

/** Runs the client as a subprocess pinned to `cpu`, the way the harness measures. */
export async function runOpenLoop(
  root: string,
  cpu: string,
  url: string,
  connections: number,
  rate: number,
  warmupS: number,
  durationS: number,
): Promise<OpenLoopResult> {
  const args = JSON.stringify({ url, connections, rate, warmupS, durationS });
  const r = await capture(join(root, "node_modules/.bin/bun"), [join(root, "test/bench/harness/openloop.ts"), args], {
    cpu,
    timeoutS: warmupS + durationS + 90,
  });
  if (r.code !== 0) throw new Error(`openloop exited ${r.code}: ${(r.stderr + r.stdout).slice(-500)}`);
  return JSON.parse(r.stdout.trim().split("\n").pop()!) as OpenLoopResult;
}

if (import.meta.main) {
  const options = JSON.parse(Bun.argv[2] ?? "{}") as OpenLoopOptions;
  console.log(JSON.stringify(await openLoop(options)));
  process.exit(0);
}
