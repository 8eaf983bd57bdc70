/**
 * `node:assert` for undici in the Deno bundle (src/cli/build.ts). undici calls
 * only `assert(condition)` and `assert(condition, message)`, as internal
 * invariants, several times per request (no `assert.equal` and the like).
 * Deno 2.9's `node:assert` (ext:deno_node/assert.ts) made those calls a
 * visible share of a proxied request's CPU, which this replacement removes
 * (profile and same-run A/B: BENCHMARKS.md, "Deno: the upstream client").
 * It keeps the contract undici relies on: a falsy condition throws an `AssertionError`
 * (`code: "ERR_ASSERTION"`, as Node's does). CommonJS, because undici
 * `require`s it and calls the export itself.
 */
"use strict";

module.exports = function assert(condition, message) {
  if (!condition) {
    if (message instanceof Error) throw message;
    throw Object.assign(new Error(typeof message === "string" ? message : "The expression evaluated to a falsy value"), {
      name: "AssertionError",
      code: "ERR_ASSERTION",
    });
  }
};
