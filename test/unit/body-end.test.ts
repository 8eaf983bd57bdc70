import { describe, expect, test } from "bun:test";
import { isStreamed, onBodyEnd, STREAMED_BODY_BYTES } from "../../src/proxy/body-end.ts";

const bytes = (...sizes: number[]) => sizes.map((n) => new Uint8Array(n).fill(7));

/** A source that hands out `chunks`, then ends (or fails with `failWith`), recording a cancel. */
function source(chunks: Uint8Array[], failWith?: Error) {
  const seen = { cancelled: undefined as unknown, pulls: 0 };
  const stream = new ReadableStream<Uint8Array>(
    {
      pull(controller) {
        seen.pulls++;
        const next = chunks.shift();
        if (next) controller.enqueue(next);
        else if (failWith) controller.error(failWith);
        else controller.close();
      },
      cancel(reason) {
        seen.cancelled = reason;
      },
    },
    { highWaterMark: 0 },
  );
  return { stream, seen };
}

describe("isStreamed: which target bodies keep the count until relayed", () => {
  test("no Content-Length, or one over the limit, streams; a small one does not", () => {
    expect(isStreamed(null)).toBe(true);
    expect(isStreamed(String(STREAMED_BODY_BYTES + 1))).toBe(true);
    expect(isStreamed(String(STREAMED_BODY_BYTES))).toBe(false);
    expect(isStreamed("0")).toBe(false);
    expect(isStreamed("bogus")).toBe(true);
  });
});

describe("onBodyEnd", () => {
  test("relays every chunk unchanged and ends once, with the byte count, when the body is done", async () => {
    const chunks = bytes(3, 5, 8);
    const { stream } = source([...chunks]);
    const ends: number[] = [];
    const relayed = onBodyEnd(stream, (n) => ends.push(n));
    const got: Uint8Array[] = [];
    const reader = relayed.getReader();
    for (let r = await reader.read(); !r.done; r = await reader.read()) got.push(r.value);
    expect(got).toEqual(chunks);
    expect(got[0]).toBe(chunks[0]!); // the same chunk objects, not copies
    expect(ends).toEqual([16]);
  });

  test("nothing is read ahead: the source is pulled only as the consumer reads", async () => {
    const { stream, seen } = source(bytes(1, 1, 1));
    const reader = onBodyEnd(stream, () => {}).getReader();
    await Bun.sleep(5);
    expect(seen.pulls).toBe(0);
    await reader.read();
    expect(seen.pulls).toBe(1);
  });

  test("a body that breaks ends the count and passes the error on", async () => {
    const { stream } = source(bytes(4), new Error("target reset"));
    const ends: number[] = [];
    const reader = onBodyEnd(stream, (n) => ends.push(n)).getReader();
    expect((await reader.read()).value?.byteLength).toBe(4);
    await expect(reader.read()).rejects.toThrow("target reset");
    expect(ends).toEqual([4]);
  });

  test("a consumer that cancels ends the count and cancels the source with its reason", async () => {
    const { stream, seen } = source(bytes(2, 2, 2));
    const ends: number[] = [];
    const reader = onBodyEnd(stream, (n) => ends.push(n)).getReader();
    await reader.read();
    await reader.cancel("client went away");
    expect(ends).toEqual([2]);
    expect(seen.cancelled).toBe("client went away");
  });

  test("the client's signal ends the count and cancels the source even if nobody reads or cancels again (workerd)", async () => {
    const { stream, seen } = source(bytes(2, 2));
    const client = new AbortController();
    const ends: number[] = [];
    const relayed = onBodyEnd(stream, (n) => ends.push(n), client.signal);
    const reader = relayed.getReader();
    await reader.read();
    client.abort("gone");
    expect(ends).toEqual([2]);
    expect(seen.cancelled).toBe("gone");
    await reader.cancel().catch(() => {}); // a late cancel does not end it twice
    expect(ends).toEqual([2]);
  });

  test("a client already gone when the body is handed over ends the count at once", () => {
    const { stream, seen } = source(bytes(2));
    const ends: number[] = [];
    onBodyEnd(stream, (n) => ends.push(n), AbortSignal.abort("left early"));
    expect(ends).toEqual([0]);
    expect(seen.cancelled).toBe("left early");
  });
});

