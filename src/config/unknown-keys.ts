/**
 * Every unknown key of a config, each with a "did you mean" (valibot's
 * strictObject stops at the first one per object). Walks the valibot schema
 * beside the input: a typo (`healtCheck`, `wieght`) gets the nearest key of
 * that object, and the words nginx and HAProxy users bring (`max_fails`,
 * `passes`, `uri`) get the key that does their job.
 */

/** A valibot schema as data: the fields this walk reads. */
interface Node {
  readonly type: string;
  readonly entries?: Record<string, Node>;
  readonly wrapped?: Node;
  readonly options?: readonly Node[];
  readonly item?: Node;
  readonly value?: Node;
  readonly getter?: (input: unknown) => Node;
}

/** Peers' words, by the object they would be written in: the key that does their job. */
const VOCABULARY: Readonly<Record<string, string>> = {
  max_fails: "passive.maxFails",
  maxfails: "passive.maxFails",
  fail_timeout: "passive.failTimeout",
  passes: "healthCheck.healthyThreshold",
  rise: "healthCheck.healthyThreshold",
  fails: "healthCheck.unhealthyThreshold",
  fall: "healthCheck.unhealthyThreshold",
  uri: "healthCheck.path",
  inter: "healthCheck.interval",
  servers: "targets",
  server: "targets",
  upstreams: "targetGroups",
  upstream: "targetGroups",
  backends: "targetGroups",
  backend: "targetGroups",
  balance: "strategy",
  lb_policy: "strategy",
  algorithm: "strategy",
  address: "url",
  slow_start: "slowStart",
  client_max_body_size: "maxRequestBodySize",
  proxy_read_timeout: "timeouts.read",
  proxy_connect_timeout: "timeouts.connect",
  proxy_timeout: "timeouts.response",
  keepalive_timeout: "timeouts.clientIdle",
  client_header_timeout: "timeouts.clientHeader",
  down: "drain",
  max_body_size: "maxRequestBodySize",
  worker_processes: "workers",
  nbthread: "workers",
  max_conns: "maxConnections",
  maxconn: "maxConnections",
  limit_req: "rateLimit",
  rate: "requests",
  limit: "requests",
  window: "per",
  period: "per",
  stepweights: "steps",
  stepweight: "steps",
  mirror_percentage: "percent",
};

/** Keys of one object written in another: where each belongs. */
const PLACES: Readonly<Record<string, string>> = {
  rateLimit: "on the config or on a rule, beside its action",
  canary: "inside a weighted forward: action.forward.canary",
  transform: "on a rule, beside its action, or on a target group",
  mirror: "on a target group",
  maxConnections: "on a target group or one of its targets",
  queue: "on a target group",
  fallbackGroup: "on a target group",
  stickiness: "on a target group, or inside a weighted forward for group stickiness",
  healthCheck: "on a target group",
};

export function unknownKeys(schema: unknown, input: unknown, path = ""): string[] {
  const node = unwrap(schema as Node, input);
  if (!node) return [];
  if (Array.isArray(input)) return node.item ? input.flatMap((x, i) => unknownKeys(node.item, x, `${path}[${i}]`)) : [];
  if (input === null || typeof input !== "object") return [];
  const record = input as Record<string, unknown>;
  if (node.type === "record" && node.value) {
    return Object.entries(record).flatMap(([k, x]) => unknownKeys(node.value, x, join(path, k)));
  }
  if (!node.entries) return [];
  const known = Object.keys(node.entries);
  const out: string[] = [];
  for (const [k, x] of Object.entries(record)) {
    if (Object.hasOwn(node.entries, k)) out.push(...unknownKeys(node.entries[k], x, join(path, k)));
    else if (node.type === "strict_object") out.push(`${join(path, k)}: unknown key${suggestion(k, known, path)}`);
  }
  return out;
}

/** The object schema an input is checked against: wrappers and pipes removed, the union branch with most of its keys. */
function unwrap(node: Node | undefined, input: unknown): Node | undefined {
  let n = node;
  for (let depth = 0; n && depth < 20; depth++) {
    if (n.wrapped) n = n.wrapped;
    else if (n.getter) n = n.getter(input);
    else if (n.options) {
      const objects = n.options.map((o) => unwrap(o, input)).filter((o): o is Node => o !== undefined);
      n = pick(objects, input);
    } else return n;
  }
  return n;
}

function pick(options: readonly Node[], input: unknown): Node | undefined {
  if (Array.isArray(input)) return options.find((o) => o.type === "array");
  if (input === null || typeof input !== "object") return undefined;
  const keys = Object.keys(input);
  let best: Node | undefined;
  let score = -1;
  for (const o of options) {
    if (o.type === "record") return o;
    if (!o.entries) continue;
    const s = keys.filter((k) => Object.hasOwn(o.entries!, k)).length;
    if (s > score) [best, score] = [o, s];
  }
  return best;
}

const join = (path: string, key: string) => (path ? `${path}.${key}` : key);

function suggestion(key: string, known: readonly string[], path: string): string {
  const peer = VOCABULARY[key.toLowerCase()];
  if (peer) {
    // Written inside the object the key belongs to (healthCheck.uri): the key alone.
    const here = path.slice(path.lastIndexOf(".") + 1);
    return `; did you mean ${peer.startsWith(`${here}.`) ? peer.slice(here.length + 1) : peer}?`;
  }
  // A key of another object (rateLimit inside action): where it goes.
  if (Object.hasOwn(PLACES, key)) return `; ${key} goes ${PLACES[key]}`;
  const lower = key.toLowerCase();
  // A shortened key (user for username).
  const longer = key.length >= 3 ? known.find((k) => k.toLowerCase().startsWith(lower)) : undefined;
  if (longer) return `; did you mean ${longer}?`;
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const k of known) {
    const d = distance(lower, k.toLowerCase());
    if (d < bestDistance) [best, bestDistance] = [k, d];
  }
  // Close enough to be a typo: a third of the word, at least one edit.
  return best !== undefined && bestDistance <= Math.max(1, Math.floor(key.length / 3)) ? `; did you mean ${best}?` : "";
}

/** Damerau-Levenshtein (optimal string alignment): a swapped pair is one edit, as typos are. */
function distance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i]![j] = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i]![j] = Math.min(d[i]![j]!, d[i - 2]![j - 2]! + 1);
    }
  }
  return d[a.length]![b.length]!;
}
