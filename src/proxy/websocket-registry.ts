/**
 * The open relays of one balancer, so that graceful shutdown can close them
 * (they would otherwise outlive every deadline: a WebSocket has no "end of
 * response" to wait for). Each relay is also tracked on its target
 * (pool/target.ts), which closes it at its drain deadline.
 */
import type { Relay } from "./websocket-relay.ts";

/** RFC 6455 §7.4.1: the endpoint is going away (server going down). */
export const GOING_AWAY = 1001;
/** IANA WebSocket close code registry: Service Restart, the client may reconnect (and lands on another target). */
export const SERVICE_RESTART = 1012;

export class OpenWebSockets {
  private readonly open = new Set<Relay>();
  private emptied: (() => void)[] = [];

  add(relay: Relay): void {
    this.open.add(relay);
  }

  delete(relay: Relay): void {
    this.open.delete(relay);
    if (this.open.size === 0) { for (const done of this.emptied.splice(0)) done(); }
  }

  get size(): number {
    return this.open.size;
  }

  /** Resolves once no relay is open. */
  whenEmpty(): Promise<void> {
    return this.open.size === 0 ? Promise.resolve() : new Promise((done) => this.emptied.push(done));
  }

  /** Close every open relay (shutdown deadline: 1001). */
  closeAll(code: number, reason: string): number {
    const relays = [...this.open];
    for (const r of relays) r.close(code, reason);
    return relays.length;
  }
}
