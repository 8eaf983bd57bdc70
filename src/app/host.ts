/**
 * A host of worker processes (\`--workers\`), as its balancers and their admin
 * API see it, from any worker or the primary: the host's metrics, its rolling
 * restart, and its reload (the primary reads the file once and every worker
 * takes that text, so the host never serves two configs). The runtime side
 * (src/runtimes/server/workers/) implements it.
 */
import type { ReloadResult } from "../admin/api-schema.ts";
import type { HostMetrics } from "../metrics/export.ts";

export interface HostWorkers extends HostMetrics {
  /** Replace the workers one by one (\`fulcrum restart\`, SIGUSR2); resolves with what was done, rejects with why not. */
  restart(by: string): Promise<string>;
  /** Reload the primary, then every worker with the primary's text; rejects with an AdminError naming the workers that refused. */
  reload(by: string): Promise<ReloadResult>;
}
