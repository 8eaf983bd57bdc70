/**
 * Bun's built-in Redis client (`Bun.RedisClient`) as a RedisConnection.
 *
 * Bun's own reconnect gives up after `maxRetries` and does not resubscribe
 * (checked against Bun 1.4: messages stop after the server restarts, and a
 * second `subscribe` on the same client adds a second listener). So each
 * connection here is a fresh client with `autoReconnect: false`, replaced
 * with backoff whenever it closes, and subscribed anew on each replacement.
 * No offline queue: while disconnected, commands reject at once (fail static).
 */
import type { RedisConnection, RedisSubscription, SubscriptionHandlers } from "../../state/redis.ts";
import { connectionBackoffMs, redact, type RedisConnectOptions, withTimeout } from "../server/redis-connect.ts";

type Client = InstanceType<typeof Bun.RedisClient>;

async function connectClient(url: string, options: RedisConnectOptions): Promise<Client> {
  const client = new Bun.RedisClient(url, {
    autoReconnect: false,
    enableOfflineQueue: false,
    connectionTimeout: options.connectTimeoutMs,
  });
  try {
    await withTimeout(client.connect(), options.connectTimeoutMs, `cannot connect to ${redact(url)}`);
    return client;
  } catch (error) {
    client.onclose = null;
    client.close();
    throw error;
  }
}

/**
 * Keeps one live client: replaces it with backoff when it closes, until
 * `stop`. `ready` runs on each new client before it is handed out (the
 * subscriber subscribes there).
 */
class KeptClient {
  current: Client | undefined;
  private stopped = false;
  private timer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    private readonly url: string,
    private readonly options: RedisConnectOptions,
    private readonly ready: (client: Client) => Promise<void> = async () => {},
  ) {}

  adopt(client: Client): void {
    this.current = client;
    const dropped = () => {
      client.onclose = null;
      if (this.current === client) this.current = undefined;
      this.reconnect(0);
    };
    client.onclose = dropped;
    // It may have dropped before the handler was set.
    if (!client.connected) dropped();
  }

  reconnect(attempt: number): void {
    if (this.stopped || this.timer) return;
    this.timer = setTimeout(async () => {
      this.timer = undefined;
      if (this.stopped) return;
      let client: Client | undefined;
      try {
        client = await connectClient(this.url, this.options);
        await this.ready(client);
        if (this.stopped) throw new Error("stopped");
        this.adopt(client);
      } catch {
        if (client) {
          client.onclose = null;
          client.close();
        }
        this.reconnect(attempt + 1);
      }
    }, attempt === 0 ? 0 : connectionBackoffMs(attempt));
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    const client = this.current;
    this.current = undefined;
    if (client) {
      client.onclose = null;
      client.close();
    }
  }
}

/** Connects once (rejects when Redis cannot be reached within the timeout), then keeps the connection up. */
export async function openBunRedis(url: string, options: RedisConnectOptions): Promise<RedisConnection> {
  const commands = new KeptClient(url, options);
  commands.adopt(await connectClient(url, options));
  return {
    send(args) {
      const client = commands.current;
      if (!client || !client.connected) return Promise.reject(new Error("not connected (reconnecting)"));
      return client.send(args[0]!, args.slice(1));
    },
    subscribe(channel: string, handlers: SubscriptionHandlers): RedisSubscription {
      const listener = (message: string) => handlers.onMessage(message);
      const subscriber = new KeptClient(url, options, async (client) => {
        await withTimeout(client.subscribe(channel, listener), options.connectTimeoutMs, `cannot subscribe to ${channel}`);
        handlers.onSubscribed();
      });
      subscriber.reconnect(0);
      return {
        close: async () => subscriber.stop(),
      };
    },
    close: async () => commands.stop(),
  };
}
