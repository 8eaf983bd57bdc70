/**
 * The client's request body as the attempts send it: buffered when small
 * enough to replay (so a retry can send it again), streamed otherwise (then a
 * failure after the first attempt is final), and watched so that an upload
 * the client abandons is told apart from a target that failed.
 */

import { watchStream } from "./watched-stream.ts";

/** What a request without a body sends on every attempt. */
export const NO_BODY = { body: () => null, replayable: true, clientFailed: () => false as boolean | undefined, tooLarge: () => false, sent: undefined };

/** The client broke off its own request (upload cut, connection gone): not the target's doing. */
export class ClientGone extends Error {}

/** A streamed request body went past `maxRequestBodySize`: the attempt is broken off, the client gets 413. */
export class BodyTooLarge extends Error {}

/**
 * A streamed request body that remembers whether reading from the *client*
 * failed, so an upload the client abandons is not blamed on the target
 * (request.signal does not fire for that on every runtime: Deno).
 */
function watchedBody(
  source: ReadableStream<Uint8Array>,
  max: number,
  readSize: number | undefined,
): { stream: ReadableStream<Uint8Array>; failed: () => boolean; tooLarge: () => boolean; sent: Promise<void> } {
  let failed = false;
  let seen = 0;
  let tooLarge = false;
  let markSent!: () => void;
  const sent = new Promise<void>((resolve) => (markSent = resolve));
  const watched = watchStream(source, {
    done: () => markSent(),
    failed: () => void (failed = true),
    chunk: (bytes) => {
      seen += bytes;
      if (seen <= max || tooLarge) return;
      tooLarge = true;
      watched.fail(new BodyTooLarge(`request body over ${max} bytes`));
    },
  }, readSize);
  return { stream: watched.stream, failed: () => failed, tooLarge: () => tooLarge, sent };
}

/**
 * `sent` resolves once a streamed body has been read to its end (undefined: nothing left to send).
 * `fixedLength`: the platform's (Platform.fixedLength), where a JavaScript stream that errors would
 * reach the target as a complete body; an upload of unknown length is then passed on as the
 * runtime's own stream, which breaks off visibly, unwatched: `clientFailed` is then undefined
 * (whose fault a broken exchange was cannot be told, and workerd's request signal does not fire
 * for a client that leaves mid-upload).
 */
export async function replayableBody(
  request: Request,
  limit: number,
  fixedLength?: (body: ReadableStream<Uint8Array>, length: number) => ReadableStream<Uint8Array>,
  /** `maxRequestBodySize`: a streamed body going past it breaks the attempt off (`tooLarge`). */
  max = Number.POSITIVE_INFINITY,
  /** Platform.streamReadSize. */
  readSize?: number,
): Promise<
  { body: () => BodyInit | null; replayable: boolean; clientFailed: () => boolean | undefined; tooLarge: () => boolean; sent: Promise<void> | undefined }
> {
  const length = Number(request.headers.get("content-length") ?? -1);
  if (length >= 0 && length <= limit) {
    let bytes: Uint8Array<ArrayBuffer>;
    try {
      bytes = new Uint8Array(await request.arrayBuffer());
    } catch (error) {
      throw new ClientGone("client aborted its request body", { cause: error });
    }
    return { body: () => bytes, replayable: true, clientFailed: () => false, tooLarge: () => false, sent: undefined };
  }
  // workerd: a body of unknown length is the runtime's own stream, unwatched (and Cloudflare bounds its size).
  if (fixedLength && length < 0) return { body: () => request.body, replayable: false, clientFailed: () => undefined, tooLarge: () => false, sent: undefined };
  const watched = watchedBody(request.body!, max, readSize);
  const stream = fixedLength ? fixedLength(watched.stream, length) : watched.stream;
  return { body: () => stream, replayable: false, clientFailed: watched.failed, tooLarge: watched.tooLarge, sent: watched.sent };
}
