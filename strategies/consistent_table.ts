/**
 * What the `hash` strategy needs from a consistent-hashing table (ketama ring
 * or Maglev): the key's owner, and after it a deterministic sequence of
 * further candidates to try when the owner cannot take the request (down,
 * already tried, or full under bounded loads). Keys whose owner is eligible
 * never look past it, which is what keeps them in place when others fail.
 */
export interface ConsistentTable {
  /** Where key hash `h` lands (an opaque position). */
  start(h: number): number;
  /** Target index of the j-th candidate from position `s` (j = 0: the owner); -1 if the table is empty. */
  candidate(s: number, j: number): number;
  /** Candidates worth walking before the caller falls back to a linear scan. */
  readonly maxWalk: number;
}
