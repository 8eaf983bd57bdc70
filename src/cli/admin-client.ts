/**
 * The `fulcrum` commands' side of the admin API: where it is (`--admin URL`,
 * else `$FULCRUM_ADMIN`, else http://127.0.0.1:9901, Caddy's
 * `localhost:2019` habit), its token (`--token`, else
 * `$FULCRUM_ADMIN_TOKEN`), and failures worded as one line an operator can
 * act on. The URL is the API's base: `https://lb.example/__fulcrum/api` where
 * the API is a path (Workers).
 */
import { isLoopback } from "../net/host.ts";

export const DEFAULT_ADMIN = "http://127.0.0.1:9901";

export interface AdminTarget {
  readonly base: string;
  readonly token: string | undefined;
}

/** A failure worded for the operator (printed as is, exit 1). */
export class CommandError extends Error {}

export function adminTarget(flags: { admin?: string | undefined; token?: string | undefined }, env: NodeJS.ProcessEnv): AdminTarget {
  const base = (flags.admin ?? env.FULCRUM_ADMIN ?? DEFAULT_ADMIN).replace(/\/+$/, "");
  if (!URL.canParse(base) || !/^https?:$/.test(new URL(base).protocol)) {
    throw new CommandError(`--admin: expected the admin API's URL (http://127.0.0.1:9901, https://lb.example/__fulcrum/api), got ${JSON.stringify(base)}`);
  }
  const token = flags.token ?? (env.FULCRUM_ADMIN_TOKEN || undefined);
  const url = new URL(base);
  if (token && url.protocol === "http:" && !isLoopback(url.hostname)) {
    // The admin listener speaks plain HTTP; past this host the token should travel inside TLS or a tunnel.
    console.error(`fulcrum: warning: sending the admin token in the clear to ${url.host}; use https (a TLS proxy in front) or an ssh tunnel to its loopback`);
  }
  return { base, token };
}

/** One call; resolves to the JSON answer of a 2xx, throws a CommandError with the API's reason otherwise. */
export async function call<T>(target: AdminTarget, method: string, path: string, body?: unknown, timeoutMs = 30_000): Promise<T> {
  const url = `${target.base}/v1${path}`;
  let response: Response;
  try {
    response = await fetch(url, {
      method,
      headers: {
        ...(target.token ? { authorization: `Bearer ${target.token}` } : {}),
        ...(body === undefined ? {} : { "content-type": "application/json" }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (error) {
    const cause = (error as { cause?: { code?: string } }).cause?.code ?? (error as Error).name;
    const why = cause === "ECONNREFUSED" ? "connection refused" : cause === "TimeoutError" ? `no answer within ${timeoutMs / 1000}s` : (error as Error).message;
    throw new CommandError(
      `cannot reach the admin API at ${target.base} (${why}): is the balancer running with its admin API on? (--admin URL or FULCRUM_ADMIN)`,
    );
  }
  const text = await response.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  if (response.ok && json !== undefined) return json as T;
  if (response.status === 401) {
    throw new CommandError(
      target.token
        ? `the admin API at ${target.base} refused the token (FULCRUM_ADMIN_TOKEN or --token)`
        : `the admin API at ${target.base} wants credentials: set FULCRUM_ADMIN_TOKEN or pass --token`,
    );
  }
  const problem = json as { error?: string; problems?: string[] } | undefined;
  // A request body the API refused names the command's own arguments (weight, url, name), on one line.
  if (problem?.error === "invalid body" && problem.problems?.length) throw new CommandError(problem.problems.map((p) => p.replace(/^body\./, "")).join("; "));
  if (problem?.error) throw new CommandError(`${problem.error}${problem.problems?.length ? `\n  ${problem.problems.join("\n  ")}` : ""}`);
  throw new CommandError(`the admin API at ${target.base} answered ${response.status} to ${method} ${url}${text ? `: ${text.slice(0, 200).trim()}` : ""}`);
}
