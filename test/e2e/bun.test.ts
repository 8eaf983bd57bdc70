import { lifecycleScenarios } from "./lifecycle.scenarios.ts";
import { proxyScenarios } from "./proxy.scenarios.ts";

proxyScenarios("bun");
lifecycleScenarios("bun");
