/**
 * The admin API (`admin.api`): resource-shaped JSON under a versioned path,
 * what the `fulcrum` commands and the stats page's actions call. Every change
 * goes through the state store (src/app/control.ts), so every instance that
 * shares it applies the change, and lands in the change log with who asked.
 *
 *   GET    /v1/status                              groups, targets, rules, config and store
 *   GET    /v1/events?limit=N                      the change log, oldest first
 *   PUT    /v1/rules/{rule}/action                 a rule's (or the default's) action: blue/green, canary weights
 *   DELETE /v1/rules/{rule}/action                 back to the config file's action
 *   PATCH  /v1/groups/{group}/targets/{target}     { drain, weight }
 *   POST   /v1/groups/{group}/targets              add a target
 *   DELETE /v1/groups/{group}/targets/{target}     drain it, then remove it
 *   GET    /v1/canaries                            where the automatic canaries stand, with their step's numbers
 *   POST   /v1/canaries/{rule}/{command}           pause, resume, promote or abort a canary
 *   POST   /v1/reload                              re-read the config
 *   GET    /v1/openapi.json                        this, as OpenAPI 3.1
 *
 * `{target}` is a target's name or its URL (percent-encoded). Failures are
 * `{ error, problems? }` with 400 (bad body), 404 (unknown rule, group or
 * target: the message lists the valid ones), 409 (refused as it stands),
 * 422 (an invalid config: nothing changed) or 503 (the store is unreachable:
 * nothing changed). The schemas are valibot's (src/admin/api-schema.ts),
 * turned into the OpenAPI document by hono-openapi.
 */
import { type Context, Hono } from "hono";
import { describeRoute, openAPIRouteHandler, resolver } from "hono-openapi";
import * as v from "valibot";
import type { Access } from "../src/admin/access.ts";
import {
  CanariesSchema,
  CanaryChangeSchema,
  EventsSchema,
  ProblemSchema,
  ReloadResultSchema,
  RestartResultSchema,
  RuleChangeSchema,
  StatusSchema,
  TargetAddSchema,
  TargetChangeSchema,
  TargetPatchSchema,
} from "../src/admin/api-schema.ts";
import { AdminError, type AdminOps, CANARY_COMMANDS, type CanaryCommand } from "../src/admin/ops.ts";
import { problemsOf } from "../src/config/load.ts";
import { ActionSchema, ForwardUnion } from "../src/rules/schema.ts";
import { CHANGE_LOG_SIZE } from "../src/state/store.ts";

export interface AdminApiDeps {
  readonly ops: AdminOps;
  /** Where it is mounted: "" on its own listener, `admin.api.path` on the traffic listeners. */
  readonly base: string;
  readonly access: (req: Request) => Promise<Access>;
  readonly clientAddress: (c: Context) => string | undefined;
  readonly log: (line: string) => void;
}

const noStore = { "cache-control": "no-store" };

const problem = (status: number, error: string, problems?: readonly string[]) =>
  Response.json(problems?.length ? { error, problems } : { error }, { status, headers: noStore });

/** The forward action's lazy schema gets a name of its own in the document's components. */
const json = (schema: v.GenericSchema) => ({ "application/json": { schema: resolver(schema, { options: { definitions: { Forward: ForwardUnion } } }) } });

/** OpenAPI description of one operation: its summary, body and answers. */
const described = (summary: string, ok: v.GenericSchema, body?: v.GenericSchema, status = 200, extra: Parameters<typeof describeRoute>[0] = {}) =>
  describeRoute({
    summary,
    ...extra,
    ...(body ? { requestBody: { required: true, content: json(body) } } : {}),
    responses: {
      [status]: { description: "done", content: json(ok) },
      400: { description: "invalid request", content: json(ProblemSchema) },
      401: { description: "credentials missing or wrong" },
      403: { description: "cross-origin, cross-site, or a non-loopback Host on a loopback API" },
      404: { description: "unknown rule, group or target (the message lists the valid ones)", content: json(ProblemSchema) },
      409: { description: "refused as things stand", content: json(ProblemSchema) },
      422: { description: "invalid config: nothing changed", content: json(ProblemSchema) },
      503: { description: "state store unreachable: nothing changed", content: json(ProblemSchema) },
    },
  });

/** The request's JSON body checked against `schema`; a Response when it is not valid. */
async function bodyOf<S extends v.GenericSchema>(c: Context, schema: S): Promise<v.InferOutput<S> | Response> {
  let input: unknown;
  try {
    input = await c.req.raw.json();
  } catch {
    return problem(400, "expected a JSON body");
  }
  const parsed = v.safeParse(schema, input);
  return parsed.success ? parsed.output : problem(400, "invalid body", problemsOf(parsed.issues, "body"));
}

export type AdminApi = Hono<{ Variables: { by: string } }>;

