/** `npm run schema`: regenerate src/config/fulcrum.schema.json from the valibot schema. */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { configJsonSchema } from "../config/json-schema.ts";

const out = join(import.meta.dir, "..", "config", "fulcrum.schema.json");
writeFileSync(out, JSON.stringify(configJsonSchema(), null, 2) + "\n");
console.log(`wrote ${out}`);