describe("onBodyEnd with a guard", () => {
  /** A source that hands out `chunks` and then neither ends nor fails: a target that stalls. */
  function stalling(chunks: Uint8Array[]) {
    const seen = { cancelled: undefined as unknown };
    const stream = new ReadableStream<Uint8Array>(
      {
        pull(controller) {
          const next = chunks.shift();
          if (next) controller.enqueue(next);
          else return new Promise(() => {}); // never answers
        },
        cancel(reason) {
          seen.cancelled = reason;
        },
      },
      { highWaterMark: 0 },
    );
    return { stream, seen };
  }
  const clock = {
    now: () => performance.now(),
    timer: (ms: number, fire: () => void) => {
      const t = setTimeout(fire, ms);
      return () => clearTimeout(t);
    },
  };

  test("a read that waits longer than the read timeout errors the relay and cancels the target's body", async () => {
    const { stream, seen } = stalling(bytes(3));
    const ends: [number, string][] = [];
    const reader = onBodyEnd(stream, (n, how) => ends.push([n, how]), undefined, { readTimeoutMs: 60, ...clock }).getReader();
    expect((await reader.read()).value?.byteLength).toBe(3);
    const started = performance.now();
    await expect(reader.read()).rejects.toThrow("no bytes of the target's body for 0.06s");
    expect(performance.now() - started).toBeGreaterThanOrEqual(50);
    expect(ends).toEqual([[3, "timeout"]]);
    expect(seen.cancelled).toBeInstanceOf(Error);
  });

  test("a client that reads slowly is not a stalled target: only a pending read counts", async () => {
    const { stream } = source(bytes(1, 1, 1));
    const ends: [number, string][] = [];
    const reader = onBodyEnd(stream, (n, how) => ends.push([n, how]), undefined, { readTimeoutMs: 30, ...clock }).getReader();
    await reader.read();
    await Bun.sleep(100); // nobody asks for more meanwhile
    for (let r = await reader.read(); !r.done; r = await reader.read());
    expect(ends).toEqual([[3, "complete"]]);
  });

  test("a body that ends short of its declared length errors instead of ending cleanly", async () => {
    const { stream } = source(bytes(4, 4));
    const ends: [number, string][] = [];
    const reader = onBodyEnd(stream, (n, how) => ends.push([n, how]), undefined, { declaredLength: 20, ...clock }).getReader();
    await reader.read();
    await reader.read();
    await expect(reader.read()).rejects.toThrow("the target's body ended after 8 of 20 bytes");
    expect(ends).toEqual([[8, "truncated"]]);
  });

  test("a body of exactly its declared length ends cleanly", async () => {
    const { stream } = source(bytes(4, 4));
    const ends: [number, string][] = [];
    const reader = onBodyEnd(stream, (n, how) => ends.push([n, how]), undefined, { declaredLength: 8, readTimeoutMs: 1000, ...clock }).getReader();
    for (let r = await reader.read(); !r.done; r = await reader.read());
    expect(ends).toEqual([[8, "complete"]]);
  });
});

