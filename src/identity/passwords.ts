/**
 * Password hashing with scrypt (memory-hard), run on libuv's thread pool so the event loop stays
 * free. Stored as `scrypt$N$r$p$salt$hash` (base64url): each hash keeps its own parameters, so
 * they can be raised and older hashes still verify; `needsRehash` tells login to upgrade one.
 *
 * Parameters are OWASP's Password Storage Cheat Sheet minimum for scrypt: N=2^17, r=8, p=1
 * (128 MiB and about 0.4 s of one libuv thread per hash on the 2-core development machine). Logins
 * and registrations are rate-limited per address and per account, which bounds what that costs.
 */
import { randomBytes, scrypt, timingSafeEqual } from 'node:crypto'

export interface ScryptParams {
  readonly N: number
  readonly r: number
  readonly p: number
}

export const CURRENT_PARAMS: ScryptParams = Object.freeze({ N: 2 ** 17, r: 8, p: 1 })
const KEY_LENGTH = 32
/** Largest N a stored hash may name (a row edited to N=2^30 must not take the process's memory). */
const MAX_N = 2 ** 20

function derive (password: string, salt: Buffer, params: ScryptParams): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    // scrypt needs 128 × N × r bytes; room for that and a little more.
    const maxmem = 256 * params.N * params.r + 16 * 1024 * 1024
    scrypt(password.normalize('NFKC'), salt, KEY_LENGTH, { N: params.N, r: params.r, p: params.p, maxmem }, (err, key) => {
      if (err !== null) reject(err)
      else resolve(key)
    })
  })
}

export async function hashPassword (password: string, params: ScryptParams = CURRENT_PARAMS): Promise<string> {
  const salt = randomBytes(16)
  const key = await derive(password, salt, params)
  return `scrypt$${params.N}$${params.r}$${params.p}$${salt.toString('base64url')}$${key.toString('base64url')}`
}

interface Parsed { readonly params: ScryptParams, readonly salt: Buffer, readonly hash: Buffer }

function parse (stored: string): Parsed | undefined {
  const parts = stored.split('$')
  if (parts.length !== 6 || parts[0] !== 'scrypt') return undefined
  const [, n, r, p, salt, hash] = parts as [string, string, string, string, string, string]
  const params = { N: Number(n), r: Number(r), p: Number(p) }
  if (!Number.isInteger(params.N) || params.N < 2 || params.N > MAX_N || !Number.isInteger(params.r) || params.r < 1 || params.r > 32 || !Number.isInteger(params.p) || params.p < 1 || params.p > 16) return undefined
  return { params, salt: Buffer.from(salt, 'base64url'), hash: Buffer.from(hash, 'base64url') }
}

/** A hash of a password nobody has, checked when the account does not exist (same time taken). */
let decoy: Promise<string> | undefined

export async function verifyPassword (password: string, stored: string | null | undefined): Promise<boolean> {
  decoy ??= hashPassword(randomBytes(16).toString('hex'))
  const parsed = parse(stored ?? await decoy)
  if (parsed === undefined) return false
  const key = await derive(password, parsed.salt, parsed.params)
  return key.length === parsed.hash.length && timingSafeEqual(key, parsed.hash) && stored !== null && stored !== undefined
}

/** True when the stored hash was made with weaker parameters than today's (upgrade it at login). */
export function needsRehash (stored: string): boolean {
  const parsed = parse(stored)
  if (parsed === undefined) return false
  return parsed.params.N < CURRENT_PARAMS.N || parsed.params.r < CURRENT_PARAMS.r || parsed.params.p < CURRENT_PARAMS.p
}
