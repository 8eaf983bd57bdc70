/**
 * The primary's end of its workers' channels: a loopback TCP server that
 * admits a worker once it presents the token its environment was given, then
 * answers its state calls from the primary's store (so the host's workers
 * share one store, whatever it is), pushes every snapshot written, says when
 * each worker is ready, passes the workers' in-flight counts around, and
 * gathers every worker's metrics for a view of the host as a whole.
 */
import { createServer, type Server, type Socket } from "node:net";
import { exportMetrics, mergeExports, type MetricsExport } from "../../../metrics/export.ts";
import { SNAPSHOT_PUSH, storeCall } from "../../../state/remote.ts";
import type { StateStore } from "../../../state/store.ts";
import { timingSafeEqual } from "../../../stats/auth.ts";
import { Channel } from "./channel.ts";
import { addReports, INFLIGHT_SHARE_MS, type InflightReport, subtractReport } from "../../../pool/elsewhere.ts";

const bytes = (s: string) => new TextEncoder().encode(s);

/** A connection that has not presented the token by then is closed. */
const HELLO_WITHIN_MS = 5000;
/** What each worker was told of the others is told again this often, for targets it has only just built. */
const RETELL_MS = 2000;

/** A worker's own in-flight counts, and the others' totals the primary sends back. */
export const INFLIGHT_PUSH = "inflight";
export const ELSEWHERE_PUSH = "inflight.elsewhere";

/** What a worker says first: who it is, and the token that proves the primary started it. */
export interface Hello {
  readonly token: string;
  /** Unique per process the primary started (a slot's replacement gets a new one). */
  readonly serial: number;
  readonly slot: number;
  readonly pid: number;
}

export interface WorkerLink {
  readonly serial: number;
  readonly slot: number;
  readonly pid: number;
  readonly channel: Channel;
}

/** Requests a worker may make beyond the state calls. */
export interface HubHandlers {
  /** `host.view`: every worker's metrics and the workers' table. */
  view(): Promise<unknown>;
  /** `host.restart`: a rolling restart asked for through a worker (the admin API on a path). */
  restart(by: string): Promise<unknown>;
  /** `host.reload`: a reload asked for through a worker (its admin API path, SIGHUP to it). */
  reload(by: string): Promise<unknown>;
  /** `host.config`: the text of the config the host serves, for a worker starting. */
  config(): { readonly text: string };
}

export class Hub {
  private readonly linked = new Map<number, WorkerLink>();
  private readonly ready = new Map<number, () => void>();
  private readonly unsubscribe: () => void;
  /** Each worker's last in-flight report, by serial. */
  private readonly reports = new Map<number, InflightReport>();
  /** What each worker was last told of the others, and when. */
  private readonly told = new Map<number, { text: string; at: number }>();
  private readonly sharing: ReturnType<typeof setInterval>;
  /** Each worker's last metrics, by serial: used for one that does not answer in time. */
  private readonly lastExport = new Map<number, MetricsExport>();
  /** The counters of workers that are gone, added up, so that the host's totals never go down. */
  private retired: MetricsExport | undefined;

  private constructor(
    private readonly server: Server,
    readonly port: number,
    private readonly token: string,
    private readonly store: StateStore,
    private readonly handlers: HubHandlers,
    private readonly now: () => number,
  ) {
    server.on("connection", (socket: Socket) => this.admit(socket));
    this.unsubscribe = store.subscribe((s) => {
      for (const link of this.linked.values()) link.channel.push(SNAPSHOT_PUSH, s);
    });
    this.sharing = setInterval(() => this.shareInflight(), INFLIGHT_SHARE_MS);
    (this.sharing as { unref?: () => void }).unref?.();
  }

  static start(store: StateStore, token: string, handlers: HubHandlers, now: () => number): Promise<Hub> {
    const server = createServer();
    return new Promise((resolve, reject) => {
      server.once("error", reject);
      server.listen(0, "127.0.0.1", () => {
        server.off("error", reject);
        const { port } = server.address() as { port: number };
        resolve(new Hub(server, port, token, store, handlers, now));
      });
    });
  }

  /** The workers connected now. */
  links(): WorkerLink[] {
    return [...this.linked.values()];
  }

