/**
 * Whether a traffic port is free for a host's workers. They bind it together
 * (SO_REUSEPORT on Bun and Deno), so a second balancer, or anything else
 * binding with SO_REUSEPORT, could join the port unnoticed and take a share
 * of the connections. An exclusive bind first, closed at once, finds any
 * socket on it, as `nginx -t` would find the port busy.
 */
import { createServer } from "node:net";

/** The OS's error when `host:port` cannot be bound on its own now; undefined when it is free. */
export function portTaken(host: string, port: number): Promise<Error | undefined> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once("error", (error) => resolve(error));
    server.listen({ host, port, exclusive: true }, () => server.close(() => resolve(undefined)));
  });
}
