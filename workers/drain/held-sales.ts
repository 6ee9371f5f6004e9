/**
 * Whether an operator holds a sale, for every drain of this worker process: one MySQL read of
 * every sale asked about, at most every LOOK_MS, shared by all the shards being drained.
 *
 * Each busy shard used to read its own sale's row every 100 ms: with 50 sales of 2 shards that
 * was up to 1,000 reads a second, each a knex query built and written on the dispatcher's thread
 * (bench/RESULTS.md, "Cost per buy, second round"). The row in MySQL stays the only truth: an
 * answer here is at most LOOK_MS old plus one read, as the per-shard answer was. A failed read
 * keeps the last answers (a MySQL outage neither lifts a hold nor makes one) and is tried again by
 * the next ask; so does a read that has not answered within READ_WAIT_MS, so one stuck connection
 * does not stop the drains of every sale in the process behind it.
 */
import type { Logger } from 'pino'

interface Known { readonly held: boolean, readonly readAt: number }

interface Pending { readonly ids: Set<number>, readonly done: Promise<void> }

/** Longest a read holds up the drains; past it they go on with the last answers. */
const READ_WAIT_MS = 2000
/** An answer nobody asked for this long is dropped (the sale is no longer drained here). */
const UNASKED_MS = 60_000

export class HeldSales {
  private readonly known = new Map<number, Known>()
  /** The next read, gathering the sales asked about until the read before it ends. */
  private pending: Pending | undefined
  private last: Promise<void> = Promise.resolve()

  constructor (
    private readonly read: (ids: readonly number[]) => Promise<Set<number>>,
    private readonly log: Logger,
    private readonly lookMs: number,
    private readonly readWaitMs = READ_WAIT_MS,
    private readonly unaskedMs = UNASKED_MS
  ) {}

  /** Answers kept now (tests). */
  get size (): number {
    return this.known.size
  }

  async isHeld (eventId: number): Promise<boolean> {
    const k = this.known.get(eventId)
    if (k !== undefined && Date.now() - k.readAt < this.lookMs) return k.held
    await this.join(eventId)
    return this.known.get(eventId)?.held ?? false
  }

  private async join (eventId: number): Promise<void> {
    if (this.pending === undefined) {
      const ids = new Set<number>()
      const done = this.last.then(async () => {
        // From here on, askers gather into the read after this one.
        this.pending = undefined
        await this.readNow(ids)
      })
      this.pending = { ids, done }
      this.last = done
    }
    this.pending.ids.add(eventId)
    await this.pending.done
  }

  private async readNow (ids: ReadonlySet<number>): Promise<void> {
    const readAt = Date.now()
    let timer: NodeJS.Timeout | undefined
    try {
      const held = await Promise.race([
        this.read([...ids]),
        new Promise<never>((_resolve, reject) => { timer = setTimeout(() => { reject(new Error(`no answer within ${this.readWaitMs} ms`)) }, this.readWaitMs) })
      ])
      for (const id of ids) {
        const was = this.known.get(id)?.held ?? false
        if (held.has(id) !== was) this.log.info({ eventId: id, held: held.has(id) }, held.has(id) ? 'sale held by an operator: nothing is decided' : 'sale resumed')
        this.known.set(id, { held: held.has(id), readAt })
      }
      // Answers nobody asked for in a while: their sales are no longer drained here. (Only after a
      // read that answered: while reads fail, a held sale's answer is kept however old.)
      for (const [id, k] of this.known) if (readAt - k.readAt > this.unaskedMs) this.known.delete(id)
    } catch (err) {
      this.log.warn({ err, sales: ids.size }, 'could not read whether sales are held; keeping the last answers')
    } finally {
      clearTimeout(timer)
    }
  }
}
