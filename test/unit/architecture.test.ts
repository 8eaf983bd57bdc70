/**
 * The shape of the code, kept by a test: reads every import of src/, routes/
 * and strategies/ and fails on a cycle between files or on an import that
 * goes up the layers below. A request then goes down through the layers and
 * never climbs back (src/README.md draws them).
 */
import { describe, expect, test } from "bun:test";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, normalize, relative } from "node:path";

const ROOT = join(import.meta.dir, "..", "..");

/**
 * Top to bottom. A file may import files of lower layers, and of its own
 * layer only within its own folder. Each entry: a name and whether a path
 * (relative to the root) belongs to it; the first that matches wins.
 */
const LAYERS: readonly [string, (f: string) => boolean][] = [
  ["cli", (f) => f.startsWith("src/cli/") || f === "src/demo.ts"],
  ["runtimes", (f) => f.startsWith("src/runtimes/")],
  ["app", (f) => f.startsWith("src/app/")],
  ["canary", (f) => f.startsWith("src/canary/") && !isSchema(f)],
  ["discovery", (f) => f.startsWith("src/discovery/") && !isSchema(f)],
  ["routes", (f) => f.startsWith("routes/")],
  ["admin", (f) => f.startsWith("src/admin/") && !isSchema(f)],
  ["edge", (f) => f.startsWith("src/edge/")],
  ["ratelimit", (f) => f.startsWith("src/ratelimit/") && !isSchema(f)],
  ["proxy", (f) => f.startsWith("src/proxy/") && !isSchema(f)],
  ["pool", (f) => f.startsWith("src/pool/") && !isSchema(f)],
  ["transform", (f) => f.startsWith("src/transform/") && !isSchema(f)],
  ["stats", (f) => f.startsWith("src/stats/") && !isSchema(f)],
  ["rules", (f) => f.startsWith("src/rules/") && !isSchema(f)],
  ["sticky", (f) => f.startsWith("src/sticky/") && !isSchema(f)],
  ["metrics", (f) => f.startsWith("src/metrics/") && !isSchema(f)],
  ["health", (f) => f.startsWith("src/health/") && !isSchema(f) && !isLeaf(f)],
  ["platform", (f) => f === "src/platform.ts" || f === "src/cancellation.ts"],
  ["state", (f) => f.startsWith("src/state/") && !isSchema(f) && !isLeaf(f)],
  ["config", (f) => f.startsWith("src/config/") && !isLeaf(f)],
  ["schemas", isSchema],
  ["leaves", isLeaf],
];

/** The valibot fragments each module owns, which the config schema gathers (and the rules' cross-field checks). */
function isSchema(f: string): boolean {
  return /\/schema\.ts$/.test(f) || f === "src/proxy/websocket-schema.ts" || f === "src/rules/problems.ts";
}

/** Pure pieces with no imports of the project: the strategies, IP parsing, units, the store contract, small utilities. */
function isLeaf(f: string): boolean {
  return (
    f.startsWith("strategies/") ||
    f.startsWith("src/net/") ||
    ["src/config/units.ts", "src/health/status-matcher.ts", "src/state/store.ts"].includes(f)
  );
}

function layerOf(f: string): number {
  const i = LAYERS.findIndex(([, belongs]) => belongs(f));
  if (i < 0) throw new Error(`${f} is in no layer: add it to LAYERS`);
  return LAYERS.length - i;
}

function sources(dir: string): string[] {
  return readdirSync(join(ROOT, dir)).flatMap((name) => {
    const path = `${dir}/${name}`;
    if (statSync(join(ROOT, path)).isDirectory()) return sources(path);
    return /\.(ts|mts|mjs|cjs)$/.test(name) && !name.endsWith(".d.ts") ? [path] : [];
  });
}

/** Relative imports, static and dynamic, type-only ones included (a type is a dependency too). */
function importsOf(file: string): string[] {
  const text = readFileSync(join(ROOT, file), "utf8");
  const specs = [...text.matchAll(/(?:\bfrom\s*|\bimport\s*\(\s*|\brequire\s*\(\s*|^import\s+)["'](\.{1,2}\/[^"']+)["']/gm)].map((m) => m[1]!);
  return specs.map((s) => relative(ROOT, normalize(join(ROOT, dirname(file), s))));
}

const files = [...sources("src"), ...sources("routes"), ...sources("strategies")];
const graph = new Map(files.map((f) => [f, importsOf(f).filter((t) => files.includes(t))]));

describe("architecture", () => {
  test("every file is in a layer", () => {
    for (const f of files) expect(() => layerOf(f)).not.toThrow();
  });

  test("no import goes up a layer, or sideways into another folder of the same layer", () => {
    const wrong: string[] = [];
    for (const [from, targets] of graph) {
      for (const to of targets) {
        const [a, b] = [layerOf(from), layerOf(to)];
        if (
          b > a ||
          (b === a && dirname(from).split("/").slice(0, 2).join("/") !== dirname(to).split("/").slice(0, 2).join("/") &&
            LAYERS[LAYERS.length - a]![0] !== "leaves" && LAYERS[LAYERS.length - a]![0] !== "schemas")
        ) {
          wrong.push(`${from} (${LAYERS[LAYERS.length - a]![0]}) -> ${to} (${LAYERS[LAYERS.length - b]![0]})`);
        }
      }
    }
    expect(wrong).toEqual([]);
  });

  test("no cycle between files", () => {
    // Tarjan's strongly connected components; any component of more than one file is a cycle.
    let index = 0;
    const indices = new Map<string, number>();
    const low = new Map<string, number>();
    const stack: string[] = [];
    const onStack = new Set<string>();
    const cycles: string[][] = [];
    const visit = (v: string) => {
      indices.set(v, index);
      low.set(v, index++);
      stack.push(v);
      onStack.add(v);
      for (const w of graph.get(v) ?? []) {
        if (!indices.has(w)) {
          visit(w);
          low.set(v, Math.min(low.get(v)!, low.get(w)!));
        } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, indices.get(w)!));
      }
      if (low.get(v) === indices.get(v)) {
        const component: string[] = [];
        let w: string;
        do {
          w = stack.pop()!;
          onStack.delete(w);
          component.push(w);
        } while (w !== v);
        if (component.length > 1) cycles.push(component.sort());
      }
    };
    for (const f of files) if (!indices.has(f)) visit(f);
    expect(cycles).toEqual([]);
  });
});
