/**
 * Label rendering for the Prometheus text format 0.0.4: label values escape
 * backslash, double quote and line feed (and nothing else), as the format
 * specifies. Rendered once per series, never per request.
 */
export function escapeLabelValue(value: string): string {
  return value.replace(/[\\"\n]/g, (ch) => (ch === "\\" ? "\\\\" : ch === '"' ? '\\"' : "\\n"));
}

/** `{a: "x", b: "y"}` → `a="x",b="y"` (names must already be valid label names). */
export function labelPairs(labels: Readonly<Record<string, string>>): string {
  return Object.entries(labels)
    .map(([k, v]) => `${k}="${escapeLabelValue(v)}"`)
    .join(",");
}
