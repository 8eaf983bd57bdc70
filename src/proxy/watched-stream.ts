/**
 * A body relayed chunk by chunk, unchanged, pulled from its source only when
 * the consumer asks (nothing is buffered here), telling the caller what
 * happens to it. One mechanism for both directions: the client's upload
 * (request-body.ts: did the *client* fail?) and the target's streamed
 * response (body-end.ts: when is it delivered?).
 */
export interface StreamWatch {
  /** A chunk of this many bytes was passed on. */
  chunk?(bytes: number): void;
  /** The source ended. */
  done?(): void;
  /** Reading the source failed (the error is passed on to the consumer). */
  failed?(error: unknown): void;
  /** The consumer cancelled (the source is cancelled with the same reason). */
  cancelled?(reason: unknown): void;
}

export function watchStream(source: ReadableStream<Uint8Array>, watch: StreamWatch): { stream: ReadableStream<Uint8Array>; cancelSource(reason?: unknown): void } {
  const reader = source.getReader();
  const stream = new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        let chunk: Awaited<ReturnType<typeof reader.read>>;
        try {
          chunk = await reader.read();
        } catch (error) {
          watch.failed?.(error);
          controller.error(error);
          return;
        }
        if (chunk.done) {
          watch.done?.();
          controller.close();
          return;
        }
        watch.chunk?.(chunk.value.byteLength);
        controller.enqueue(chunk.value);
      },
      cancel(reason) {
        watch.cancelled?.(reason);
        return reader.cancel(reason);
      },
    },
    { highWaterMark: 0 },
  );
  return { stream, cancelSource: (reason) => void reader.cancel(reason).catch(() => {}) };
}
