/**
 * A short-lived cache of public catalog answers (product list and detail). Every write anywhere
 * clears it in every ingress (a message on the catalog channel), so an answer is never staler than
 * the write's own round trip, and at most `ttlMs` old otherwise.
 */
export class CatalogCache {
  private readonly entries = new Map<string, { value: unknown, expires: number }>()

  constructor (private readonly ttlMs: number, private readonly maxEntries = 5000) {}

  async get<T> (key: string, load: () => Promise<T>): Promise<T> {
    const hit = this.entries.get(key)
    if (hit !== undefined && hit.expires > Date.now()) return hit.value as T
    const value = await load()
    if (this.entries.size >= this.maxEntries) this.entries.clear()
    this.entries.set(key, { value, expires: Date.now() + this.ttlMs })
    return value
  }

  /** True when `key` has a fresh answer (a read of it costs no database query). */
  has (key: string): boolean {
    const hit = this.entries.get(key)
    return hit !== undefined && hit.expires > Date.now()
  }

  clear (): void {
    this.entries.clear()
  }
}
