/**
 * JSON Schema for editors, generated from the valibot schema so the two
 * cannot drift (a unit test compares it with the committed file). Custom
 * checks (prime table sizes, CIDR syntax, cross references) are enforced by
 * `fulcrum check` only; the JSON Schema carries their types and descriptions.
 */
import { toJsonSchema } from "@valibot/to-json-schema";
import { ConfigSchema } from "./schema.ts";

export function configJsonSchema(): object {
  const schema = toJsonSchema(ConfigSchema, { errorMode: "ignore", typeMode: "input" }) as Record<string, unknown>;
  return { ...schema, title: "Fulcrum configuration" };
}
