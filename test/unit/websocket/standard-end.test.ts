/**
 * StandardEnd over a socket that is still connecting (Deno's upgraded socket
 * opens only after the 101 is sent): frames and a close that arrive first are
 * held and sent once it opens. A stand-in socket, because the window is a race
 * on the real runtimes (seen once in a CI run: a target's immediate close
 * never reached the client on Deno).
 */
import { expect, test } from "bun:test";
import { StandardEnd } from "../../../src/proxy/websocket-end.ts";

class ConnectingSocket extends EventTarget {
  readyState = 0;
  binaryType = "blob";
  protocol = "";
  readonly sent: unknown[] = [];
  closed: [number, string] | undefined;
  send(d: unknown) {
    if (this.readyState !== 1) throw new DOMException("not open", "InvalidStateError");
    this.sent.push(d);
  }
  close(code: number, reason: string) {
    if (this.readyState === 0) throw new DOMException("still connecting", "InvalidStateError");
    this.closed = [code, reason];
    this.readyState = 3;
  }
  open() {
    this.readyState = 1;
    this.dispatchEvent(new Event("open"));
  }
}

test("a close before the socket opens is sent, with its code and reason, once it opens", () => {
  const socket = new ConnectingSocket();
  const end = new StandardEnd(socket as unknown as WebSocket, "");
  end.close(4001, "bye");
  expect(socket.closed).toBeUndefined();
  socket.open();
  expect(socket.closed).toEqual([4001, "bye"]);
});

test("frames then a close before the socket opens go out in order", () => {
  const socket = new ConnectingSocket();
  const end = new StandardEnd(socket as unknown as WebSocket, "");
  end.send("one");
  end.send("two");
  end.close(1000, "done");
  socket.open();
  expect(socket.sent).toEqual(["one", "two"]);
  expect(socket.closed).toEqual([1000, "done"]);
});
