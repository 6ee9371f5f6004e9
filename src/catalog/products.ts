import type { Knex } from 'knex'
import type { Db } from '../db/knex'
import type { PageRequest } from '../shared/page'
import { withAudit } from '../shared/admin-trail'
import type { AuditInTransaction } from '../shared/admin-trail'

export interface Product {
  readonly id: number
  readonly title: string
  readonly description: string | null
  readonly priceCents: number
}

export interface NewProduct {
  readonly title: string
  readonly description: string | null
  readonly priceCents: number
}

interface ProductRow {
  id: number | string
  title: string
  description: string | null
  price_cents: number
}

export type ProductSortField = 'id' | 'title' | 'price_cents' | 'created_at'

export interface ProductFilter {
  /** Words the title contains. */
  readonly q?: string
  readonly minPrice?: number
  readonly maxPrice?: number
}

const toProduct = (row: ProductRow): Product => ({ id: Number(row.id), title: row.title, description: row.description, priceCents: row.price_cents })

export function productsRepository (db: Db) {
  const filtered = (f: ProductFilter, q: Knex.QueryBuilder): Knex.QueryBuilder => {
    if (f.q !== undefined && f.q !== '') q.where('title', 'like', `%${f.q.replace(/[\\%_]/g, (c) => `\\${c}`)}%`)
    if (f.minPrice !== undefined) q.where('price_cents', '>=', f.minPrice)
    if (f.maxPrice !== undefined) q.where('price_cents', '<=', f.maxPrice)
    return q
  }
  return {
    async list (f: ProductFilter, p: PageRequest<ProductSortField>): Promise<{ items: Product[], total: number }> {
      const [rows, count] = await Promise.all([
        filtered(f, db('products').select('id', 'title', 'description', 'price_cents')).orderBy(p.sort.field, p.sort.direction).orderBy('id', p.sort.direction)
          .limit(p.pageSize).offset((p.page - 1) * p.pageSize) as Promise<ProductRow[]>,
        filtered(f, db('products').count({ n: '*' })).first() as Promise<{ n: number | string } | undefined>
      ])
      return { items: rows.map(toProduct), total: Number(count?.n ?? 0) }
    },

    /** Applies the given changes (audited with them); false when there is no such product. */
    async update (id: number, changes: Partial<NewProduct>, audit?: AuditInTransaction): Promise<boolean> {
      const row: Record<string, unknown> = { updated_at: db.raw('CURRENT_TIMESTAMP(3)') }
      if (changes.title !== undefined) row.title = changes.title
      if (changes.description !== undefined) row.description = changes.description
      if (changes.priceCents !== undefined) row.price_cents = changes.priceCents
      return await withAudit(db, undefined, audit, async (q) => (await q('products').where({ id }).update(row)) === 1, (done) => done && String(id))
    },

    /** Deletes a product no event refers to (audited with it): 'deleted', 'missing' or 'in_use'. */
    async remove (id: number, audit?: AuditInTransaction): Promise<'deleted' | 'missing' | 'in_use'> {
      return await db.transaction(async (trx) => {
        const product = await trx('products').forUpdate().first('id').where({ id })
        if (product === undefined) return 'missing'
        const used = await trx('seckill_events').first('id').where({ product_id: id })
        if (used !== undefined) return 'in_use'
        await trx('products').where({ id }).delete()
        await audit?.(trx, String(id))
        return 'deleted'
      })
    },

    async insert (p: NewProduct, trx?: Knex.Transaction, audit?: AuditInTransaction): Promise<number> {
      return await withAudit(db, trx, audit, async (q) => {
        const [id] = await q('products').insert({
          title: p.title,
          description: p.description,
          price_cents: p.priceCents
        })
        return Number(id)
      }, (id) => String(id))
    },

    async findById (id: number, trx?: Knex.Transaction): Promise<Product | undefined> {
      const row = await (trx ?? db)<ProductRow>('products').select('id', 'title', 'description', 'price_cents').where({ id }).first()
      return row === undefined ? undefined : toProduct(row)
    }
  }
}
export type ProductsRepository = ReturnType<typeof productsRepository>
