import { websocketScenarios } from "./websocket.scenarios.ts";
import { observabilityScenarios } from "./observability.scenarios.ts";
import { ruleScenarios } from "./rules.scenarios.ts";
import { healthScenarios } from "./health.scenarios.ts";
import { strategyScenarios } from "./strategies.scenarios.ts";
import { lifecycleScenarios } from "./lifecycle.scenarios.ts";
import { listenerScenarios } from "./listeners.scenarios.ts";
import { proxyScenarios } from "./proxy.scenarios.ts";

proxyScenarios("deno");
lifecycleScenarios("deno");
listenerScenarios("deno");
strategyScenarios("deno");
healthScenarios("deno");
ruleScenarios("deno");
observabilityScenarios("deno");
websocketScenarios("deno");
