/**
 * A short-lived cache of public catalog answers (product list and detail). Every write anywhere
 * clears it in every ingress (a message on the catalog channel), so an answer is never staler than
 * the write's own round trip, and at most `ttlMs` old otherwise. Bounded: past `maxEntries` the
 * least recently used answer goes.
 */
import { LRUCache } from 'lru-cache'

export class CatalogCache {
  /** Boxed: an answer may itself be undefined, which lru-cache does not store. Undefined when
   *  `ttlMs` is 0 (nothing is cached). */
  private readonly entries: LRUCache<string, { readonly value: unknown }> | undefined

  constructor (ttlMs: number, maxEntries = 5000) {
    this.entries = ttlMs > 0 ? new LRUCache({ max: maxEntries, ttl: ttlMs }) : undefined
  }

  async get<T> (key: string, load: () => Promise<T>): Promise<T> {
    const hit = this.entries?.get(key)
    if (hit !== undefined) return hit.value as T
    const value = await load()
    this.entries?.set(key, { value })
    return value
  }

  /** True when `key` has a fresh answer (a read of it costs no database query). */
  has (key: string): boolean {
    return this.entries?.has(key) ?? false
  }

  clear (): void {
    this.entries?.clear()
  }
}
