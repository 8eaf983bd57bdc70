/**
 * Schema pieces shared by every part of the config (core, health, rules,
 * stickiness), so units and messages read the same everywhere.
 * Durations are seconds, as in ALB and nginx, or strings with a unit
 * (`"30s"`); sizes bytes, or strings with a unit (`"64KiB"`).
 */
import * as v from "valibot";

/**
 * `schema` with a description for operators: editors show it on hover, from the
 * JSON Schema generated from the config schema (src/config/json-schema.ts).
 * Parsing is unchanged (valibot skips metadata), and an optional field stays
 * optional with its default: describe the `v.optional(...)` itself.
 *
 * In a pipe the description goes right after its first schema: the generator
 * reads a pipe only up to its first transform (it converts the input type),
 * so one appended after `seconds()`'s or `originUrl`'s transform would be lost.
 */
export function described<const S extends v.GenericSchema>(
  schema: S,
  text: string,
): v.SchemaWithPipe<readonly [S, v.DescriptionAction<v.InferOutput<S>, string>]> {
  const note = v.description(text);
  const pipe = (schema as { readonly pipe?: readonly unknown[] }).pipe;
  const items = pipe ? [pipe[0], note, ...pipe.slice(1)] : [schema, note];
  return (v.pipe as (...items: unknown[]) => never)(...items);
}

/** A value as the user wrote it, for `got …` in messages. */
export const quote = (x: unknown): string => JSON.stringify(x) ?? String(x);

const DURATION = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/;
const PER_UNIT: Record<string, number> = { ms: 0.001, s: 1, m: 60, h: 3600 };

/** `"250ms"`, `"30s"`, `"5m"`, `"1h"` in seconds (nginx, HAProxy and Caddy take units); undefined when it is not one. */
export function durationSeconds(text: string): number | undefined {
  const m = DURATION.exec(text.trim());
  return m ? Number(m[1]) * PER_UNIT[m[2]!]! : undefined;
}

/** Seconds: a number, or a string with a unit. The message echoes what was written. */
export const seconds = (min: number, max: number) => {
  const expected = `expected seconds from ${min} to ${max}`;
  const form = (i: { input: unknown }) => `${expected}: a number, or a duration like "250ms", "30s", "5m", got ${quote(i.input)}`;
  return v.pipe(
    v.union([v.number(), v.pipe(v.string(), v.check((s) => durationSeconds(s) !== undefined, form))], form),
    v.transform((x) => (typeof x === "number" ? x : durationSeconds(x)!)),
    v.minValue(min, (i) => `${expected}, got ${quote(i.input)}`),
    v.maxValue(max, (i) => `${expected}, got ${quote(i.input)}`),
  );
};

const SIZE = /^(\d+(?:\.\d+)?)\s*(B|KB|KiB|MB|MiB|GB|GiB|k|m|g)$/;
const PER_SIZE: Record<string, number> = { B: 1, KB: 1e3, MB: 1e6, GB: 1e9, KiB: 1024, MiB: 1024 ** 2, GiB: 1024 ** 3, k: 1024, m: 1024 ** 2, g: 1024 ** 3 };

/** `"64KiB"`, `"1MB"`, nginx's `"64k"` in bytes; undefined when it is not one. */
export function sizeBytes(text: string): number | undefined {
  const m = SIZE.exec(text.trim());
  return m ? Math.round(Number(m[1]) * PER_SIZE[m[2]!]!) : undefined;
}

/** Bytes: an integer, or a string with a unit. */
export const bytes = (min: number, max: number) => {
  const expected = `expected a size from ${min} to ${max} bytes`;
  const form = (i: { input: unknown }) => `${expected}: a number, or a size like "64KiB", "1MiB", "64k", got ${quote(i.input)}`;
  return v.pipe(
    v.union([v.number(), v.pipe(v.string(), v.check((s) => sizeBytes(s) !== undefined, form))], form),
    v.transform((x) => (typeof x === "number" ? x : sizeBytes(x)!)),
    v.integer((i) => `${expected}, got ${quote(i.input)}`),
    v.minValue(min, (i) => `${expected}, got ${quote(i.input)}`),
    v.maxValue(max, (i) => `${expected}, got ${quote(i.input)}`),
  );
};

export const integer = (min: number, max: number, what = "an integer") => {
  const expected = (i: { input: unknown }) => `expected ${what} from ${min} to ${max}, got ${quote(i.input)}`;
  return v.pipe(
    v.number(expected),
    v.integer((i) => `expected a whole number (${what} from ${min} to ${max}), got ${quote(i.input)}`),
    v.minValue(min, expected),
    v.maxValue(max, expected),
  );
};

export const percent = v.pipe(
  v.number("expected a percentage from 0 to 100"),
  v.minValue(0, "expected a percentage from 0 to 100"),
  v.maxValue(100, "expected a percentage from 0 to 100"),
);

export const port = v.pipe(
  v.number(),
  v.integer("expected an integer port"),
  v.minValue(0, "expected a port from 0 to 65535"),
  v.maxValue(65535, "expected a port from 0 to 65535"),
);

/** Names an operator gives (target groups, targets, tokens): they appear in commands, paths and logs. */
export const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
