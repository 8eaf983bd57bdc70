import { controlScenarios } from "./control.scenarios.ts";
import { websocketScenarios } from "./websocket.scenarios.ts";
import { observabilityScenarios } from "./observability.scenarios.ts";
import { ruleScenarios } from "./rules.scenarios.ts";
import { healthScenarios } from "./health.scenarios.ts";
import { strategyScenarios } from "./strategies.scenarios.ts";
import { proxyScenarios } from "./proxy.scenarios.ts";
import { hostileScenarios } from "./hostile.scenarios.ts";
import { brokenTargetScenarios } from "./broken-targets.scenarios.ts";

proxyScenarios("workerd");
strategyScenarios("workerd");
healthScenarios("workerd");
ruleScenarios("workerd");
observabilityScenarios("workerd");
websocketScenarios("workerd");
hostileScenarios("workerd");
brokenTargetScenarios("workerd");
controlScenarios("workerd");
