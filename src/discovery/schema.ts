/**
 * A target group's `discover` block and the config's `resolver` (discovery.ts): targets found in
 * DNS, A/AAAA records with a port, or SRV records, re-resolved as their TTLs say.
 */
import * as v from "valibot";
import { described, integer, port, quote, seconds } from "../config/units.ts";

const hostname = v.pipe(
  v.string(),
  v.regex(
    /^(?=.{1,253}$)([A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9])?)*\.?$/,
    (i) => `expected a DNS name, got ${quote(i.input)}`,
  ),
);

export const DiscoverSchema = v.pipe(
  v.strictObject({
    dns: described(
      v.optional(hostname),
      "A name whose A and AAAA records are the group's targets, each at `port` (caddy dynamic upstreams a, nginx server resolve).",
    ),
    port: described(v.optional(port), "The targets' port, with `dns`."),
    srv: described(
      v.optional(hostname),
      "A name whose SRV records are the group's targets (RFC 2782: each record's host and port, its weight as the target's), e.g. _http._tcp.app.internal.",
    ),
    scheme: described(v.optional(v.picklist(["http", "https"]), "http"), 'How the targets are reached: "http" or "https". Default http.'),
    weight: described(v.optional(integer(0, 1000, "a weight"), 1), "The weight of each target found through `dns` (SRV records carry their own). Default 1."),
  }),
  v.check((d) => (d.dns === undefined) !== (d.srv === undefined), "expected exactly one of dns (with port) or srv"),
  v.check((d) => d.dns === undefined || d.port !== undefined, "expected a port with dns (the records give addresses only)"),
  v.check((d) => d.srv === undefined || d.port === undefined, "expected no port with srv (each record gives its own)"),
);

export const ResolverSchema = v.strictObject({
  servers: described(
    v.optional(
      v.pipe(
        v.array(
          v.pipe(
            v.string(),
            v.regex(/^(\[[0-9A-Fa-f:.]+\]|[0-9.]+)(:\d{1,5})?$/, (i) => `expected an address with an optional port such as 10.0.0.2:53, got ${quote(i.input)}`),
          ),
        ),
        v.minLength(1, "expected at least one server"),
      ),
    ),
    'DNS servers to ask (nginx resolver), e.g. ["10.0.0.2:53"]. Default: the system\'s (/etc/resolv.conf).',
  ),
  minTtl: described(v.optional(seconds(0.1, 3600), 1), "Shortest time between two resolutions of a name, whatever its records' TTL. Default 1."),
  maxTtl: described(v.optional(seconds(1, 86400), 300), "Longest time a resolution is kept, whatever its records' TTL (nginx resolver valid=). Default 300."),
  timeout: described(v.optional(seconds(0.1, 60), 2), "Seconds to wait for a DNS answer. Default 2."),
});

export type DiscoverConfig = v.InferOutput<typeof DiscoverSchema>;
export type ResolverConfig = v.InferOutput<typeof ResolverSchema>;
