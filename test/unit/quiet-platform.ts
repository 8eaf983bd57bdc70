/**
 * A platform for unit tests that build a whole balancer but send nothing
 * anywhere: every target answers "ok", every client is 127.0.0.1, nothing is
 * logged.
 */
import { commonPlatform, type Platform } from "../../src/platform.ts";

export const quietPlatform: Platform = {
  ...commonPlatform,
  runtime: "bun",
  upstream: async () => new Response("ok"),
  clientAddress: () => "127.0.0.1",
  env: {},
  log: () => {},
};
