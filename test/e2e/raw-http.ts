/**
 * A minimal HTTP/1.1 client on a raw socket, for what fetch would rewrite:
 * request targets sent byte for byte (dot segments, odd characters, empty
 * query) and the response read back as bytes. Finishes on Content-Length or
 * the last chunk, so it does not depend on the server closing the socket.
 */
import { connect } from "node:net";

export interface RawResponse {
  status: number;
  headers: [string, string][];
  body: Buffer;
}

interface Head {
  status: number;
  headers: [string, string][];
  bodyStart: number;
}

function parseHead(all: Buffer): Head | undefined {
  const end = all.indexOf("\r\n\r\n");
  if (end < 0) return undefined;
  const [statusLine, ...lines] = all.subarray(0, end).toString("latin1").split("\r\n");
  const headers = lines.map((l) => {
    const i = l.indexOf(":");
    return [l.slice(0, i).trim().toLowerCase(), l.slice(i + 1).trim()] as [string, string];
  });
  return { status: Number(statusLine!.split(" ")[1]), headers, bodyStart: end + 4 };
}

/** The decoded body once complete, or undefined while more bytes are due. */
function completeBody(head: Head, rest: Buffer, method: string): Buffer | undefined {
  const get = (name: string) => head.headers.find(([k]) => k === name)?.[1];
  if (method === "HEAD" || head.status === 204 || head.status === 304) return Buffer.alloc(0);
  if (/chunked/i.test(get("transfer-encoding") ?? "")) {
    const out: Buffer[] = [];
    let i = 0;
    for (;;) {
      const eol = rest.indexOf("\r\n", i);
      if (eol < 0) return undefined;
      const size = parseInt(rest.subarray(i, eol).toString(), 16);
      if (size === 0) return rest.indexOf("\r\n", eol + 2) >= 0 ? Buffer.concat(out) : undefined;
      if (rest.length < eol + 2 + size + 2) return undefined;
      out.push(rest.subarray(eol + 2, eol + 2 + size));
      i = eol + 2 + size + 2;
    }
  }
  const length = get("content-length");
  if (length !== undefined) return rest.length >= Number(length) ? rest.subarray(0, Number(length)) : undefined;
  return undefined; // delimited by close
}

export function rawRequest(port: number, head: string, body?: Buffer): Promise<RawResponse> {
  const method = head.slice(0, head.indexOf(" "));
  return new Promise((ok, fail) => {
    const socket = connect(port, "127.0.0.1");
    let all = Buffer.alloc(0);
    let done = false;
    const finish = (response: RawResponse) => {
      done = true;
      socket.destroy();
      ok(response);
    };
    socket.on("data", (d) => {
      all = Buffer.concat([all, d]);
      const parsed = parseHead(all);
      if (!parsed) return;
      const complete = completeBody(parsed, all.subarray(parsed.bodyStart), method);
      if (complete) finish({ status: parsed.status, headers: parsed.headers, body: complete });
    });
    socket.on("error", (e) => done || fail(e));
    socket.setTimeout(15_000, () => socket.destroy(new Error("raw request timed out")));
    socket.on("close", () => {
      if (done) return;
      const parsed = parseHead(all);
      if (!parsed) return fail(new Error(`no response head: ${all.toString()}`));
      ok({ status: parsed.status, headers: parsed.headers, body: all.subarray(parsed.bodyStart) });
    });
    socket.write(head.endsWith("\r\n\r\n") ? head : head + "\r\n\r\n");
    if (body) socket.write(body);
  });
}

export interface RawFraming {
  /** 0 when no response head arrived before the connection closed. */
  readonly status: number;
  readonly headers: [string, string][];
  /** How the response said its body ends. */
  readonly framing: "length" | "chunked" | "close" | "none";
  /** The body arrived whole by its own framing: all of its Content-Length, or the last chunk. */
  readonly complete: boolean;
  /** Body bytes received (after chunk decoding). */
  readonly bytes: number;
}

/**
 * Sends `head` (and `body`), then reads until the server closes the connection or `waitMs`
 * passes, and says whether the response body was complete by its own framing: what a client
 * needs to tell a cut-off download from a whole one.
 */
export function rawFraming(port: number, head: string, opts: { body?: Buffer; waitMs?: number } = {}): Promise<RawFraming> {
  const method = head.slice(0, head.indexOf(" "));
  return new Promise((ok) => {
    const socket = connect(port, "127.0.0.1");
    let all = Buffer.alloc(0);
    let settled = false;
    const settle = () => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      const parsed = parseHead(all);
      if (!parsed) return ok({ status: 0, headers: [], framing: "none", complete: false, bytes: 0 });
      const rest = all.subarray(parsed.bodyStart);
      const get = (name: string) => parsed.headers.find(([k]) => k === name)?.[1];
      if (/chunked/i.test(get("transfer-encoding") ?? "")) {
        const body = completeBody(parsed, rest, method);
        return ok({ status: parsed.status, headers: parsed.headers, framing: "chunked", complete: body !== undefined, bytes: body?.length ?? rest.length });
      }
      const length = get("content-length");
      if (length !== undefined) {
        return ok({ status: parsed.status, headers: parsed.headers, framing: "length", complete: rest.length >= Number(length), bytes: rest.length });
      }
      return ok({ status: parsed.status, headers: parsed.headers, framing: "close", complete: false, bytes: rest.length });
    };
    const timer = setTimeout(settle, opts.waitMs ?? 15_000);
    socket.on("data", (d) => {
      all = Buffer.concat([all, d]);
      // A complete response ends the wait at once (the connection may stay open for keep-alive).
      const parsed = parseHead(all);
      if (
        parsed && completeBody(parsed, all.subarray(parsed.bodyStart), method) !== undefined &&
        !/close/i.test(parsed.headers.find(([k]) => k === "connection")?.[1] ?? "")
      ) settle();
    });
    socket.on("error", settle);
    socket.on("close", settle);
    socket.write(head.endsWith("\r\n\r\n") ? head : head + "\r\n\r\n");
    if (opts.body) socket.write(opts.body);
  });
}
