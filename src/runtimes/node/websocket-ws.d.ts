/** The slice of the `ws` package (v8) that the Node relay and the e2e clients use (@types/ws is not installed). */
declare module "ws" {
  import type { IncomingMessage } from "node:http";
  import type { Duplex } from "node:stream";
  import { EventEmitter } from "node:events";
  export type RawData = Buffer | ArrayBuffer | Buffer[];
  export class WebSocket extends EventEmitter {
    static readonly CONNECTING: 0;
    static readonly OPEN: 1;
    static readonly CLOSING: 2;
    static readonly CLOSED: 3;
    constructor(
      url: string,
      protocols?: string | string[],
      options?: { headers?: Record<string, string>; perMessageDeflate?: boolean; maxPayload?: number; followRedirects?: boolean },
    );
    readonly readyState: 0 | 1 | 2 | 3;
    readonly protocol: string;
    readonly bufferedAmount: number;
    binaryType: "nodebuffer" | "arraybuffer" | "fragments";
    send(data: string | ArrayBuffer | ArrayBufferView, options?: { binary?: boolean }, cb?: (err?: Error) => void): void;
    close(code?: number, reason?: string): void;
    ping(data?: unknown): void;
    terminate(): void;
    pause(): void;
    resume(): void;
  }
  export class WebSocketServer extends EventEmitter {
    constructor(
      options: {
        noServer?: boolean;
        port?: number;
        perMessageDeflate?: boolean;
        maxPayload?: number;
        handleProtocols?: (protocols: Set<string>, request: IncomingMessage) => string | false;
      },
    );
    handleUpgrade(request: IncomingMessage, socket: Duplex, head: Buffer, callback: (ws: WebSocket, request: IncomingMessage) => void): void;
    close(cb?: () => void): void;
  }
  export default WebSocket;
}
