/**
 * The admin API's bodies, as valibot schemas: they validate what callers
 * send, type what the handlers return, and are the OpenAPI document's
 * schemas (routes/admin-api.ts), so the three cannot drift.
 */
import * as v from "valibot";
import { originUrl } from "../config/schema.ts";
import { NAME, quote } from "../config/units.ts";
import { REPORTED_STATES } from "../metrics/health-provider.ts";
import { CanarySchema } from "../canary/schema.ts";
import { CHANGE_KINDS, type ChangeEvent, type JsonValue } from "../state/store.ts";

const weight = v.pipe(
  v.number(),
  v.integer("expected an integer weight from 0 to 1000"),
  v.minValue(0, "expected a weight from 0 to 1000"),
  v.maxValue(1000, "expected a weight from 0 to 1000"),
);
const name = v.pipe(v.string(), v.regex(NAME, (i) => `expected a name of letters, digits, _ . - (up to 64), got ${quote(i.input)}`));
/** Config JSON as stored (an action, a weight, a state name): any JSON value. */
const json = v.unknown() as v.GenericSchema<JsonValue>;

// ------------------------------------------------------------------ requests

/** PATCH a target: drain it or return it to service, set its weight or give it back the config's. */
export const TargetPatchSchema = v.pipe(
  v.strictObject({
    /** true: no new requests or sessions; sticky clients and WebSockets stay until deregistrationDelay. false: back in service (slow start). */
    drain: v.optional(v.boolean()),
    /** 0–1000 (0: no new traffic), or "config" for the config file's weight. */
    weight: v.optional(v.union([weight, v.literal("config")], 'expected a weight from 0 to 1000, or "config"')),
  }),
  v.check((p) => p.drain !== undefined || p.weight !== undefined, "expected drain or weight"),
);

/** POST a target to a group (an origin, as in the config file). */
export const TargetAddSchema = v.strictObject({
  url: originUrl,
  name: v.optional(name),
  weight: v.optional(weight, 1),
  backup: v.optional(v.boolean(), false),
});

// ----------------------------------------------------------------- responses

export const ProblemSchema = v.object({
  /** One line, what went wrong. */
  error: v.string(),
  /** Every problem by field path, when there are several (an invalid config). */
  problems: v.optional(v.array(v.string())),
});

export const TargetStatusSchema = v.object({
  name: v.optional(v.string()),
  url: v.string(),
  state: v.picklist(REPORTED_STATES),
  weight: v.number(),
  /** The config file's weight; null for a target added at run time. */
  configWeight: v.nullable(v.number()),
  inflight: v.number(),
  backup: v.boolean(),
  draining: v.boolean(),
  /** When a drain moves sticky clients and closes WebSockets (epoch ms). */
  drainEndsAt: v.optional(v.number()),
  /** When a removed target leaves the group (epoch ms). */
  removeAt: v.optional(v.number()),
  /** What the state store overrides of the config file here. */
  overridden: v.array(v.picklist(["weight", "drain", "added", "removed"])),
  /** When the target entered its state (epoch ms). */
  since: v.optional(v.number()),
  /** Why it takes no traffic, when it takes none: the failed check, the failed attempts, the ejection. */
  reason: v.optional(v.string()),
  /** When it is tried again (a trial request after passive failures, the end of an ejection; epoch ms). */
  retryAt: v.optional(v.number()),
});

export const GroupStatusSchema = v.object({
  name: v.string(),
  strategy: v.string(),
  /** Its failover, when it has a fallbackGroup: `active` while its traffic goes there. */
  fallback: v.optional(v.object({ group: v.string(), minHealthy: v.number(), active: v.boolean() })),
  targets: v.array(TargetStatusSchema),
});

export const RuleStatusSchema = v.object({
  /** A rule's priority, or "default". */
  rule: v.union([v.number(), v.literal("default")]),
  /** The action in use (config JSON). */
  action: json,
  /** The config file's action. */
  configAction: json,
  /** An operator's override (`fulcrum route`) is in use. */
  overridden: v.boolean(),
  /** The weights are an automatic canary's (absent otherwise). */
  canary: v.optional(v.boolean()),
});

