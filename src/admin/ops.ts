/**
 * What the admin API asks of a running balancer (src/app/control.ts answers),
 * and how it says no: an AdminError carries the HTTP status and the one line
 * a `fulcrum` command prints, with every problem by field path where there
 * are several. `by` says who asked, for the change log.
 */
import type { ActionConfig } from "../rules/schema.ts";
import type { ChangeEvent } from "../state/store.ts";
import type { CanaryChange, CanaryView, ReloadResult, RestartResult, RuleChange, Status, TargetAdd, TargetChange, TargetPatch } from "./api-schema.ts";

export interface AdminOps {
  status(): Promise<Status>;
  events(limit: number): Promise<ChangeEvent[]>;
  /** A rule's action (its priority, or "default"); undefined: back to the config file's. */
  route(rule: string, action: ActionConfig | undefined, by: string): Promise<RuleChange>;
  /** TARGET is a target's name or URL. */
  patchTarget(group: string, target: string, patch: TargetPatch, by: string): Promise<TargetChange>;
  addTarget(group: string, target: TargetAdd, by: string): Promise<TargetChange>;
  /** Drains it, then it leaves the group after deregistrationDelay. */
  removeTarget(group: string, target: string, by: string): Promise<TargetChange>;
  /** Re-read the config; throws AdminError 422 with its problems when it is invalid (nothing changes). */
  reload(by: string): Promise<ReloadResult>;
  /** Where the automatic canaries stand (one rule's, or all). */
  canaries(rule?: string): Promise<CanaryView[]>;
  /** Pause, resume, promote or abort the canary of a rule. */
  canary(rule: string, command: CanaryCommand, by: string): Promise<CanaryChange>;
  /** Replace the worker processes one by one (`--workers`); AdminError 409 without workers, 422 when a new one cannot start. */
  restart(by: string): Promise<RestartResult>;
}

export const CANARY_COMMANDS = ["pause", "resume", "promote", "abort"] as const;
export type CanaryCommand = (typeof CANARY_COMMANDS)[number];

export type AdminStatus = 400 | 404 | 409 | 422 | 503;

export class AdminError extends Error {
  constructor(
    readonly status: AdminStatus,
    message: string,
    readonly problems?: readonly string[],
  ) {
    super(message);
    this.name = "AdminError";
  }
}
