import { proxyScenarios } from "./proxy.scenarios.ts";

proxyScenarios("bun");
