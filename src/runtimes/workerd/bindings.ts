/**
 * Bindings `fulcrum serve --runtime workerd` gives the Worker, which a
 * deployed Worker does not have.
 *
 * LOCAL_CLIENT_IP tells the Worker it runs locally and whose word its client
 * address is: "unknown", or "cf-connecting-ip" (`--trust-cf-connecting-ip`).
 * On Cloudflare it is absent: the edge sets CF-Connecting-IP on every
 * request, overwriting what the client sent. Under Miniflare the entry worker
 * passes a client's own CF-Connecting-IP through (it fills one in only when
 * none was sent) and the socket address never reaches the Worker, so anyone
 * could choose their address for `sourceIp` rules and `ip_hash`.
 */
export const LOCAL_CLIENT_IP = "FULCRUM_LOCAL_CLIENT_IP";

/**
 * The launcher's config file, as a service binding (a function in the
 * `fulcrum serve` process that reads the file): the Worker re-reads it on
 * `fulcrum reload`, where a deployed Worker reads Workers KV (kv-config.ts).
 */
export const CONFIG_FILE_BINDING = "FULCRUM_CONFIG_FILE";
/** That file's path, for status and messages. */
export const CONFIG_PATH_BINDING = "FULCRUM_CONFIG_PATH";
