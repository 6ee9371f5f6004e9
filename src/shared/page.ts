/** A page of a list the API serves: which page, how big, sorted by what (src/http/pagination.ts builds it). */
export type { Page } from '../shapes/api'

export interface PageRequest<F extends string> {
  readonly page: number
  readonly pageSize: number
  readonly sort: { readonly field: F, readonly direction: 'asc' | 'desc' }
}
