/** A target group's `mirror` block (proxy/mirror.ts): a copy of some of its requests to another group. */
import * as v from "valibot";
import { bytes, described, NAME, quote } from "../config/units.ts";

export const MirrorSchema = v.strictObject({
  group: described(
    v.pipe(v.string(), v.regex(NAME, (i) => `expected a target group's name, got ${quote(i.input)}`)),
    "The target group that gets the copies (a shadow of the service); its answers are thrown away.",
  ),
  percent: described(
    v.optional(
      v.pipe(
        v.number("expected a percentage"),
        v.minValue(0.001, (i) => `expected a percentage above 0 and up to 100, got ${quote(i.input)}`),
        v.maxValue(100, (i) => `expected a percentage above 0 and up to 100, got ${quote(i.input)}`),
      ),
      100,
    ),
    "Share of the group's requests copied, in % (Envoy runtime_fraction, nginx split_clients before mirror). Default 100.",
  ),
  maxBodyBytes: described(
    v.optional(bytes(0, 64 * 1024 * 1024), 64 * 1024),
    'Largest request body copied, in bytes or with a unit ("1MiB"); a request with a larger body, or one of unknown length, is not copied (counted as skipped). Default 64KiB.',
  ),
});

export type MirrorConfig = v.InferOutput<typeof MirrorSchema>;
