/**
 * Whether an access token's session still stands (issue 30, items 2 and 3).
 *
 * Access tokens are JWTs verified without a lookup, so on their own a ban, a logout, a promotion
 * or a password change left them working for their whole lifetime. Each token now carries its
 * account's session generation (`sg`) and its refresh family (`fam`). A sign-out everywhere raises
 * `users.session_gen` in MySQL (the truth), in the transaction that makes the change, then in
 * Redis; a logout records the family in Redis. Every authenticated route but the crowd's (buy and
 * poll: a ban is enforced inside admission, and they keep their single round trip) asks Redis once
 * -- one HMGET of the account's hash, the generation and the family together -- so a voided token
 * stops at once, in every ingress. A miss (the hash expired, or Redis lost it) reads MySQL and
 * fills the cache; a stale fill never lowers a generation already there (lua/raiseSessionGen).
 *
 * Limits: a logout lives only in Redis (a Redis loss forgets it: those access tokens work again
 * until they expire, ACCESS_TOKEN_TTL_MS at most); sign-outs everywhere are in MySQL and survive.
 */
import type { KeySpace } from '../redis/keys'
import type { RedisClient } from '../redis/scripts'
import { markSignedOut, raiseSessionGen } from '../redis/commands'

export interface SessionCache {
  readonly redis: RedisClient
  readonly keys: KeySpace
  /** An access token's lifetime: the cache keeps a sign-out at least this long. */
  readonly ttlMs: number
}

export interface SessionDeps extends SessionCache {
  /** The account's generation in MySQL (0 for an account that does not exist). */
  readonly generationOf: (userId: string) => Promise<number>
}

/** What an access token says about its session. */
export interface SessionClaims {
  readonly userId: string
  /** Generation the token was issued under (0 when absent: tokens signed before generations). */
  readonly gen: number
  /** Refresh family the token belongs to (absent: a token signed outside a sign-in, e.g. a test's). */
  readonly family: string | undefined
}

/** True unless the account signed out everywhere since the token was issued, or its device signed out. */
export async function sessionStands (deps: SessionDeps, claims: SessionClaims): Promise<boolean> {
  const key = deps.keys.sessions(claims.userId)
  const [cached, out] = await deps.redis.hmget(key, 'gen', `out:${claims.family ?? ''}`)
  if (claims.family !== undefined && out !== null) return false
  const current = cached !== null ? Number(cached) : await raiseSessionGen(deps.redis, key, await deps.generationOf(claims.userId), deps.ttlMs)
  return claims.gen >= current
}

/** After a generation was raised in MySQL (committed): every ingress refuses older tokens from now on. */
export async function publishGeneration (cache: SessionCache, userId: string, gen: number): Promise<void> {
  await raiseSessionGen(cache.redis, cache.keys.sessions(userId), gen, cache.ttlMs)
}

/** After a logout: the family's access tokens stop working. */
export async function signOutFamily (cache: SessionCache, userId: string, family: string): Promise<void> {
  await markSignedOut(cache.redis, cache.keys.sessions(userId), family, Date.now(), cache.ttlMs)
}
