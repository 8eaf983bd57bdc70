/**
 * The values the Deno KV store (deno-kv.ts) keeps at its keys, and reading
 * them back.
 *
 * - The snapshot: `{ version, updatedAt, data }` where `data` is the
 *   snapshot's JSON text. Text rather than a structured value so that the size
 *   Deno KV checks (its V8 serialisation, max 65 536 bytes) is known before the
 *   write, and the stored value is exactly the JSON the contract promises.
 * - A lease: `{ holder, expiresAt }`.
 * - A report: `{ expiresAt, text }`, its JSON text; one over a value's limit
 *   keeps its first piece in `text` and the rest in `parts` more values, at
 *   keys named by its `id` (see deno-kv.ts).
 *
 * Snapshots are not split across keys when they outgrow one value: a write
 * over the limit fails with `StateSnapshotTooLargeError`. Splitting would need
 * a multi-key consistent read on every poll (getMany takes at most 10 keys)
 * while the whole snapshot is still rewritten on every probe round; a
 * balancer that large (~400 targets with probe details) wants per-group keys,
 * which is a change to the StateStore contract, not to this store.
 */
import { dataOf, emptySnapshot, emptySnapshotData, frozenSnapshot, type JsonValue, MAX_REPORT_BYTES, type Snapshot, type SnapshotData } from "./store.ts";
import type { KvKey } from "./deno-kv-types.ts";

/** Deno KV's limit on one value (its V8 serialisation), in bytes. */
export const DENO_KV_MAX_VALUE_BYTES = 65_536;
/** Room left for the `{ version, updatedAt, data }` wrapper around the JSON (measured: under 50 bytes). */
const WRAPPER_BYTES = 256;
/** The largest snapshot JSON this store writes, in bytes as Deno KV counts them. */
export const MAX_SNAPSHOT_BYTES = DENO_KV_MAX_VALUE_BYTES - WRAPPER_BYTES;

export class StateSnapshotTooLargeError extends Error {
  constructor(bytes: number) {
    super(
      `deno-kv store: the state snapshot is ${bytes} bytes, over the ${MAX_SNAPSHOT_BYTES} bytes that fit in one Deno KV value ` +
        `(limit ${DENO_KV_MAX_VALUE_BYTES}); use the redis or cloudflare store for this many targets`,
    );
    this.name = "StateSnapshotTooLargeError";
  }
}

export interface StoredSnapshot {
  version: number;
  updatedAt: number;
  /** The snapshot data as JSON text. */
  data: string;
}

export interface StoredLease {
  holder: string;
  expiresAt: number;
}

/**
 * Bytes of a string in V8's serialisation: one per character when every
 * character is Latin-1, else two (UTF-16).
 */
export function serializedStringBytes(text: string): number {
  // deno-lint-ignore no-control-regex -- Latin-1 is what fits one byte per character
  return /[^\u0000-\u00ff]/.test(text) ? text.length * 2 : text.length;
}

/** The JSON text stored for `next`; throws StateSnapshotTooLargeError when it does not fit in one value. */
export function snapshotJson(next: SnapshotData): string {
  // Serialising copies too: a caller still holding `next` cannot change what was written.
  const json = JSON.stringify(dataOf(next));
  const bytes = serializedStringBytes(json);
  if (bytes > MAX_SNAPSHOT_BYTES) throw new StateSnapshotTooLargeError(bytes);
  return json;
}

/** The snapshot stored at `key` (null: nothing written yet); throws when the value is not one. */
export function decodeSnapshot(stored: StoredSnapshot | null, key: KvKey): Snapshot {
  if (stored === null) return emptySnapshot();
  if (typeof stored !== "object" || typeof stored.version !== "number" || typeof stored.updatedAt !== "number" || typeof stored.data !== "string") {
    throw new Error(`the value at ${JSON.stringify(key)} is not a Fulcrum snapshot (another program uses this prefix?)`);
  }
  const data = JSON.parse(stored.data) as Partial<Record<keyof SnapshotData, JsonValue>>;
  const empty = emptySnapshotData();
  // frozenSnapshot keeps the fields dataOf lists (reloads and canaries too), whatever else an older version wrote.
  const known = {
    ...data,
    groups: (data.groups ?? empty.groups) as SnapshotData["groups"],
    actions: (data.actions ?? empty.actions) as SnapshotData["actions"],
  } as SnapshotData;
  return frozenSnapshot(known, stored.version, stored.updatedAt);
}

/**
 * A report's head. `expiresAt` decides (Deno KV's expireIn only lets it
 * collect the key some time later); `parts` and `id` only when its JSON did
 * not fit in one value.
 */
export interface StoredReport {
  expiresAt: number;
  /** The report's JSON text, or its first piece. */
  text: string;
  /** How many more pieces follow, at [prefix, "report-parts", topic, instance, id, 1..parts]. */
  parts?: number;
  /** Names this report's pieces: a replaced report's pieces are never confused with the new one's. */
  id?: string;
}

/**
 * UTF-16 units per piece of a report: 2 bytes each at most in V8's
 * serialisation, so a piece and its wrapper fit in one value.
 */
export const REPORT_PIECE_UNITS = 30_000;
/** Pieces after the first of the largest report (its JSON has at most MAX_REPORT_BYTES UTF-16 units): one getMany (10 keys) reads them. */
const MAX_REPORT_PARTS = Math.ceil(MAX_REPORT_BYTES / REPORT_PIECE_UNITS) - 1;

/** A report's JSON text cut into pieces that each fit in one value (one piece for most). */
export function reportPieces(json: string): string[] {
  const pieces: string[] = [];
  for (let at = 0; at < json.length || pieces.length === 0; at += REPORT_PIECE_UNITS) pieces.push(json.slice(at, at + REPORT_PIECE_UNITS));
  return pieces;
}

/** The report head at a report key; undefined for anything else (a foreign or corrupt value counts as no report). */
export function reportOf(value: unknown): StoredReport | undefined {
  if (typeof value !== "object" || value === null) return undefined;
  const { expiresAt, text, parts, id } = value as Partial<StoredReport>;
  if (typeof expiresAt !== "number" || typeof text !== "string") return undefined;
  if (parts === undefined && id === undefined) return { expiresAt, text };
  if (!Number.isInteger(parts) || parts! < 1 || parts! > MAX_REPORT_PARTS || typeof id !== "string") return undefined;
  return { expiresAt, text, parts, id };
}

export function leaseOf(value: unknown): StoredLease | undefined {
  if (typeof value !== "object" || value === null) return undefined;
  const { holder, expiresAt } = value as Partial<StoredLease>;
  // Anything else at a lease key (a foreign or corrupt value) counts as free.
  return typeof holder === "string" && typeof expiresAt === "number" ? { holder, expiresAt } : undefined;
}
