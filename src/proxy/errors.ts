/**
 * What a client sees when the balancer itself answers: a short plain body,
 * the status a real proxy would send, no stack trace, no internal address.
 */
const TEXT = { "content-type": "text/plain; charset=utf-8", "cache-control": "no-store" };

export function badGateway(): Response {
  return new Response("502 Bad Gateway\n", { status: 502, headers: TEXT });
}

export function gatewayTimeout(): Response {
  return new Response("504 Gateway Timeout\n", { status: 504, headers: TEXT });
}

/** No usable target: 503 with Retry-After, like HAProxy's "no server available". */
export function serviceUnavailable(retryAfterSeconds = 5): Response {
  return new Response("503 Service Unavailable\n", {
    status: 503,
    headers: { ...TEXT, "retry-after": String(retryAfterSeconds) },
  });
}

/** The client's request is malformed; `detail` names what (never anything internal). */
export function badRequest(detail?: string): Response {
  return new Response(detail ? `400 Bad Request: ${detail}\n` : "400 Bad Request\n", { status: 400, headers: TEXT });
}

/** A method the balancer does not implement (CONNECT: a reverse proxy offers no tunnels). */
export function notImplemented(): Response {
  return new Response("501 Not Implemented\n", { status: 501, headers: TEXT });
}

/**
 * A request body over `maxRequestBodySize` (RFC 9110 §15.5.14, nginx `client_max_body_size`):
 * the connection is closed, since the rest of the body may still be on its way.
 */
export function contentTooLarge(): Response {
  return new Response("413 Content Too Large\n", { status: 413, headers: { ...TEXT, connection: "close" } });
}

export function notFound(): Response {
  return new Response("404 Not Found\n", { status: 404, headers: TEXT });
}

export function methodNotAllowed(allow: string): Response {
  return new Response("405 Method Not Allowed\n", { status: 405, headers: { ...TEXT, allow } });
}

export function internalError(): Response {
  return new Response("500 Internal Server Error\n", { status: 500, headers: TEXT });
}

/** What the operator's log gets about an unexpected error (the client never sees it). */
export function errorDetail(error: unknown): string {
  return error instanceof Error ? (error.stack ?? error.message) : String(error);
}
