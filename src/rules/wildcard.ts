/**
 * ALB-style wildcard patterns compiled once into plain string matchers:
 * `*` matches zero or more characters, `?` exactly one (one UTF-16 unit),
 * `\*`, `\?` and `\\` are literals (ALB's escape for query-string values;
 * accepted everywhere for consistency). No RegExp is built or run per request:
 * patterns without wildcards are one `===`, `prefix*` is one `startsWith`,
 * `*suffix` one `endsWith`, and everything else walks the literal pieces
 * between stars left to right (greedy leftmost placement is exact for globs
 * whose only variable-length token is `*`).
 */

export type StringMatcher = (s: string) => boolean;

/** A pattern split at its stars; each piece may still contain `?` (stored as `null` code units). */
interface Parsed {
  /** Literal pieces between `*`s; `?` positions are in `anyAt` for that piece. */
  pieces: string[];
  anyAt: (readonly number[])[];
  startsWithStar: boolean;
  endsWithStar: boolean;
  hasWildcard: boolean;
}

function parse(pattern: string): Parsed {
  const pieces: string[] = [];
  const anyAt: number[][] = [];
  let piece = "";
  let any: number[] = [];
  let hasWildcard = false;
  let startsWithStar = false;
  let endsWithStar = false;
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === "\\" && i + 1 < pattern.length && "*?\\".includes(pattern[i + 1]!)) {
      piece += pattern[++i];
      endsWithStar = false;
    } else if (c === "*") {
      hasWildcard = true;
      if (i === 0) startsWithStar = true;
      endsWithStar = true;
      pieces.push(piece);
      anyAt.push(any);
      piece = "";
      any = [];
    } else {
      if (c === "?") {
        hasWildcard = true;
        any.push(piece.length);
      }
      piece += c;
      endsWithStar = false;
    }
  }
  pieces.push(piece);
  anyAt.push(any);
  return { pieces, anyAt, startsWithStar, endsWithStar, hasWildcard };
}

/** The literal text a pattern starts with (before its first unescaped wildcard). */
export function literalPrefix(pattern: string): string {
  const p = parse(pattern);
  const first = p.pieces[0]!;
  const any = p.anyAt[0]!;
  return any.length ? first.slice(0, any[0]) : first;
}

/** The literal text a pattern ends with (after its last unescaped wildcard). */
export function literalSuffix(pattern: string): string {
  const p = parse(pattern);
  const last = p.pieces[p.pieces.length - 1]!;
  const any = p.anyAt[p.anyAt.length - 1]!;
  return any.length ? last.slice(any[any.length - 1]! + 1) : last;
}

export function hasWildcard(pattern: string): boolean {
  return parse(pattern).hasWildcard;
}

/** The pattern's text with escapes removed, for patterns without wildcards. */
export function unescapeLiteral(pattern: string): string {
  return parse(pattern).pieces.join("");
}

/** Does `piece` (with `?` at `any`) occur in `s` at `at`? */
function pieceAt(s: string, at: number, piece: string, any: readonly number[]): boolean {
  if (any.length === 0) return s.startsWith(piece, at);
  if (at + piece.length > s.length) return false;
  let k = 0;
  for (let j = 0; j < piece.length; j++) {
    if (k < any.length && any[k] === j) {
      k++;
      continue;
    }
    if (s.charCodeAt(at + j) !== piece.charCodeAt(j)) return false;
  }
  return true;
}

/** Leftmost position >= from where the piece occurs, or -1. */
function findPiece(s: string, from: number, piece: string, any: readonly number[]): number {
  if (any.length === 0) return s.indexOf(piece, from);
  for (let at = from; at + piece.length <= s.length; at++) if (pieceAt(s, at, piece, any)) return at;
  return -1;
}

/**
 * Compile a pattern. With `caseInsensitive`, the pattern is lower-cased here
 * and the caller must pass lower-cased input (done once per request field).
 */
export function compileWildcard(pattern: string, caseInsensitive = false): StringMatcher {
  const p = parse(caseInsensitive ? pattern.toLowerCase() : pattern);
  const { pieces, anyAt } = p;
  if (!p.hasWildcard) {
    const literal = pieces[0]!;
    return (s) => s === literal;
  }
  const n = pieces.length;
  const first = pieces[0]!;
  const last = pieces[n - 1]!;
  const noAny = anyAt.every((a) => a.length === 0);
  if (noAny && n === 2 && last === "") return (s) => s.startsWith(first);
  if (noAny && n === 2 && first === "") return (s) => s.endsWith(last);
  if (noAny && n === 2) {
    const min = first.length + last.length;
    return (s) => s.length >= min && s.startsWith(first) && s.endsWith(last);
  }
  if (n === 1) {
    // Only `?`s: fixed length.
    const any = anyAt[0]!;
    return (s) => s.length === first.length && pieceAt(s, 0, first, any);
  }
  let minLength = 0;
  for (const piece of pieces) minLength += piece.length;
  const firstAny = anyAt[0]!;
  const lastAny = anyAt[n - 1]!;
  return (s) => {
    if (s.length < minLength) return false;
    if (!pieceAt(s, 0, first, firstAny)) return false;
    const end = s.length - last.length;
    if (!pieceAt(s, end, last, lastAny)) return false;
    let at = first.length;
    for (let i = 1; i < n - 1; i++) {
      const piece = pieces[i]!;
      const found = findPiece(s, at, piece, anyAt[i]!);
      if (found < 0 || found + piece.length > end) return false;
      at = found + piece.length;
    }
    return true;
  };
}

/** OR over several patterns (values inside one ALB condition are OR-ed). */
export function compileWildcards(patterns: readonly string[], caseInsensitive = false): StringMatcher {
  const literals = new Set<string>();
  const matchers: StringMatcher[] = [];
  for (const pattern of patterns) {
    if (hasWildcard(pattern)) matchers.push(compileWildcard(pattern, caseInsensitive));
    else literals.add(caseInsensitive ? unescapeLiteral(pattern).toLowerCase() : unescapeLiteral(pattern));
  }
  if (matchers.length === 0) {
    if (literals.size === 1) {
      const only = [...literals][0]!;
      return (s) => s === only;
    }
    return (s) => literals.has(s);
  }
  return (s) => {
    if (literals.has(s)) return true;
    for (const m of matchers) if (m(s)) return true;
    return false;
  };
}
