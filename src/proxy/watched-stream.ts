/**
 * A body relayed chunk by chunk, unchanged, pulled from its source only when
 * the consumer asks (nothing is buffered here), telling the caller what
 * happens to it. One mechanism for both directions: the client's upload
 * (request-body.ts: did the *client* fail?) and the target's streamed
 * response (body-end.ts: when is it delivered, did it stall or end short?).
 */
export interface StreamWatch {
  /** A read from the source starts (the consumer wants more). */
  reading?(): void;
  /** A chunk of this many bytes was passed on. */
  chunk?(bytes: number): void;
  /**
   * The source ended. Returning an error ends the consumer's stream with it
   * instead (a body shorter than it declared must not look complete).
   */
  done?(): unknown;
  /** Reading the source failed (the error is passed on to the consumer). */
  failed?(error: unknown): void;
  /** The consumer cancelled (the source is cancelled with the same reason). */
  cancelled?(reason: unknown): void;
}

export interface WatchedStream {
  readonly stream: ReadableStream<Uint8Array>;
  /** Cancel the source only (the consumer is going away by itself). */
  cancelSource(reason?: unknown): void;
  /** End the consumer's stream with `error` and cancel the source (a stall, seen from outside). */
  fail(error: unknown): void;
}

type Read = { done: true; value?: undefined } | { done: false; value: Uint8Array };

/**
 * `readSize`: read the source into buffers of up to this many bytes (a BYOB reader) instead of
 * taking its chunks as they come. workerd hands a fetch or request body on in 4 KiB chunks, and
 * each one through JavaScript costs far more than the bytes (BENCHMARKS.md, Streaming). A read
 * takes whatever has arrived, so a trickle (server-sent events) is not held back. A source that is
 * not a byte stream is read as it comes.
 */
export function watchStream(source: ReadableStream<Uint8Array>, watch: StreamWatch, readSize?: number): WatchedStream {
  const read = readSize === undefined ? undefined : byobReads(source, readSize);
  const reader = read?.reader ?? source.getReader();
  const next: () => Promise<Read> = read?.next ?? (() => (reader as ReadableStreamDefaultReader<Uint8Array>).read());
  let controller!: ReadableStreamDefaultController<Uint8Array>;
  let over = false;
  const stream = new ReadableStream<Uint8Array>(
    {
      start(c) {
        controller = c;
      },
      async pull(c) {
        watch.reading?.();
        let chunk: Read;
        try {
          chunk = await next();
        } catch (error) {
          if (over) return;
          over = true;
          watch.failed?.(error);
          c.error(error);
          return;
        }
        if (over) return;
        if (chunk.done) {
          over = true;
          const problem = watch.done?.();
          if (problem === undefined) c.close();
          else c.error(problem);
          return;
        }
        watch.chunk?.(chunk.value.byteLength);
        c.enqueue(chunk.value);
      },
      cancel(reason) {
        over = true;
        watch.cancelled?.(reason);
        return reader.cancel(reason);
      },
    },
    { highWaterMark: 0 },
  );
  const cancelSource = (reason?: unknown) => void reader.cancel(reason).catch(() => {});
  return {
    stream,
    cancelSource,
    fail(error) {
      if (over) return;
      over = true;
      controller.error(error);
      cancelSource(error);
    },
  };
}

/** The first BYOB buffer: what an idle stream (server-sent events, a long poll) holds while it waits. */
const FIRST_READ_BYTES = 16 * 1024;

/**
 * BYOB reads into buffers that start at FIRST_READ_BYTES and double, up to `max`, while reads come
 * back full (a fast transfer); a small result is copied out so that its buffer serves the next read.
 */
function byobReads(source: ReadableStream<Uint8Array>, max: number): { reader: ReadableStreamBYOBReader; next: () => Promise<Read> } | undefined {
  let reader: ReadableStreamBYOBReader;
  try {
    reader = source.getReader({ mode: "byob" });
  } catch {
    return undefined; // not a byte stream
  }
  let size = Math.min(FIRST_READ_BYTES, max);
  let buffer = new Uint8Array(size);
  return {
    reader,
    async next() {
      const r = await reader.read(buffer);
      if (r.done || r.value === undefined) return { done: true, value: undefined };
      const view = r.value;
      if (view.byteLength * 4 > size) {
        if (view.byteLength === size) size = Math.min(2 * size, max);
        buffer = new Uint8Array(size);
        return { done: false, value: view };
      }
      // The read transferred the buffer: take it back for the next read (a fresh one if it came back changed).
      buffer = view.buffer.byteLength === size ? new Uint8Array(view.buffer) : new Uint8Array(size);
      return { done: false, value: view.slice() };
    },
  };
}
