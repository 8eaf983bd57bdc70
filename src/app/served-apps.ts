/**
 * Which Hono app answers a listener: the current generation's, else that of a
 * generation being prepared (a reload's new listener may take requests before
 * the swap), else that of a listener a reload dropped, until it has stopped.
 * The runtime's listeners (ListenerHost) are bound and closed through here.
 */
import type { Hono } from "hono";
import type { Config } from "../config/schema.ts";
import type { Generation } from "./generation.ts";

/** How a runtime binds a config's listeners on a reload (servers; Workers have none). */
export interface ListenerHost {
  /**
   * Bind the listeners `config` adds (serving through `Balancer.handler`),
   * before it becomes current; rejects, having bound nothing, when one cannot
   * be. `commit` then stops the ones it drops, after their in-flight requests.
   */
  prepare(config: Config): Promise<{ readonly added: string[]; readonly removed: string[]; commit(): Promise<void>; abort(): void }>;
}

export type Handler = (request: Request, env?: unknown, ctx?: unknown) => Response | Promise<Response>;

export class ServedApps {
  private pending: Generation | undefined;
  private readonly closing = new Map<string, Hono>();
  private host: ListenerHost | undefined;

  constructor(private readonly current: () => Generation) {}

  attach(host: ListenerHost): void {
    this.host = host;
  }

  /** Whether the balancer binds its own listeners (a server), so listener settings are bound at start. */
  get bindsListeners(): boolean {
    return this.host !== undefined;
  }

  handler(key: string): Handler {
    return (request, env, ctx) => {
      const app = this.current().apps.get(key) ?? this.pending?.apps.get(key) ?? this.closing.get(key);
      if (!app) return new Response("listener closing\n", { status: 503, headers: { connection: "close", "retry-after": "1" } });
      return app.fetch(request, env as never, ctx as never);
    };
  }

  /** Bind the listeners `next` adds, serving `next` on them meanwhile; throws (nothing bound) when one cannot be. */
  async prepare(next: Generation): Promise<Awaited<ReturnType<ListenerHost["prepare"]>> | undefined> {
    this.pending = next;
    try {
      return await this.host?.prepare(next.config);
    } finally {
      this.pending = undefined;
    }
  }

  /** After the swap from `before`: its listeners `next` dropped serve until closed. */
  retire(before: Generation, next: Generation, prepared: Awaited<ReturnType<ListenerHost["prepare"]>> | undefined): void {
    for (const [key, app] of before.apps) if (!next.apps.has(key)) this.closing.set(key, app);
    void prepared?.commit().finally(() => {
      for (const key of prepared.removed) this.closing.delete(key);
    });
  }
}
