/**
 * The admin API's OpenAPI document (GET /v1/openapi.json), generated from the
 * same valibot schemas that check the bodies: it must be a valid OpenAPI 3.1
 * document, list every operation the app serves with its request body, and
 * say what the handlers really answer, or generated clients go wrong. The app
 * is the real one (routes/admin-api.ts) over a real balancer, wired as
 * src/app/listener.ts wires it.
 */
import { beforeAll, describe, expect, test } from "bun:test";
import { Validator } from "@seriousme/openapi-schema-validator";
import { adminApi } from "../../../routes/admin-api.ts";
import { apiAccess } from "../../../src/admin/access.ts";
import { createBalancer } from "../../../src/app/balancer.ts";
import { validateConfig } from "../../../src/config/load.ts";
import { quietPlatform } from "../quiet-platform.ts";

type Operation = {
  operationId?: string;
  parameters?: { in: string; name: string; required?: boolean }[];
  requestBody?: { required?: boolean; content?: Record<string, { schema?: unknown }> };
  responses: Record<string, unknown>;
};
type Document = { openapi: string; paths: Record<string, Record<string, Operation>>; components?: Record<string, Record<string, unknown>> };

const A = "http://10.0.0.1";
const B = "http://10.0.0.2";

function world(base: string) {
  const config = validateConfig({
    listen: { port: 0 },
    targetGroups: { app: { targets: [{ url: A }, { url: B }], deregistrationDelay: 30 }, green: { targets: [{ url: "http://10.0.1.1:80" }] } },
    rules: [{ priority: 10, conditions: [{ pathPattern: { values: ["/api/*"] } }], action: { forward: "app" } }],
    defaultAction: { forward: "app" },
  });
  const app = createBalancer(config, quietPlatform);
  const http = adminApi({
    ops: app.balancer.control,
    base,
    access: apiAccess({ listen: { port: 9901, host: "127.0.0.1" } }, {}),
    clientAddress: () => "127.0.0.1",
    log: () => {},
  });
  const call = (method: string, path: string, body?: unknown) =>
    http.fetch(
      new Request(`http://127.0.0.1:9901${base}${path}`, {
        method,
        headers: { host: "127.0.0.1:9901", "content-type": "application/json" },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      }),
    );
  return { balancer: app.balancer, call };
}

/** Every operation the API serves (routes/admin-api.ts), as `METHOD path` in OpenAPI's path templating. */
const OPERATIONS = [
  "get /v1/status",
  "get /v1/events",
  "put /v1/rules/{rule}/action",
  "delete /v1/rules/{rule}/action",
  "patch /v1/groups/{group}/targets/{target}",
  "post /v1/groups/{group}/targets",
  "delete /v1/groups/{group}/targets/{target}",
  "get /v1/canaries",
  "post /v1/canaries/{rule}/{command}",
  "post /v1/reload",
  "post /v1/restart",
];
const WITH_BODY = ["put /v1/rules/{rule}/action", "patch /v1/groups/{group}/targets/{target}", "post /v1/groups/{group}/targets"];

const operationsOf = (doc: Document, base = "") =>
  Object.entries(doc.paths).flatMap(([path, ops]) => Object.keys(ops).map((method) => `${method} ${path.slice(base.length)}`));

