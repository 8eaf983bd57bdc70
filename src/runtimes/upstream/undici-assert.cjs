/**
 * `node:assert` for undici in the Deno bundle (src/cli/build.ts). undici calls
 * only `assert(condition)` and `assert(condition, message)`, as internal
 * invariants, several times per request (no `assert.equal` and the like).
 * Through Deno 2.9's `node:assert` (ext:deno_node/assert.ts) those calls took
 * 4 % of the CPU samples of a proxied request (BENCHMARKS.md, Deno profile),
 * and this replacement took ~7 % off Fulcrum's CPU per request on Deno
 * (realistic config, 12 interleaved runs: median 68.5 -> 64 µs). It keeps the
 * contract undici relies on: a falsy condition throws an `AssertionError`
 * (`code: "ERR_ASSERTION"`, as Node's does). CommonJS, because undici
 * `require`s it and calls the export itself.
 */
"use strict";

module.exports = function assert(condition, message) {
  if (!condition) {
    if (message instanceof Error) throw message;
    throw Object.assign(new Error(typeof message === "string" ? message : "The expression evaluated to a falsy value"), { name: "AssertionError", code: "ERR_ASSERTION" });
  }
};
