/**
 * `websocket`: how upgraded connections are relayed. Defaults follow the
 * seed's nginx `/ws` location (a long read timeout) and ALB's idle timeout.
 */
import * as v from "valibot";
import { bytes, seconds } from "../config/units.ts";

export const WebSocketSchema = v.strictObject({
  /** Close a WebSocket after this many seconds without a frame either way (nginx proxy_read_timeout for /ws; ALB idle timeout). */
  idleTimeout: v.optional(seconds(1, 86400), 3600),
  /** Send a ping to both sides after this many idle seconds so intermediaries keep the socket; 0 = never. */
  pingInterval: v.optional(seconds(0, 3600), 0),
  /** Bytes buffered towards a slow reader before the relay closes with 1009/1011 (bounds memory per socket). */
  maxBufferedBytes: v.optional(bytes(65536, 1 << 30), 64 * 1024 * 1024),
});

export type WebSocketConfig = v.InferOutput<typeof WebSocketSchema>;