describe("the admin API's OpenAPI document", () => {
  let doc: Document;
  beforeAll(async () => {
    const w = world("");
    await w.balancer.ready();
    const r = await w.call("GET", "/v1/openapi.json");
    expect(r.status).toBe(200);
    expect(r.headers.get("content-type")).toStartWith("application/json");
    doc = (await r.json()) as Document;
  });

  test("is a valid OpenAPI 3.1 document", async () => {
    expect(doc.openapi).toStartWith("3.1");
    const result = await new Validator().validate(doc);
    // The errors, when there are any, are what a failure should show.
    expect(result.errors ?? []).toEqual([]);
    expect(result.valid).toBe(true);
  });

  test("lists every operation the app serves, and no other", () => {
    expect(operationsOf(doc).sort()).toEqual([...OPERATIONS].sort());
  });

  test("every operation answers in the document: each one served is routed, none falls to the API's 404", async () => {
    // The other half of the listing: what the document lists, the app serves (a 404 would be the catch-all's).
    const w = world("");
    await w.balancer.ready();
    for (const op of OPERATIONS) {
      const [method, path] = op.split(" ") as [string, string];
      const concrete = path.replace("{rule}", "10").replace("{group}", "app").replace("{target}", encodeURIComponent(B)).replace("{command}", "pause");
      const r = await w.call(method.toUpperCase(), concrete, WITH_BODY.includes(op) ? {} : undefined);
      // A 404 of the operation itself (rule 10 has no canary) is routed; the API's own 404 is not.
      const error = r.status === 404 ? ((await r.json()) as { error: string }).error : "";
      expect(`${op} -> ${error.startsWith("no such admin API resource") ? error : "routed"}`).toBe(`${op} -> routed`);
    }
  });

  test("operations with a body require it and give its JSON schema; the others have none", () => {
    for (const op of OPERATIONS) {
      const [method, path] = op.split(" ") as [string, string];
      const body = doc.paths[path]![method]!.requestBody;
      if (!WITH_BODY.includes(op)) {
        expect({ op, body }).toEqual({ op, body: undefined });
        continue;
      }
      expect({ op, required: body?.required }).toEqual({ op, required: true });
      const schema = body?.content?.["application/json"]?.schema as Record<string, unknown> | undefined;
      expect({ op, schema: typeof schema }).toEqual({ op, schema: "object" });
      expect(Object.keys(schema!).length).toBeGreaterThan(0);
    }
  });

  test("the bodies' schemas are the checks' own: PATCH takes drain and weight only, POST needs a url and takes weights 0-1000", () => {
    const body = (op: string) => {
      const [method, path] = op.split(" ") as [string, string];
      return doc.paths[path]![method]!.requestBody!.content!["application/json"]!.schema as {
        properties: Record<string, Record<string, unknown>>;
        required?: string[];
        additionalProperties?: unknown;
      };
    };
    const patch = body("patch /v1/groups/{group}/targets/{target}");
    expect(Object.keys(patch.properties).sort()).toEqual(["drain", "weight"]);
    expect(patch.additionalProperties).toBe(false);
    const add = body("post /v1/groups/{group}/targets");
    expect(add.required).toEqual(["url"]);
    expect(add.properties.weight).toMatchObject({ type: "integer", minimum: 0, maximum: 1000 });
  });

  test("every path parameter in a template is declared, as OpenAPI requires", () => {
    for (const [path, ops] of Object.entries(doc.paths)) {
      const templated = [...path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]!).sort();
      for (const [method, op] of Object.entries(ops)) {
        const declared = (op.parameters ?? []).filter((p) => p.in === "path" && p.required).map((p) => p.name).sort();
        expect({ at: `${method} ${path}`, declared }).toEqual({ at: `${method} ${path}`, declared: templated });
      }
    }
  });

  test("operation ids are unique (code generators name methods by them)", () => {
    const ids = Object.values(doc.paths).flatMap((ops) => Object.values(ops).map((op) => op.operationId));
    expect(ids.every((id) => typeof id === "string")).toBe(true);
    expect(new Set(ids).size).toBe(ids.length);
  });

  test("every $ref points at a component the document has", () => {
    const refs = [...JSON.stringify(doc).matchAll(/"\$ref":"#\/components\/(\w+)\/([^"]+)"/g)].map((m) => [m[1]!, m[2]!] as const);
    expect(refs.length).toBeGreaterThan(0); // the forward action's schema is one
    for (const [kind, name] of refs) {
      expect({ ref: `${kind}/${name}`, found: doc.components?.[kind]?.[name] !== undefined }).toEqual({ ref: `${kind}/${name}`, found: true });
    }
  });

  test("each operation documents the success status its handler answers", async () => {
    // What each handler really answers, from calls that succeed on a balancer of its own.
    const w = world("");
    await w.balancer.ready();
    const answers: [string, Response][] = [
      ["get /v1/status", await w.call("GET", "/v1/status")],
      ["get /v1/events", await w.call("GET", "/v1/events?limit=5")],
      ["put /v1/rules/{rule}/action", await w.call("PUT", "/v1/rules/10/action", { forward: "green" })],
      ["delete /v1/rules/{rule}/action", await w.call("DELETE", "/v1/rules/10/action")],
      ["patch /v1/groups/{group}/targets/{target}", await w.call("PATCH", `/v1/groups/app/targets/${encodeURIComponent(A)}`, { weight: 3 })],
      ["post /v1/groups/{group}/targets", await w.call("POST", "/v1/groups/app/targets", { url: "http://10.0.0.3" })],
      ["delete /v1/groups/{group}/targets/{target}", await w.call("DELETE", `/v1/groups/app/targets/${encodeURIComponent(B)}`)],
      ["post /v1/reload", await w.call("POST", "/v1/reload")],
    ];
    const mismatches: string[] = [];
    for (const [op, r] of answers) {
      expect({ op, ok: r.ok }).toEqual({ op, ok: true });
      const [method, path] = op.split(" ") as [string, string];
      const documented = Object.keys(doc.paths[path]![method]!.responses).filter((s) => s.startsWith("2"));
      if (!documented.includes(String(r.status))) mismatches.push(`${op}: answers ${r.status}, documents ${documented.join(", ")}`);
    }
    expect(mismatches).toEqual([]);
  });
});

describe("the document of an API on a path of the traffic listeners", () => {
  test("lists the same operations under that path, and is valid", async () => {
    const w = world("/__fulcrum/api");
    await w.balancer.ready();
    const r = await w.call("GET", "/v1/openapi.json");
    expect(r.status).toBe(200);
    const doc = (await r.json()) as Document;
    expect(Object.keys(doc.paths).every((p) => p.startsWith("/__fulcrum/api/v1/"))).toBe(true);
    expect(operationsOf(doc, "/__fulcrum/api").sort()).toEqual([...OPERATIONS].sort());
    expect((await new Validator().validate(doc)).valid).toBe(true);
  });
});
