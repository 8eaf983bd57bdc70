/**
 * Upstream WebSocket clients on web-standard-shaped APIs:
 * - `constructorConnect`: a WHATWG WebSocket constructor that also takes
 *   `{ headers, protocols }` (Bun, and Deno 2, checked on Deno 2.9), so
 *   cookies, authorization and forwarding headers reach the target;
 * - `fetchPipe`: Workers, where `fetch` with `Upgrade: websocket` returns
 *   the target's 101 with `response.webSocket` (or its refusal, passed on).
 */
import { UpstreamError } from "../platform.ts";
import type { UpstreamHandshake, WsConnectRequest } from "../platform.ts";
import { StandardEnd } from "./websocket-end.ts";
import type { TransportFailure } from "../health/schema.ts";

const toWs = (url: string) => "ws" + url.slice(4);

/** Bun and Deno report a refused handshake only in the error message ("... status code: 403"). */
function refusedStatus(message: string): number | undefined {
  const m = /status code:?\s*(\d{3})/i.exec(message);
  return m ? Number(m[1]) : undefined;
}

export type WebSocketWithHeaders = new (url: string, options: { headers: Record<string, string>; protocols: string[] }) => WebSocket;

export function constructorConnect(Ctor: WebSocketWithHeaders, classify: (message: string) => TransportFailure) {
  return function connect(req: WsConnectRequest): Promise<UpstreamHandshake> {
    return new Promise((resolve, reject) => {
      if (req.signal.aborted) return reject(req.signal.reason);
      const socket = new Ctor(toWs(req.url), { headers: Object.fromEntries(req.headers), protocols: [...req.protocols] });
      // Wrapped at once so that frames sent right after the 101 are queued, not lost.
      const end = new StandardEnd(socket, "");
      let settled = false;
      const onAbort = () => {
        settled = true;
        socket.close();
        reject(req.signal.reason);
      };
      req.signal.addEventListener("abort", onAbort, { once: true });
      socket.addEventListener("open", () => {
        if (settled) return;
        settled = true;
        req.signal.removeEventListener("abort", onAbort);
        end.protocol = socket.protocol;
        resolve({ end });
      });
      const fail = (message: string) => {
        if (settled) return;
        settled = true;
        req.signal.removeEventListener("abort", onAbort);
        const status = refusedStatus(message);
        if (status !== undefined && status !== 101) resolve({ refused: new Response(null, { status }) });
        else reject(new UpstreamError(classify(message), message));
      };
      socket.addEventListener("error", (e) => fail((e as ErrorEvent).message ?? String((e as ErrorEvent).error ?? "websocket error")));
      socket.addEventListener("close", (e) => fail(`closed during the handshake (${e.code})`));
    });
  };
}

/**
 * Workers, natively joined: the target's socket goes back to the client in
 * the 101 without being accepted, so workerd pumps frames between the two
 * connections itself, with backpressure. Relaying them in JS would buffer
 * without bound towards a client that stops reading: workerd's WebSocket has
 * no `bufferedAmount` (measured: 13 GB of balancer RSS in 18 s with a target
 * flooding a client that never read).
 */
export async function fetchPipe(req: WsConnectRequest): Promise<UpstreamHandshake> {
  const answer = await fetchHandshake(req);
  if (!("socket" in answer)) return answer;
  const { socket, protocol } = answer;
  return {
    piped: {
      protocol,
      response: (headers) => {
        const h = new Headers(headers);
        if (protocol) h.set("sec-websocket-protocol", protocol);
        return new Response(null, { status: 101, webSocket: socket, headers: h } as ResponseInit);
      },
    },
  };
}

/** The target's answer to `fetch` with `Upgrade: websocket`. Host is always the URL's on Workers. */
async function fetchHandshake(req: WsConnectRequest): Promise<{ refused: Response } | { socket: WebSocket & { accept(): void }; protocol: string }> {
  const headers = new Headers(req.headers);
  headers.set("upgrade", "websocket");
  if (req.protocols.length > 0) headers.set("sec-websocket-protocol", req.protocols.join(", "));
  let response: Response;
  try {
    response = await fetch(req.url, { headers, signal: req.signal, redirect: "manual" });
  } catch (error) {
    if (req.signal.aborted) throw error;
    throw new UpstreamError("reset", (error as Error).message, { cause: error });
  }
  const socket = (response as Response & { webSocket?: WebSocket & { accept(): void } }).webSocket;
  if (response.status !== 101 || !socket) return { refused: response };
  return { socket, protocol: response.headers.get("sec-websocket-protocol") ?? "" };
}

/** Workers: the client's end is one half of a WebSocketPair, returned in a 101 response. */
export function pairAccept(init: { readonly protocol: string; readonly headers: Headers }): { response: Response; end: StandardEnd } {
  const Pair = (globalThis as unknown as { WebSocketPair: new () => Record<0 | 1, WebSocket & { accept(): void }> }).WebSocketPair;
  const pair = new Pair();
  const client = pair[0];
  const server = pair[1];
  server.accept();
  const headers = new Headers(init.headers);
  if (init.protocol) headers.set("sec-websocket-protocol", init.protocol);
  return { response: new Response(null, { status: 101, webSocket: client, headers } as ResponseInit), end: new StandardEnd(server, init.protocol) };
}
