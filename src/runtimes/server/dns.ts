/**
 * DNS for discovery on Bun, Deno and Node: node:dns's Resolver (c-ares on Node, each runtime's
 * own underneath), which all three implement with TTLs and server lists, so one adapter serves
 * them. Names that do not exist answer empty, not an error: a group whose name went away has no
 * targets from it.
 */
import { promises as dns } from "node:dns";
import type { DnsResolver } from "../../platform.ts";

const GONE = new Set(["ENOTFOUND", "ENODATA"]);

async function orEmpty<T>(query: Promise<T[]>): Promise<T[]> {
  try {
    return await query;
  } catch (error) {
    if (GONE.has((error as { code?: string }).code ?? "")) return [];
    throw error;
  }
}

export function nodeDns(servers: readonly string[] | undefined, timeoutMs: number): DnsResolver {
  const resolver = new dns.Resolver({ timeout: Math.max(1, Math.round(timeoutMs)), tries: 2 });
  if (servers !== undefined) resolver.setServers([...servers]);
  return {
    a: (name) => orEmpty(resolver.resolve4(name, { ttl: true })),
    aaaa: (name) => orEmpty(resolver.resolve6(name, { ttl: true })),
    srv: (name) => orEmpty(resolver.resolveSrv(name)),
  };
}