  /** Call `cb` once worker `serial` has bound its listeners and is serving; returns the function that forgets it. */
  onReady(serial: number, cb: () => void): () => void {
    this.ready.set(serial, cb);
    return () => this.ready.delete(serial);
  }

  /**
   * Every connected worker's metrics (its last ones when it does not answer in time), and the
   * counters of the workers that are gone, so that no counter of the host ever goes down.
   */
  async exports(): Promise<MetricsExport[]> {
    const links = this.links();
    const answers = await Promise.allSettled(links.map((l) => l.channel.request("metrics.export", undefined, 3000)));
    const out: MetricsExport[] = this.retired ? [this.retired] : [];
    answers.forEach((a, i) => {
      const serial = links[i]!.serial;
      if (a.status === "fulfilled") this.lastExport.set(serial, a.value as MetricsExport);
      const x = this.lastExport.get(serial);
      if (x) out.push(x);
    });
    return out;
  }

  close(): void {
    clearInterval(this.sharing);
    this.unsubscribe();
    for (const link of this.linked.values()) link.channel.close();
    this.server.close();
  }

  /** A worker is gone: its last counters join the retired ones (its gauges, what was in flight, are gone with it). */
  private retire(serial: number): void {
    const last = this.lastExport.get(serial);
    this.lastExport.delete(serial);
    if (!last) return;
    const gone = { ...last, inflight: {}, rules: last.rules.map((r) => ({ ...r, active: 0 })) };
    const groups = gone.groups.map((g) => ({ ...g, active: 0, wsActive: 0, targets: g.targets.map((t) => ({ ...t, wsActive: 0 })) }));
    const merged = mergeExports([...(this.retired ? [this.retired] : []), { ...gone, groups }], { now: this.now });
    this.retired = { ...exportMetrics(merged, [], "retired workers") };
  }

  /** Tell each worker what the others have in flight: the host's total less its own. */
  private shareInflight(): void {
    const total = addReports(this.reports.values());
    const now = this.now();
    for (const link of this.linked.values()) {
      const others = subtractReport(total, this.reports.get(link.serial) ?? {});
      const text = JSON.stringify(others);
      const told = this.told.get(link.serial);
      if (told && told.text === text && now - told.at < RETELL_MS) continue;
      this.told.set(link.serial, { text, at: now });
      link.channel.push(ELSEWHERE_PUSH, others);
    }
  }

  private admit(socket: Socket): void {
    const channel = new Channel(socket);
    // Until it has said who it is: one short line, soon.
    channel.limit(4096);
    let link: WorkerLink | undefined;
    const unknown = setTimeout(() => link === undefined && channel.close(), HELLO_WITHIN_MS);
    channel.onClose(() => clearTimeout(unknown));
    channel.onRequest((op, args) => {
      if (link === undefined) {
        const hello = args as Partial<Hello> | undefined;
        if (op !== "hello" || typeof hello?.token !== "string" || !timingSafeEqual(bytes(hello.token), bytes(this.token)) || typeof hello.serial !== "number") {
          channel.close();
          throw new Error("not a worker of this primary");
        }
        const serial = hello.serial;
        link = { serial, slot: Number(hello.slot), pid: Number(hello.pid), channel };
        clearTimeout(unknown);
        channel.limit(64 * 1024 * 1024);
        this.linked.set(serial, link);
        channel.onPush(INFLIGHT_PUSH, (report) => this.reports.set(serial, report as InflightReport));
        channel.onClose(() => {
          this.linked.delete(serial);
          this.reports.delete(serial);
          this.told.delete(serial);
          this.ready.delete(serial);
          this.retire(serial);
        });
        return null;
      }
      const by = String((args as { by?: unknown } | undefined)?.by ?? `worker ${link.slot}`);
      switch (op) {
        case "ready":
          this.ready.get(link.serial)?.();
          this.ready.delete(link.serial);
          return null;
        case "host.view":
          return this.handlers.view();
        case "host.restart":
          return this.handlers.restart(by);
        case "host.reload":
          return this.handlers.reload(by);
        case "host.config":
          return this.handlers.config();
      }
      const answer = storeCall(this.store, op, args);
      if (answer === undefined) throw new Error(`unknown request ${op}`);
      return answer;
    });
  }
}
