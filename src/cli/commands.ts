/**
 * The `fulcrum` commands that change or read a running balancer through its
 * admin API (routes/admin-api.ts). Each prints one plain line on success and
 * exits 0; on failure it prints the reason (an unknown group or target lists
 * the valid ones) and exits 1. `status` and `events` print tables, or the
 * API's JSON with `--json`.
 */
import type { ReloadResult, RestartResult, RuleChange, RuleStatus, Status, TargetChange } from "../admin/api-schema.ts";
import type { ChangeEvent } from "../state/store.ts";
import { describeAction } from "../app/status.ts";
import { type AdminTarget, call, CommandError } from "./admin-client.ts";
import { canaryCommand } from "./canary.ts";

export const CONTROL_USAGE = `  fulcrum status [--json]                     groups, targets, rules, config and state store
  fulcrum route RULE GROUP                    blue/green: all of RULE (a priority, or default) to GROUP
  fulcrum route RULE GROUP=W GROUP=W ...      weighted forward (canary), weights 0-999
  fulcrum route RULE --config                 back to the config file's action
  fulcrum drain GROUP TARGET                  no new requests; sticky clients and WebSockets stay until deregistrationDelay
  fulcrum ready GROUP TARGET                  back in service (slow start where configured)
  fulcrum weight GROUP TARGET N|config        0-1000, or back to the config file's weight
  fulcrum target add GROUP URL [--name N] [--weight W] [--backup]
  fulcrum target remove GROUP TARGET          drains first, removed after deregistrationDelay
  fulcrum canary status [RULE] [--json]       where the automatic canaries stand, with their step's numbers
  fulcrum canary pause|resume|promote|abort RULE
                                              hold, go on (or start over), go to 100 %, or back to 0 %
  fulcrum reload                              re-read the config (invalid: nothing changes)
  fulcrum restart                             replace the worker processes one by one (--workers)
  fulcrum events [--json]                     the change log
    (each takes --admin URL, default $FULCRUM_ADMIN or http://127.0.0.1:9901, and --token T, default $FULCRUM_ADMIN_TOKEN)`;

export interface CommandFlags {
  json?: boolean;
  name?: string;
  weight?: string;
  backup?: boolean;
  config?: boolean;
}

const enc = encodeURIComponent;

function need(args: readonly string[], n: number, usage: string): void {
  if (args.length !== n) throw new CommandError(`usage: fulcrum ${usage}`);
}

/** `GROUP=W` → `{ group, weight }`. */
function weighted(arg: string): { group: string; weight: number } {
  const m = /^([^=]+)=(\d+)$/.exec(arg);
  if (!m || Number(m[2]) > 999) throw new CommandError(`expected GROUP=WEIGHT with a weight from 0 to 999, got ${JSON.stringify(arg)}`);
  return { group: m[1]!, weight: Number(m[2]) };
}

/** Run one control command; resolves to what to print. */
export async function runCommand(target: AdminTarget, command: string, args: readonly string[], flags: CommandFlags): Promise<string> {
  switch (command) {
    case "status": {
      need(args, 0, "status [--json]");
      const status = await call<Status>(target, "GET", "/status");
      return flags.json ? JSON.stringify(status, null, 2) : formatStatus(status);
    }
    case "events": {
      need(args, 0, "events [--json]");
      const { events } = await call<{ events: ChangeEvent[] }>(target, "GET", "/events?limit=200");
      return flags.json ? JSON.stringify(events, null, 2) : formatEvents(events);
    }
    case "route": {
      const [rule, ...groups] = args;
      if (rule === undefined || (flags.config ? groups.length !== 0 : groups.length === 0)) {
        throw new CommandError("usage: fulcrum route RULE GROUP | fulcrum route RULE GROUP=W GROUP=W ... | fulcrum route RULE --config");
      }
      const path = `/rules/${enc(rule)}/action`;
      if (flags.config) return (await call<RuleChange>(target, "DELETE", path)).message;
      if (groups.length === 1 && !groups[0]!.includes("=")) return (await call<RuleChange>(target, "PUT", path, { forward: groups[0] })).message;
      // A weighted forward keeps the rule's group stickiness (ALB keeps TargetGroupStickinessConfig when weights change).
      const status = await call<Status>(target, "GET", "/status");
      const current = status.rules.find((r) => String(r.rule) === rule);
      const stickiness = stickinessOf(current?.action) ?? stickinessOf(current?.configAction);
      const action = { forward: { targetGroups: groups.map(weighted), ...(stickiness ? { stickiness } : {}) } };
      return (await call<RuleChange>(target, "PUT", path, action)).message;
    }
    case "drain":
    case "ready": {
      need(args, 2, `${command} GROUP TARGET`);
      const [group, t] = args as [string, string];
      return (await call<TargetChange>(target, "PATCH", `/groups/${enc(group)}/targets/${enc(t)}`, { drain: command === "drain" })).message;
    }
    case "weight": {
      need(args, 3, "weight GROUP TARGET N|config");
      const [group, t, w] = args as [string, string, string];
      if (w !== "config" && !/^\d+$/.test(w)) throw new CommandError(`weight: expected a weight from 0 to 1000, or config, got ${JSON.stringify(w)}`);
      return (await call<TargetChange>(target, "PATCH", `/groups/${enc(group)}/targets/${enc(t)}`, { weight: w === "config" ? "config" : Number(w) })).message;
    }
    case "target": {
      const [sub, group, ref] = args;
      if (sub === "add" && group !== undefined && ref !== undefined && args.length === 3) {
        const body = {
          url: ref,
          ...(flags.name === undefined ? {} : { name: flags.name }),
          ...(flags.weight === undefined ? {} : { weight: Number(flags.weight) }),
          ...(flags.backup ? { backup: true } : {}),
        };
        return (await call<TargetChange>(target, "POST", `/groups/${enc(group)}/targets`, body)).message;
      }
      if (sub === "remove" && group !== undefined && ref !== undefined && args.length === 3) {
        return (await call<TargetChange>(target, "DELETE", `/groups/${enc(group)}/targets/${enc(ref)}`)).message;
      }
      throw new CommandError("usage: fulcrum target add GROUP URL [--name N] [--weight W] [--backup] | fulcrum target remove GROUP TARGET");
    }
    case "canary":
      return await canaryCommand(target, args, flags.json === true);
    case "restart": {
      need(args, 0, "restart");
      // Each worker is replaced only once its successor serves: minutes for many workers.
      return (await call<RestartResult>(target, "POST", "/restart", undefined, 600_000)).message;
    }
    case "reload": {
      need(args, 0, "reload");
      const r = await call<ReloadResult>(target, "POST", "/reload");
      const lines = [r.message, ...r.overrides.dropped.map((d) => `  dropped override: ${d}`)];
      return lines.join("\n");
    }
    default:
      throw new CommandError(`unknown command ${JSON.stringify(command)}`);
  }
}

