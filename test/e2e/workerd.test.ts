import { healthScenarios } from "./health.scenarios.ts";
import { strategyScenarios } from "./strategies.scenarios.ts";
import { proxyScenarios } from "./proxy.scenarios.ts";

proxyScenarios("workerd");
strategyScenarios("workerd");
healthScenarios("workerd");
