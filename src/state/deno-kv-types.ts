/** The slice of `Deno.Kv` the Deno KV store (deno-kv.ts) uses (the project typechecks with tsc, not deno). */
export type KvKey = readonly (string | number | bigint | boolean | Uint8Array)[];
export interface KvEntryMaybe<T> {
  readonly key: KvKey;
  readonly value: T | null;
  readonly versionstamp: string | null;
}
export interface KvAtomicOperation {
  check(...checks: { key: KvKey; versionstamp: string | null }[]): KvAtomicOperation;
  set(key: KvKey, value: unknown, options?: { expireIn?: number }): KvAtomicOperation;
  delete(key: KvKey): KvAtomicOperation;
  commit(): Promise<{ ok: boolean }>;
}
export interface Kv {
  get<T = unknown>(key: KvKey): Promise<KvEntryMaybe<T>>;
  getMany<T = unknown>(keys: readonly KvKey[]): Promise<KvEntryMaybe<T>[]>;
  set(key: KvKey, value: unknown): Promise<{ ok: boolean }>;
  delete(key: KvKey): Promise<void>;
  list<T = unknown>(selector: { prefix: KvKey }, options?: { reverse?: boolean; limit?: number }): AsyncIterable<KvEntryMaybe<T>>;
  atomic(): KvAtomicOperation;
  watch(keys: KvKey[]): ReadableStream<KvEntryMaybe<unknown>[]>;
  close(): void;
}