function stickinessOf(action: unknown): unknown {
  const forward = (action as { forward?: unknown } | undefined)?.forward;
  return typeof forward === "object" && forward !== null ? (forward as { stickiness?: unknown }).stickiness : undefined;
}

// ------------------------------------------------------------------ output

/** Columns padded to their widest cell. */
function table(rows: readonly (readonly string[])[]): string[] {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? "").length)));
  return rows.map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]!))).join("  ").trimEnd());
}

const time = (ms: number) => new Date(ms).toISOString().replace(/\.\d+Z$/, "Z");

export function formatStatus(s: Status): string {
  const out = [
    `config  ${s.config.location}  version ${s.config.version || "?"}, loaded ${time(s.config.loadedAt)}`,
    `store   ${s.store.kind}, ${s.store.reachable ? "reachable" : "UNREACHABLE"}, snapshot version ${s.store.version}`,
    `instance ${s.instance} (${s.runtime})`,
    ...(s.workers
      ? [
        `workers ${s.workers.length}: ${
          s.workers.map((w) => `${w.slot} pid ${w.pid}${w.crashes ? ` (${w.crashes} crash${w.crashes > 1 ? "es" : ""})` : ""}`).join(", ")
        }`,
      ]
      : []),
    "",
    ...table([
      ["RULE", "ACTION", ""],
      ...s.rules.map((
        r: RuleStatus,
      ) => [
        String(r.rule),
        describeAction(r.action),
        r.overridden
          ? `* (config: ${describeAction(r.configAction)})`
          : r.canary
          ? `canary (config: ${describeAction(r.configAction)}; fulcrum canary status ${r.rule})`
          : "",
      ]),
    ]),
  ];
  for (const g of s.groups) {
    const fallback = g.fallback
      ? g.fallback.active
        ? `; FAILED OVER: its traffic goes to ${g.fallback.group} (fewer than ${g.fallback.minHealthy} available)`
        : `; falls back to ${g.fallback.group} below ${g.fallback.minHealthy} available`
      : "";
    out.push("", `group ${g.name} (${g.strategy}${fallback})`);
    out.push(...table([
      ["  NAME", "URL", "STATE", "WEIGHT", "IN FLIGHT", ""],
      ...g.targets.map((t) => {
        const notes = [
          t.overridden.includes("added") ? "added at run time*" : "",
          t.removeAt !== undefined
            ? `removed at ${time(t.removeAt)}*`
            : t.drainEndsAt !== undefined
            ? `drain ends ${time(t.drainEndsAt)}${t.overridden.includes("drain") ? "*" : ""}`
            : "",
          t.backup ? "backup" : "",
          t.reason
            ? `${t.reason}${t.since !== undefined ? `, since ${time(t.since)}` : ""}${t.retryAt !== undefined ? `, retried at ${time(t.retryAt)}` : ""}`
            : "",
        ].filter(Boolean);
        const weight = `${t.weight}${t.overridden.includes("weight") ? `* (config: ${t.configWeight ?? "-"})` : ""}`;
        return [`  ${t.name ?? "-"}`, t.url, t.state, weight, String(t.inflight), notes.join(", ")];
      }),
    ]));
  }
  const marked = s.rules.some((r) => r.overridden) || s.groups.some((g) => g.targets.some((t) => t.overridden.length > 0));
  if (marked) out.push("", "* set through the admin API, over the config file (a reload keeps it while its rule or target exists)");
  return out.join("\n");
}

export function formatEvents(events: readonly ChangeEvent[]): string {
  if (events.length === 0) return "no changes recorded yet";
  const shown = (x: unknown) => (x === undefined ? "-" : typeof x === "string" ? x : JSON.stringify(x));
  return table([
    ["TIME", "CHANGE", "OF", "FROM -> TO", "BY", "INSTANCE", "DETAIL"],
    ...events.map((e) => [time(e.at), e.kind, e.subject, `${shown(e.before)} -> ${shown(e.after)}`, e.source, e.instance, e.detail ?? ""]),
  ]).join("\n");
}
