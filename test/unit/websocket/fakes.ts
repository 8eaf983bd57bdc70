/**
 * In-memory stand-ins for the relay's collaborators: a WebSocket end that
 * records what the relay does to it and lets the test play the peer, and a
 * manual clock whose timers fire only when the test advances it.
 */
import * as v from "valibot";
import type { WsData, WsEnd, WsEvents } from "../../../src/platform.ts";
import { type Relay, relay, type RelayOptions } from "../../../src/proxy/websocket-relay.ts";
import { WebSocketSchema } from "../../../src/proxy/websocket-schema.ts";

export interface FakeEndOptions {
  /** Expose `ping` (the runtime supports it); default true. */
  readonly ping?: boolean;
  /** Answer a local `close()` with a close event at once, as a peer echoing the close frame would (re-entrancy). */
  readonly echoClose?: boolean;
  /** `ping` throws, as Bun's client WebSocket.ping() does while CONNECTING (InvalidStateError, measured on Bun 1.4.5). */
  readonly pingThrows?: boolean;
}

/** A WsEnd over nothing: `sent`, `closes` and `pings` record the relay's calls; `receive`/`peerClose` play the peer. */
export class FakeEnd implements WsEnd {
  readonly protocol = "";
  readonly sent: WsData[] = [];
  readonly closes: Array<[number, string]> = [];
  pings = 0;
  /** What `bufferedAmount()` answers; a test sets it to play a slow reader. */
  buffered = 0;
  /** Added to `buffered` by every `send` (bytes the network has not taken yet). */
  bufferGrowthPerSend = 0;
  readonly ping?: () => void;
  private events: WsEvents | undefined;
  /** Events that arrived before `attach` (the WsEnd contract: queued, then delivered in order). */
  private early: Array<{ message: WsData } | { close: [number, string] }> = [];

  constructor(private readonly options: FakeEndOptions = {}) {
    if (options.ping ?? true) {
      this.ping = () => {
        this.pings++;
        if (options.pingThrows) throw new Error("InvalidStateError: The object is in an invalid state.");
      };
    }
  }

  send(data: WsData): void {
    this.sent.push(data);
    this.buffered += this.bufferGrowthPerSend;
  }

  close(code: number, reason: string): void {
    this.closes.push([code, reason]);
    if (this.options.echoClose) this.peerClose(code, reason);
  }

  bufferedAmount(): number {
    return this.buffered;
  }

  attach(events: WsEvents): void {
    this.events = events;
    for (const e of this.early.splice(0)) {
      if ("message" in e) events.message(e.message);
      else events.close(...e.close);
    }
  }

  get attached(): boolean {
    return this.events !== undefined;
  }

  /** The peer sent a message. */
  receive(data: WsData): void {
    if (this.events) this.events.message(data);
    else this.early.push({ message: data });
  }

  /** The peer closed (or the connection broke: 1006). */
  peerClose(code: number, reason = ""): void {
    if (this.events) this.events.close(code, reason);
    else this.early.push({ close: [code, reason] });
  }
}

/** Manual monotonic clock and the `timer` the platform would inject. */
export class FakeClock {
  private t = 0;
  private seq = 0;
  private timers: Array<{ id: number; at: number; fire: () => void }> = [];

  readonly now = (): number => this.t;

  readonly timer = (ms: number, fire: () => void): () => void => {
    const id = ++this.seq;
    this.timers.push({ id, at: this.t + ms, fire });
    return () => {
      this.timers = this.timers.filter((x) => x.id !== id);
    };
  };

  get pending(): number {
    return this.timers.length;
  }

  /** Move time forward by `ms`, firing due timers in order, each at its own instant. */
  advance(ms: number): void {
    const until = this.t + ms;
    // A timer that keeps re-arming itself for "now" would spin forever; fail the test instead of hanging it.
    let sameInstant = 0;
    for (;;) {
      let next: (typeof this.timers)[number] | undefined;
      for (const x of this.timers) if (x.at <= until && (!next || x.at < next.at || (x.at === next.at && x.id < next.id))) next = x;
      if (!next) break;
      const due = next;
      this.timers = this.timers.filter((x) => x !== due);
      sameInstant = due.at === this.t ? sameInstant + 1 : 0;
      if (sameInstant > 1000) throw new Error(`timer loop: over 1000 timers fired at t=${this.t} ms without time moving`);
      this.t = due.at;
      due.fire();
    }
    this.t = until;
  }
}

export type Ended = Parameters<RelayOptions["onEnd"]>[0];

/** A relay between two fake ends on a fake clock; `ends` collects every onEnd call. */
export function setup(
  config: v.InferInput<typeof WebSocketSchema> = {},
  ends: { client?: FakeEndOptions; target?: FakeEndOptions; beforeRelay?: (client: FakeEnd, target: FakeEnd) => void } = {},
) {
  const clock = new FakeClock();
  const client = new FakeEnd(ends.client);
  const target = new FakeEnd(ends.target);
  ends.beforeRelay?.(client, target);
  const ended: Ended[] = [];
  const r: Relay = relay(client, target, {
    config: v.parse(WebSocketSchema, config),
    now: clock.now,
    timer: clock.timer,
    onEnd: (info) => void ended.push(info),
  });
  return { clock, client, target, ended, relay: r };
}

export const S = 1000;