export const StatusSchema = v.object({
  instance: v.string(),
  runtime: v.string(),
  config: v.object({
    /** Where the config is read from (a file path, FULCRUM_KV/config). */
    location: v.string(),
    /** A digest of its text: the same config has the same version on every instance. */
    version: v.string(),
    /** When this instance last loaded it (epoch ms). */
    loadedAt: v.number(),
  }),
  store: v.object({ kind: v.string(), reachable: v.boolean(), version: v.number() }),
  rules: v.array(RuleStatusSchema),
  groups: v.array(GroupStatusSchema),
  /** The host's worker processes (`--workers`); in-flight counts are then the host's. */
  workers: v.optional(
    v.array(v.object({ slot: v.number(), pid: v.number(), startedAt: v.number(), crashes: v.number() })),
  ),
});

export const ChangeEventSchema: v.GenericSchema<ChangeEvent> = v.object({
  at: v.number(),
  instance: v.string(),
  source: v.string(),
  kind: v.picklist(CHANGE_KINDS),
  subject: v.string(),
  before: v.optional(json),
  after: v.optional(json),
  detail: v.optional(v.string()),
});

export const EventsSchema = v.object({ events: v.array(ChangeEventSchema) });

export const ReloadResultSchema = v.object({
  /** The one line `fulcrum reload` prints. */
  message: v.string(),
  version: v.string(),
  previousVersion: v.string(),
  targets: v.object({ added: v.array(v.string()), removed: v.array(v.string()) }),
  listeners: v.object({ added: v.array(v.string()), removed: v.array(v.string()) }),
  overrides: v.object({ kept: v.array(v.string()), dropped: v.array(v.string()) }),
});

export const RestartResultSchema = v.object({
  /** The one line `fulcrum restart` prints. */
  message: v.string(),
});
export type RestartResult = v.InferOutput<typeof RestartResultSchema>;

const SideSchema = v.object({
  requests: v.number(),
  errors: v.number(),
  /** 5xx in % of the requests. */
  errorRate: v.number(),
  /** Time to response headers, ms; absent without requests. */
  p99: v.optional(v.number()),
});

/** An automatic canary: where it stands, and what its current step has measured on every instance so far. */
export const CanaryViewSchema = v.object({
  /** The rule's priority, or "default". */
  rule: v.string(),
  group: v.string(),
  stable: v.array(v.string()),
  steps: v.array(v.number()),
  /** "starting" until the deciding instance has written its first record. */
  state: v.picklist(["starting", "progressing", "paused", "promoted", "rolled back", "aborted"]),
  /** Index in `steps`. */
  step: v.number(),
  /** The canary group's share now, in %. */
  weight: v.number(),
  secondsInStep: v.number(),
  /** The last decision, with the numbers it was taken on. */
  reason: v.optional(v.string()),
  /** An operator's `fulcrum route` holds the rule's action: the canary's weights do not apply until `--config`. */
  overridden: v.optional(v.boolean()),
  measured: v.object({ canary: SideSchema, stable: SideSchema }),
  /** The canary block as configured, defaults included. */
  config: CanarySchema,
});
export const CanariesSchema = v.object({ canaries: v.array(CanaryViewSchema) });
export const CanaryChangeSchema = v.object({ message: v.string(), canary: CanaryViewSchema });
export type CanaryView = v.InferOutput<typeof CanaryViewSchema>;
export type CanaryChange = v.InferOutput<typeof CanaryChangeSchema>;

/** What a change answers: the line the command prints and the changed resource as it is now. */
export const RuleChangeSchema = v.object({ message: v.string(), rule: RuleStatusSchema });
export const TargetChangeSchema = v.object({ message: v.string(), group: v.string(), target: TargetStatusSchema });

export type TargetPatch = v.InferOutput<typeof TargetPatchSchema>;
export type TargetAdd = v.InferOutput<typeof TargetAddSchema>;
export type TargetStatus = v.InferOutput<typeof TargetStatusSchema>;
export type GroupStatus = v.InferOutput<typeof GroupStatusSchema>;
export type RuleStatus = v.InferOutput<typeof RuleStatusSchema>;
export type Status = v.InferOutput<typeof StatusSchema>;
export type ReloadResult = v.InferOutput<typeof ReloadResultSchema>;
export type RuleChange = v.InferOutput<typeof RuleChangeSchema>;
export type TargetChange = v.InferOutput<typeof TargetChangeSchema>;
