/** The access log's config (`accessLog`), owned here and spread into the config schema. */
import * as v from "valibot";

export const AccessLogSchema = v.strictObject({
  enabled: v.optional(v.boolean(), false),
  format: v.optional(v.picklist(["json", "common"], (i) => `expected one of json, common, got ${JSON.stringify(i.input)}`), "json"),
  /** Share of requests logged, 0–1 (1 = every request). */
  sampleRate: v.optional(v.pipe(v.number(), v.minValue(0, "expected a rate from 0 to 1"), v.maxValue(1, "expected a rate from 0 to 1")), 1),
});
export type AccessLogConfig = v.InferOutput<typeof AccessLogSchema>;