export function adminApi(deps: AdminApiDeps): AdminApi {
  const { ops } = deps;
  const base = `${deps.base}/v1`;
  const app = new Hono<{ Variables: { by: string } }>();

  app.use(`${deps.base}/*`, async (c, next) => {
    const access = await deps.access(c.req.raw);
    if ("refused" in access) return access.refused;
    const client = deps.clientAddress(c) ?? "unknown client";
    c.set("by", `api ${client}${access.who ? ` (${access.who})` : ""}`);
    await next();
  });
  app.onError((error) => {
    if (error instanceof AdminError) return problem(error.status, error.message, error.problems);
    deps.log(`admin api: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    return problem(500, "internal error (the balancer's log has it)");
  });

  app.get(
    `${base}/status`,
    described("Groups, targets, rules, the config and the state store", StatusSchema),
    async (c) => c.json(await ops.status(), 200, noStore),
  );

  const limitParameter = {
    name: "limit",
    in: "query" as const,
    description: `How many of the newest entries (default 50, at most ${CHANGE_LOG_SIZE})`,
    schema: { type: "integer" as const, minimum: 1, maximum: CHANGE_LOG_SIZE },
  };
  app.get(`${base}/events`, described("The change log, oldest first", EventsSchema, undefined, 200, { parameters: [limitParameter] }), async (c) => {
    const asked = Number(c.req.query("limit") ?? 50);
    const limit = Number.isInteger(asked) && asked > 0 ? Math.min(asked, CHANGE_LOG_SIZE) : 50;
    return c.json({ events: await ops.events(limit) }, 200, noStore);
  });

  app.put(`${base}/rules/:rule/action`, described("Set a rule's action (blue/green, canary weights)", RuleChangeSchema, ActionSchema), async (c) => {
    const action = await bodyOf(c, ActionSchema);
    if (action instanceof Response) return action;
    return c.json(await ops.route(c.req.param("rule"), action, c.var.by), 200, noStore);
  });

  app.delete(`${base}/rules/:rule/action`, described("Back to the config file's action", RuleChangeSchema), async (c) => {
    return c.json(await ops.route(c.req.param("rule"), undefined, c.var.by), 200, noStore);
  });

  app.patch(
    `${base}/groups/:group/targets/:target`,
    described("Drain a target, return it to service, or set its weight", TargetChangeSchema, TargetPatchSchema),
    async (c) => {
      const patch = await bodyOf(c, TargetPatchSchema);
      if (patch instanceof Response) return patch;
      return c.json(await ops.patchTarget(c.req.param("group"), c.req.param("target"), patch, c.var.by), 200, noStore);
    },
  );

  app.post(`${base}/groups/:group/targets`, described("Add a target", TargetChangeSchema, TargetAddSchema, 201), async (c) => {
    const target = await bodyOf(c, TargetAddSchema);
    if (target instanceof Response) return target;
    return c.json(await ops.addTarget(c.req.param("group"), target, c.var.by), 201, noStore);
  });

  app.delete(
    `${base}/groups/:group/targets/:target`,
    described("Drain a target, then remove it after deregistrationDelay", TargetChangeSchema, undefined, 202),
    async (c) => {
      return c.json(await ops.removeTarget(c.req.param("group"), c.req.param("target"), c.var.by), 202, noStore);
    },
  );

  app.get(
    `${base}/canaries`,
    described("Where the automatic canaries stand, with their current step's numbers from every instance", CanariesSchema),
    async (c) => {
      return c.json({ canaries: await ops.canaries() }, 200, noStore);
    },
  );

  app.post(
    `${base}/canaries/:rule/:command`,
    described(`A canary command: ${CANARY_COMMANDS.join(", ")}`, CanaryChangeSchema),
    async (c) => {
      const command = c.req.param("command");
      if (!(CANARY_COMMANDS as readonly string[]).includes(command)) {
        return problem(404, `no canary command ${JSON.stringify(command)}; commands: ${CANARY_COMMANDS.join(", ")}`);
      }
      return c.json(await ops.canary(c.req.param("rule"), command as CanaryCommand, c.var.by), 200, noStore);
    },
  );

  app.post(`${base}/reload`, described("Re-read the config (invalid: nothing changes)", ReloadResultSchema), async (c) => {
    return c.json(await ops.reload(c.var.by), 200, noStore);
  });

  app.post(
    `${base}/restart`,
    described("Replace the worker processes one by one, each new one serving before the one it replaces stops (--workers)", RestartResultSchema),
    async (c) => {
      return c.json(await ops.restart(c.var.by), 200, noStore);
    },
  );

  app.get(
    `${base}/openapi.json`,
    openAPIRouteHandler(app, {
      documentation: {
        openapi: "3.1.0",
        info: { title: "Fulcrum admin API", version: "1", description: "Change a running Fulcrum balancer. Every change goes through the state store." },
        components: { securitySchemes: { bearer: { type: "http", scheme: "bearer" }, basic: { type: "http", scheme: "basic" } } },
        // Either scheme where auth is configured; none on a loopback API without it (`{}`).
        security: [{ bearer: [] }, { basic: [] }, {}],
      },
    }),
  );

  app.all(`${deps.base}/*`, () => problem(404, "no such admin API resource (GET /v1/openapi.json lists them)"));
  return app;
}
