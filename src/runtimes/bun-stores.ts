/** The shared-state stores this runtime can open (`state.store`); memory is always available. */
import type { StateOpeners } from "../state/open.ts";

export const stateOpeners: StateOpeners = {};
