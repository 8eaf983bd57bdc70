/**
 * The open relays of one balancer, so that graceful shutdown and target
 * draining can close them (they would otherwise outlive every deadline:
 * a WebSocket has no "end of response" to wait for).
 */
import type { Target } from "../target-group.ts";
import type { Relay } from "./websocket-relay.ts";

/** RFC 6455 §7.4.1: the endpoint is going away (server going down). */
export const GOING_AWAY = 1001;
/** IANA WebSocket close code registry: Service Restart, the client may reconnect (and lands on another target). */
export const SERVICE_RESTART = 1012;

export class OpenWebSockets {
  private readonly open = new Map<Relay, Target>();
  private emptied: (() => void)[] = [];

  add(relay: Relay, target: Target): void {
    this.open.set(relay, target);
  }

  delete(relay: Relay): void {
    this.open.delete(relay);
    if (this.open.size === 0) for (const done of this.emptied.splice(0)) done();
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
    const relays = [...this.open.keys()];
    for (const r of relays) r.close(code, reason);
    return relays.length;
  }

  /** Close the relays to one target (its drain deadline passed: 1012). */
  closeTarget(target: Target, code: number, reason: string): number {
    let n = 0;
    for (const [r, t] of [...this.open]) if (t === target) (r.close(code, reason), n++);
    return n;
  }
}

const registries = new WeakMap<object, OpenWebSockets>();

/** The registry of a balancer (keyed by the Balancer object; created on first use). */
export function openWebSockets(balancer: object): OpenWebSockets {
  let r = registries.get(balancer);
  if (!r) registries.set(balancer, (r = new OpenWebSockets()));
  return r;
}
