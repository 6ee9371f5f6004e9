/** Who is asking to read or change a buyer's ticket or order: the buyer, or an admin. */
export interface Reader {
  readonly userId: string
  readonly isAdmin: boolean
}
