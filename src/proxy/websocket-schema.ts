/**
 * `websocket`: how upgraded connections are relayed. Defaults follow the
 * seed's nginx `/ws` location (a long read timeout) and ALB's idle timeout.
 */
import * as v from "valibot";
import { bytes, described, seconds } from "../config/units.ts";

export const WebSocketSchema = v.strictObject({
  idleTimeout: described(
    v.optional(seconds(1, 86400), 3600),
    "Close a WebSocket after this many seconds without a frame either way (nginx proxy_read_timeout for /ws; ALB idle timeout). Default 3600.",
  ),
  pingInterval: described(
    v.optional(seconds(0, 3600), 0),
    "Send a ping to both sides after this many idle seconds so intermediaries keep the socket open; 0 = never. Default 0.",
  ),
  maxBufferedBytes: described(
    v.optional(bytes(65536, 1 << 30), 64 * 1024 * 1024),
    'Bytes (or a size like "64MiB") buffered towards a slow reader before the relay closes with 1009/1011; bounds memory per socket. Default 67108864 (64 MiB).',
  ),
});

export type WebSocketConfig = v.InferOutput<typeof WebSocketSchema>;
