/**
 * ALB's health-check matcher syntax for HTTP statuses: one code ("200"), a
 * comma list ("200,202"), ranges ("200-299") or a mix ("200-399,418").
 * Parsed once into a predicate so that a probe costs a few comparisons.
 */

export type StatusPredicate = (status: number) => boolean;

/** Ranges [lo, hi] inclusive, or undefined when the text is not valid syntax. */
export function parseStatusRanges(text: string): Array<[number, number]> | undefined {
  const ranges: Array<[number, number]> = [];
  for (const raw of text.split(",")) {
    const part = raw.trim();
    const m = /^(\d{3})(?:\s*-\s*(\d{3}))?$/.exec(part);
    if (!m) return undefined;
    const lo = Number(m[1]);
    const hi = m[2] === undefined ? lo : Number(m[2]);
    // RFC 9110 §15: status codes are three digits, 100-599 in practice.
    if (lo < 100 || hi > 599 || lo > hi) return undefined;
    ranges.push([lo, hi]);
  }
  return ranges.length > 0 ? ranges : undefined;
}

export function isStatusList(text: string): boolean {
  return parseStatusRanges(text) !== undefined;
}

/** Predicate for a matcher string; throws on invalid syntax (the schema has already rejected it). */
export function statusMatcher(text: string): StatusPredicate {
  const ranges = parseStatusRanges(text);
  if (!ranges) throw new Error(`expected HTTP statuses like "200" or "200-399,418", got ${JSON.stringify(text)}`);
  if (ranges.length === 1) {
    const [lo, hi] = ranges[0]!;
    return (s) => s >= lo && s <= hi;
  }
  return (s) => ranges.some(([lo, hi]) => s >= lo && s <= hi);
}