describe("onBodyEnd with a read size (workerd: Platform.streamReadSize)", () => {
  /** A byte stream that hands out `chunks` one per pull, as a runtime's fetch body does. */
  function byteSource(chunks: Uint8Array<ArrayBuffer>[]) {
    const seen = { cancelled: undefined as unknown };
    const stream = new ReadableStream(
      {
        type: "bytes",
        pull(controller) {
          const next = chunks.shift();
          if (next) controller.enqueue(next);
          else {
            controller.close();
            controller.byobRequest?.respond(0); // a pending BYOB read is answered "done" (Streams spec)
          }
        },
        cancel(reason) {
          seen.cancelled = reason;
        },
      },
      { highWaterMark: 0 },
    ) as ReadableStream<Uint8Array>;
    return { stream, seen };
  }
  const readAll = async (relayed: ReadableStream<Uint8Array>) => {
    const got: Uint8Array[] = [];
    const reader = relayed.getReader();
    for (let r = await reader.read(); !r.done; r = await reader.read()) got.push(r.value);
    return got;
  };

  test("a byte stream is read into buffers of that size: every byte arrives in order, small reads as copies of their own length", async () => {
    const chunks = [new Uint8Array([1, 2, 3]), new Uint8Array(200).fill(9), new Uint8Array([4])];
    const { stream } = byteSource(chunks.map((c) => c.slice()));
    const ends: number[] = [];
    const got = await readAll(onBodyEnd(stream, (n) => ends.push(n), undefined, { ...noGuardClock, readSize: 1024 }));
    const joined = new Uint8Array(got.reduce((a, c) => a + c.byteLength, 0));
    got.reduce((at, c) => (joined.set(c, at), at + c.byteLength), 0);
    expect([...joined]).toEqual([1, 2, 3, ...new Array(200).fill(9), 4]);
    expect(got.every((c) => c.buffer.byteLength === c.byteLength)).toBe(true); // no 1 KiB buffer held per read under a quarter of it
    expect(ends).toEqual([204]);
  });

  test("a read that fills most of the buffer is passed on without a copy", async () => {
    const { stream } = byteSource([new Uint8Array(1000).fill(5)]);
    const got = await readAll(onBodyEnd(stream, () => {}, undefined, { ...noGuardClock, readSize: 1024 }));
    expect(got.map((c) => [c.byteLength, c.buffer.byteLength])).toEqual([[1000, 1024]]);
  });

  test("reads start at 16 KiB and double while they come back full, up to the read size", async () => {
    const { stream } = byteSource([new Uint8Array(200_000).fill(1)]);
    const got = await readAll(onBodyEnd(stream, () => {}, undefined, { ...noGuardClock, readSize: 64 * 1024 }));
    expect(got.map((c) => c.byteLength)).toEqual([16384, 32768, 65536, 65536, 200_000 - 180224]);
    expect(got.reduce((a, c) => a + c.byteLength, 0)).toBe(200_000);
  });

  test("a trickle is passed on as it comes: a small chunk is not held for a fuller read", async () => {
    let sent = false;
    const stream = new ReadableStream({
      type: "bytes",
      pull(controller) {
        if (sent) return new Promise<void>(() => {}); // the target then says nothing more
        sent = true;
        controller.enqueue(new TextEncoder().encode("data: 1\n\n"));
      },
    }, { highWaterMark: 0 }) as ReadableStream<Uint8Array>;
    const reader = onBodyEnd(stream, () => {}, undefined, { ...noGuardClock, readSize: 256 * 1024 }).getReader();
    const first = await reader.read();
    expect(new TextDecoder().decode(first.value)).toBe("data: 1\n\n");
    expect(first.value!.buffer.byteLength).toBe(first.value!.byteLength); // a copy: no 16 KiB buffer held for it
    void reader.cancel();
  });

  test("a source that is not a byte stream is read as it comes", async () => {
    const chunks = bytes(3, 5);
    const { stream } = source([...chunks]);
    const got = await readAll(onBodyEnd(stream, () => {}, undefined, { ...noGuardClock, readSize: 1024 }));
    expect(got).toEqual(chunks);
    expect(got[0]).toBe(chunks[0]!);
  });

  test("cancelling the relay cancels the byte source", async () => {
    const { stream, seen } = byteSource(bytes(10, 10));
    const relayed = onBodyEnd(stream, () => {}, undefined, { ...noGuardClock, readSize: 64 });
    const reader = relayed.getReader();
    await reader.read();
    await reader.cancel("bye");
    expect(seen.cancelled).toBe("bye");
  });
});

const noGuardClock = { now: () => 0, timer: () => () => {} };
