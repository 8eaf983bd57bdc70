import { websocketScenarios } from "./websocket.scenarios.ts";
import { observabilityScenarios } from "./observability.scenarios.ts";
import { ruleScenarios } from "./rules.scenarios.ts";
import { healthScenarios } from "./health.scenarios.ts";
import { strategyScenarios } from "./strategies.scenarios.ts";
import { proxyScenarios } from "./proxy.scenarios.ts";

proxyScenarios("workerd");
strategyScenarios("workerd");
healthScenarios("workerd");
ruleScenarios("workerd");
observabilityScenarios("workerd");
websocketScenarios("workerd");
