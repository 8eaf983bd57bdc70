/**
 * Relay frames between a client's WebSocket and a target's, both ways,
 * unchanged and in order, with an idle timeout, optional keep-alive pings and
 * a bound on the bytes buffered towards a slow reader.
 *
 * Why not crossws (h3js/crossws 0.4.8, read at 74f4082): its proxy helper
 * upgrades the client first and dials the target afterwards, buffering the
 * client's frames meanwhile, so a refused or dead target becomes a 1011 close
 * instead of an HTTP 502/503/504, and no other target can be tried; it echoes
 * the client's first offered subprotocol rather than the one the target chose;
 * and on Node it needs `ws` anyway. Its peers also wrap every message in its
 * own Message object. Here the target's handshake completes before the client
 * is upgraded (nginx and HAProxy do the same: the 101 is the target's), which
 * gives rule/health/retry semantics identical to HTTP, and each runtime's
 * native socket is driven directly (no per-message wrapper, no copies of 16 MB
 * binary frames). Hono's `upgradeWebSocket` helpers were not used for the
 * same copy reason on Node (@hono/node-server converts every message into a
 * MessageEvent with a copied buffer) and because they cannot answer with the
 * target's subprotocol there.
 */
import type { WebSocketConfig } from "./websocket-schema.ts";
import type { WsData, WsEnd } from "../platform.ts";

/**
 * A close code that may be sent on the wire (RFC 6455 §7.4.1, §7.4.2): 1005,
 * 1006 and 1015 are reserved for "no code", "abnormal" and "TLS failure" and
 * must never be sent; out-of-range codes are invalid. A clean close without a
 * code relays as 1000; a broken connection or a bad code as 1011.
 */
export function relayableCloseCode(code: number): number {
  if (code === 1005) return 1000;
  if (code === 1000 || code === 1001 || code === 1002 || code === 1003 || (code >= 1007 && code <= 1014)) return code;
  if (code >= 3000 && code <= 4999) return code;
  return 1011;
}

/** Close reasons are at most 123 bytes of UTF-8 (RFC 6455 §5.5: a 125-byte control payload, 2 for the code). */
export function relayableReason(reason: string): string {
  const bytes = new TextEncoder().encode(reason);
  if (bytes.length <= 123) return reason;
  return new TextDecoder().decode(bytes.subarray(0, 123)).replace(/\uFFFD+$/, "");
}

export interface RelayOptions {
  readonly config: WebSocketConfig;
  /** Monotonic ms. */
  readonly now: () => number;
  /** Timer injected by the platform: call `fire` after `ms`, returns a cancel function. */
  readonly timer: (ms: number, fire: () => void) => () => void;
  /** Called once, when the relay ends (either side closed, a bound was hit, or `close` was called). */
  readonly onEnd: (info: { code: number; reason: string; by: "client" | "target" | "balancer" }) => void;
}

export interface Relay {
  /** Close both sides (shutdown: 1001, a draining target: 1012). */
  close(code: number, reason: string): void;
  readonly ended: boolean;
}

/**
 * Is this message larger than `bound` bytes on the wire? Text is UTF-8 there:
 * 1 to 3 bytes per UTF-16 unit, so the exact length is computed only when the
 * cheap bounds cannot decide (a large text message).
 */
function largerThan(data: WsData, bound: number): boolean {
  if (typeof data !== "string") return data.byteLength > bound;
  if (data.length > bound) return true;
  if (data.length * 3 <= bound) return false;
  return new TextEncoder().encode(data).byteLength > bound;
}

/** A ping that throws (Bun's client while still connecting) must not stop the timer or the other side's ping. */
function pingQuietly(end: WsEnd): void {
  try {
    end.ping?.();
  } catch {
    // a ping to a closing socket is nothing to report
  }
}

export function relay(client: WsEnd, target: WsEnd, options: RelayOptions): Relay {
  const { config, now, timer, onEnd } = options;
  const idleMs = config.idleTimeout * 1000;
  const pingMs = config.pingInterval * 1000;
  const maxBuffered = config.maxBufferedBytes;
  let ended = false;
  let lastActivity = now();
  let lastPing = lastActivity;
  let cancelTimer = () => {};

  const end = (code: number, reason: string, by: "client" | "target" | "balancer", skip?: WsEnd) => {
    if (ended) return;
    ended = true;
    cancelTimer();
    const wireCode = relayableCloseCode(code);
    const wireReason = relayableReason(reason);
    if (skip !== client) client.close(wireCode, wireReason);
    if (skip !== target) target.close(wireCode, wireReason);
    onEnd({ code, reason, by });
  };

  /**
   * Past the bound the reader is not keeping up: close both sides rather than
   * buffer without limit. 1009 when a single message is larger than the bound
   * (it could never fit), 1011 otherwise (RFC 6455 §7.4.1; HAProxy and nginx
   * bound their buffers the same way, by closing).
   */
  const forward = (to: WsEnd, data: WsData) => {
    if (ended) return;
    lastActivity = now();
    if (largerThan(data, maxBuffered)) return end(1009, "message too big for the balancer's buffer", "balancer");
    to.send(data);
    const buffered = to.bufferedAmount();
    if (buffered > maxBuffered) end(1011, "peer is not reading (buffer limit)", "balancer");
  };

  client.attach({ message: (d) => forward(target, d), close: (code, reason) => end(code, reason, "client", client) });
  target.attach({ message: (d) => forward(client, d), close: (code, reason) => end(code, reason, "target", target) });

  // One timer per socket, re-armed lazily: messages only touch `lastActivity`.
  const arm = () => {
    if (ended) return;
    const t = now();
    const idleLeft = lastActivity + idleMs - t;
    if (idleLeft <= 0) return end(1001, "idle timeout", "balancer");
    let wait = idleLeft;
    if (pingMs > 0) {
      const since = Math.max(lastActivity, lastPing);
      if (t - since >= pingMs) {
        lastPing = t;
        pingQuietly(client);
        pingQuietly(target);
      }
      wait = Math.min(wait, Math.max(1, Math.max(lastActivity, lastPing) + pingMs - t));
    }
    cancelTimer = timer(wait, arm);
  };
  arm();

  return {
    close: (code, reason) => end(code, reason, "balancer"),
    get ended() {
      return ended;
    },
  };
}
