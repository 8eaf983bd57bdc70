/** Failover's hysteresis: down at once below minHealthy, back only after failbackDelay with enough targets, each change said once. */
import { describe, expect, test } from "bun:test";
import { FailoverState } from "../../../src/pool/failover.ts";

describe("failover state", () => {
  test("down below minHealthy at once; back after failbackDelay without a break; each change said once", () => {
    const f = new FailoverState();
    const said: boolean[] = [];
    const at = (available: number, now: number) => f.failedOver(available, 2, 1000, now, (down) => said.push(down));
    expect(at(2, 0)).toBe(false);
    expect(at(1, 10)).toBe(true);
    expect(at(1, 20)).toBe(true);
    // Enough again, but not for a second yet; a dip restarts the wait.
    expect(at(2, 100)).toBe(true);
    expect(at(1, 900)).toBe(true);
    expect(at(2, 1000)).toBe(true);
    expect(at(2, 1999)).toBe(true);
    expect(at(2, 2000)).toBe(false);
    expect(at(2, 3000)).toBe(false);
    expect(said).toEqual([true, false]);
  });

  test("failbackDelay 0: back as soon as there are enough", () => {
    const f = new FailoverState();
    expect(f.failedOver(0, 1, 0, 0, () => {})).toBe(true);
    expect(f.failedOver(1, 1, 0, 5, () => {})).toBe(false);
  });
});
