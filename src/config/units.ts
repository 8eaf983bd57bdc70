/**
 * Schema pieces shared by every part of the config (core, health, rules,
 * stickiness), so units and messages read the same everywhere.
 * Durations are seconds, as in ALB and nginx.
 */
import * as v from "valibot";

/** A value as the user wrote it, for `got …` in messages. */
export const quote = (x: unknown): string => JSON.stringify(x) ?? String(x);

export const seconds = (min: number, max: number) =>
  v.pipe(
    v.number(`expected seconds from ${min} to ${max}`),
    v.minValue(min, `expected seconds from ${min} to ${max}`),
    v.maxValue(max, `expected seconds from ${min} to ${max}`),
  );

export const integer = (min: number, max: number, what = "an integer") =>
  v.pipe(
    v.number(`expected ${what} from ${min} to ${max}`),
    v.integer(`expected ${what} from ${min} to ${max}`),
    v.minValue(min, `expected ${what} from ${min} to ${max}`),
    v.maxValue(max, `expected ${what} from ${min} to ${max}`),
  );

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
