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

export function watchStream(source: ReadableStream<Uint8Array>, watch: StreamWatch): WatchedStream {
  const reader = source.getReader();
  let controller!: ReadableStreamDefaultController<Uint8Array>;
  let over = false;
  const stream = new ReadableStream<Uint8Array>(
    {
      start(c) {
        controller = c;
      },
      async pull(c) {
        watch.reading?.();
        let chunk: Awaited<ReturnType<typeof reader.read>>;
        try {
          chunk = await reader.read();
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
