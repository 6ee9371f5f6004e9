import type { Knex } from 'knex'
import type { Db } from '../db/knex'

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

export function productsRepository (db: Db) {
  return {
    async insert (p: NewProduct, trx?: Knex.Transaction): Promise<number> {
      const [id] = await (trx ?? db)('products').insert({
        title: p.title,
        description: p.description,
        price_cents: p.priceCents
      })
      return Number(id)
    },

    async findById (id: number, trx?: Knex.Transaction): Promise<Product | undefined> {
      const row = await (trx ?? db)<ProductRow>('products').select('id', 'title', 'description', 'price_cents').where({ id }).first()
      if (row === undefined) return undefined
      return { id: Number(row.id), title: row.title, description: row.description, priceCents: row.price_cents }
    }
  }
}
export type ProductsRepository = ReturnType<typeof productsRepository>
