/**
 * The primary's end of its workers' channels: a loopback TCP server that
 * admits a worker once it presents the token its environment was given, then
 * answers its state calls from the primary's store (so the host's workers
 * share one store, whatever it is), pushes every snapshot written, says when
 * each worker is ready, and gathers every worker's metrics for a view of the
 * host as a whole.
 */
import { createServer, type Server, type Socket } from "node:net";
import type { MetricsExport } from "../../../metrics/export.ts";
import { SNAPSHOT_PUSH, storeCall } from "../../../state/remote.ts";
import type { StateStore } from "../../../state/store.ts";
import { timingSafeEqual } from "../../../stats/auth.ts";
import { Channel } from "./channel.ts";
import { addReports, INFLIGHT_SHARE_MS, type InflightReport } from "../../../pool/elsewhere.ts";

/** A worker's own in-flight counts, and the others' totals the primary sends back. */
export const INFLIGHT_PUSH = "inflight";
export const ELSEWHERE_PUSH = "inflight.elsewhere";

const bytes = (s: string) => new TextEncoder().encode(s);

/** What a worker says first: who it is, and the token that proves the primary started it. */
export interface Hello {
  readonly token: string;
  /** Unique per process the primary started (a slot's replacement gets a new one). */
  readonly serial: number;
  readonly pid: number;
}

export interface WorkerLink {
  readonly serial: number;
  readonly pid: number;
  readonly channel: Channel;
}

/** Requests a worker may make beyond the state calls. */
export interface HubHandlers {
  /** `host.view`: every worker's metrics and the workers' table. */
  view(): Promise<unknown>;
  /** `host.restart`: a rolling restart asked for through a worker (the admin API on a path). */
  restart(by: string): Promise<unknown>;
}

export class Hub {
  private readonly linked = new Map<number, WorkerLink>();
  private readonly ready = new Map<number, () => void>();
  private readonly unsubscribe: () => void;
  /** Each worker's last in-flight report, by serial. */
  private readonly reports = new Map<number, InflightReport>();
  /** What each worker was last told of the others, so an unchanged total is not sent again. */
  private readonly told = new Map<number, string>();
  private readonly sharing: ReturnType<typeof setInterval>;

  private constructor(
    private readonly server: Server,
    readonly port: number,
    private readonly token: string,
    private readonly store: StateStore,
    private readonly handlers: HubHandlers,
  ) {
    server.on("connection", (socket: Socket) => this.admit(socket));
    this.unsubscribe = store.subscribe((s) => {
      for (const link of this.linked.values()) link.channel.push(SNAPSHOT_PUSH, s);
    });
    this.sharing = setInterval(() => this.shareInflight(), INFLIGHT_SHARE_MS);
    (this.sharing as { unref?: () => void }).unref?.();
  }

  static start(store: StateStore, token: string, handlers: HubHandlers): Promise<Hub> {
    const server = createServer();
    return new Promise((resolve, reject) => {
      server.once("error", reject);
      server.listen(0, "127.0.0.1", () => {
        server.off("error", reject);
        const { port } = server.address() as { port: number };
        resolve(new Hub(server, port, token, store, handlers));
      });
    });
  }

  /** The workers connected now. */
  links(): WorkerLink[] {
    return [...this.linked.values()];
  }

  /** Call `cb` once worker `serial` has bound its listeners and is serving. */
  onReady(serial: number, cb: () => void): void {
    this.ready.set(serial, cb);
  }

  /** Every connected worker's metrics; a worker that does not answer in time is left out. */
  async exports(): Promise<MetricsExport[]> {
    const answers = await Promise.allSettled(this.links().map((l) => l.channel.request("metrics.export", undefined, 3000)));
    return answers.flatMap((a) => (a.status === "fulfilled" ? [a.value as MetricsExport] : []));
  }

  close(): void {
    clearInterval(this.sharing);
    this.unsubscribe();
    for (const link of this.linked.values()) link.channel.close();
    this.server.close();
  }

  /** Tell each worker what the others have in flight (their reports added up). */
  private shareInflight(): void {
    for (const link of this.linked.values()) {
      const others = addReports([...this.reports].filter(([serial]) => serial !== link.serial).map(([, r]) => r));
      const text = JSON.stringify(others);
      if (this.told.get(link.serial) === text) continue;
      this.told.set(link.serial, text);
      link.channel.push(ELSEWHERE_PUSH, others);
    }
  }

  private admit(socket: Socket): void {
    const channel = new Channel(socket);
    let link: WorkerLink | undefined;
    channel.onRequest((op, args) => {
      if (link === undefined) {
        const hello = args as Partial<Hello> | undefined;
        if (op !== "hello" || typeof hello?.token !== "string" || !timingSafeEqual(bytes(hello.token), bytes(this.token)) || typeof hello.serial !== "number") {
          channel.close();
          throw new Error("not a worker of this primary");
        }
        link = { serial: hello.serial, pid: hello.pid ?? 0, channel };
        const serial = link.serial;
        this.linked.set(serial, link);
        channel.onPush(INFLIGHT_PUSH, (report) => this.reports.set(serial, report as InflightReport));
        channel.onClose(() => {
          this.linked.delete(serial);
          this.reports.delete(serial);
          this.told.delete(serial);
        });
        return null;
      }
      if (op === "ready") {
        this.ready.get(link.serial)?.();
        this.ready.delete(link.serial);
        return null;
      }
      if (op === "host.view") return this.handlers.view();
      if (op === "host.restart") return this.handlers.restart(String((args as { by?: unknown })?.by ?? "a worker"));
      const answer = storeCall(this.store, op, args);
      if (answer === undefined) throw new Error(`unknown request ${op}`);
      return answer;
    });
  }
}
