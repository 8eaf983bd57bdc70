/** The access log's config (`accessLog`), owned here and spread into the config schema. */
import * as v from "valibot";
import { described } from "../config/units.ts";

export const AccessLogSchema = v.strictObject({
  enabled: described(v.optional(v.boolean(), false), "Write an access log line per request. Default false."),
  format: described(
    v.optional(v.picklist(["json", "common"], (i) => `expected one of json, common, got ${JSON.stringify(i.input)}`), "json"),
    'Line format: "json" (one object per line) or "common" (NCSA common log format, as nginx and Apache). Default "json".',
  ),
  sampleRate: described(
    v.optional(v.pipe(v.number(), v.minValue(0, "expected a rate from 0 to 1"), v.maxValue(1, "expected a rate from 0 to 1")), 1),
    "Share of requests logged, 0 to 1 (1 = every request, 0.01 = one in a hundred). Default 1.",
  ),
});
export type AccessLogConfig = v.InferOutput<typeof AccessLogSchema>;
