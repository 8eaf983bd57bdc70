/**
 * The npm `redis` package (node-redis v6) as a RedisConnection, for Node.
 * Its own reconnect strategy brings both connections back and it
 * resubscribes by itself after a reconnect; `disableOfflineQueue` makes
 * commands reject at once while disconnected instead of waiting (fail static).
 * Loaded with a dynamic import so that balancers without Redis do not load it.
 */
import type { RedisConnection, RedisSubscription, SubscriptionHandlers } from "../../state/redis.ts";
import { connectionBackoffMs, redact, type RedisConnectOptions, withTimeout } from "../server/redis-connect.ts";

export async function openNodeRedis(url: string, options: RedisConnectOptions): Promise<RedisConnection> {
  const { createClient } = await import("redis");
  let started = false;
  const client = createClient({
    url,
    disableOfflineQueue: true,
    socket: {
      connectTimeout: options.connectTimeoutMs,
      // At start-up the first failure is the answer (a clear error now, not
      // retries until the timeout); once running, retry forever with backoff.
      reconnectStrategy: (retries: number, cause: Error) => (started ? connectionBackoffMs(retries + 1) : cause),
    },
  });
  // Without a listener, node-redis's "error" events (one per failed reconnect)
  // would crash the process; the store's callers see the rejected commands.
  client.on("error", () => {});
  try {
    // A host that drops packets answers nothing: bound the wait.
    await withTimeout(client.connect(), options.connectTimeoutMs, `cannot connect to ${redact(url)}`);
    started = true;
  } catch (error) {
    client.destroy();
    throw error;
  }
  return {
    send: (args) => client.sendCommand([...args]),
    subscribe(channel: string, handlers: SubscriptionHandlers): RedisSubscription {
      const subscriber = client.duplicate();
      subscriber.on("error", () => {});
      let subscribed = false;
      let closed = false;
      subscriber.on("ready", () => {
        if (!subscribed) return;
        // node-redis resubscribed before "ready"; the PING's reply comes after
        // the SUBSCRIBE's on the same connection, so the channel is live then.
        subscriber.ping().then(
          () => handlers.onSubscribed(),
          () => {},
        );
      });
      (async () => {
        for (let attempt = 1; !closed; attempt++) {
          try {
            // connect() itself retries until Redis answers (or close destroys the client).
            if (!subscriber.isOpen) await subscriber.connect();
            await subscriber.subscribe(channel, (message: string) => handlers.onMessage(message));
            subscribed = true;
            if (!closed) handlers.onSubscribed();
            return;
          } catch {
            // Dropped between connecting and subscribing: try again.
            await new Promise((r) => setTimeout(r, connectionBackoffMs(attempt)));
          }
        }
      })();
      return {
        close: async () => {
          closed = true;
          subscriber.destroy();
        },
      };
    },
    close: async () => {
      client.destroy();
    },
  };
}
