/**
 * Accounts: registration, login, token rotation, logout, and the first admin.
 *
 * Access tokens are short-lived JWTs (the ingress verifies them without a lookup). Refresh tokens
 * are `<family>.<secret>`; Redis keeps, per family, the user and a hash of the current secret.
 * Using a refresh token rotates it; presenting an already-used one revokes the family (a stolen
 * token replayed after its owner refreshed). The next secret is an HMAC of the presented one, so
 * two tabs refreshing with the same token at once both get the same new token (within
 * `refreshGraceMs`) instead of signing the buyer out. Logout revokes the family, and only for the
 * whole token: a family id alone signs nobody out.
 *
 * Sessions end (src/identity/sessions.ts): a ban, a promotion from the environment, `create-admin`,
 * a password change and "sign out everywhere" raise the account's session generation, which voids
 * every earlier access and refresh token; a logout voids its family's access tokens too. A
 * refresh family also has an absolute lifetime (REFRESH_ABSOLUTE_TTL_MS): rotation renews the idle
 * lifetime, never past that.
 */
import { createHash, createHmac, randomBytes } from 'node:crypto'
import type { Knex } from 'knex'
import type { Db } from '../db/knex'
import type { KeySpace } from '../redis/keys'
import type { RedisClient } from '../redis/scripts'
import { Revoke, Rotate, revokeRefresh, rotateRefresh } from '../redis/commands'
import { DomainError } from '../shared/errors'
import { hashPassword, needsRehash, verifyPassword } from './passwords'
import { assertStrongPassword } from './password-policy'
import { recordAudit } from '../shared/admin-trail'
import type { AuditRecord } from '../shared/admin-trail'
import { publishGeneration, signOutFamily } from './sessions'
import type { SessionCache } from './sessions'

export type Role = 'user' | 'admin'

export interface User {
  readonly id: string
  readonly email: string
  readonly role: Role
  readonly passwordHash: string | null
  /** Sign-ins issued before this are void (null: all valid). */
  readonly sessionsSince: Date | null
  /** Set when an admin banned the account: no buys, no sign-ins, no refreshes. */
  readonly bannedAt: Date | null
  /** Tokens issued under an older generation are void (src/identity/sessions.ts). */
  readonly sessionGen: number
  /** The owner typed the code mailed to the address (src/identity/email-verification.ts). */
  readonly emailVerified: boolean
}

export interface UserView {
  readonly id: string
  readonly email: string
  readonly role: Role
  readonly email_verified: boolean
}

export interface Tokens {
  readonly access_token: string
  readonly refresh_token: string
  /** Seconds the access token is valid for. */
  readonly expires_in: number
}

interface UserRow { id: number | string, email: string, role: Role, password_hash: string | null, sessions_since: Date | null, banned_at: Date | null, session_gen: number | string, email_verified_at: Date | null }

const USER_COLUMNS = ['id', 'email', 'role', 'password_hash', 'sessions_since', 'banned_at', 'session_gen', 'email_verified_at'] as const
const toUser = (r: UserRow): User => ({ id: String(r.id), email: r.email, role: r.role, passwordHash: r.password_hash, sessionsSince: r.sessions_since, bannedAt: r.banned_at, sessionGen: Number(r.session_gen), emailVerified: r.email_verified_at !== null })

/** Voids every sign-in of the account so far, inside the caller's transaction; returns the new generation. */
async function raiseGeneration (trx: Knex.Transaction, id: string, changes: Record<string, unknown> = {}): Promise<number> {
  await trx('users').where({ id }).update({ ...changes, session_gen: trx.raw('session_gen + 1'), sessions_since: new Date() })
  const row = await trx('users').first('session_gen').where({ id }) as { session_gen: number | string } | undefined
  return Number(row?.session_gen ?? 0)
}

/** Who made an account admin outside the API (recorded in the audit trail). */
export type AdminSource = 'environment' | 'create-admin'
export const userView = (u: User): UserView => ({ id: u.id, email: u.email, role: u.role, email_verified: u.emailVerified })

export function usersRepository (db: Db) {
  return {
    async findByEmail (email: string, trx?: Knex.Transaction): Promise<User | undefined> {
      const row = await (trx ?? db)('users').first(...USER_COLUMNS).where({ email }) as UserRow | undefined
      return row === undefined ? undefined : toUser(row)
    },
    async findById (id: string): Promise<User | undefined> {
      const row = await db('users').first(...USER_COLUMNS).where({ id }) as UserRow | undefined
      return row === undefined ? undefined : toUser(row)
    },
    /** The account's session generation (0 when there is no such account: nothing to void). */
    async sessionGen (id: string): Promise<number> {
      const row = await db('users').first('session_gen').where({ id }) as { session_gen: number | string } | undefined
      return Number(row?.session_gen ?? 0)
    },
    /** Inserts a user; undefined when the email is taken. An admin's creation is audited. */
    async insert (email: string, passwordHash: string, role: Role, source?: AdminSource): Promise<User | undefined> {
      try {
        return await db.transaction(async (trx) => {
          const [id] = await trx('users').insert({ email, password_hash: passwordHash, role })
          if (role === 'admin') await recordAudit(trx, { actorId: null, action: 'user.role', targetType: 'user', targetId: String(id), detail: { role, created: true, via: source } })
          return { id: String(id), email, role, passwordHash, sessionsSince: null, bannedAt: null, sessionGen: 0, emailVerified: false }
        })
      } catch (err) {
        if ((err as { code?: string }).code === 'ER_DUP_ENTRY') return undefined
        throw err
      }
    },
    /** A new hash of the same password (stronger parameters); sign-ins stay valid. */
    async upgradeHash (id: string, previous: string, passwordHash: string): Promise<void> {
      await db('users').where({ id, password_hash: previous }).update({ password_hash: passwordHash })
    },
    /** A role change voids every sign-in issued so far (a pre-registrant keeps nothing); returns the new generation. */
    async setRole (id: string, role: Role, source: AdminSource): Promise<number> {
      return await db.transaction(async (trx) => {
        const gen = await raiseGeneration(trx, id, { role })
        await recordAudit(trx, { actorId: null, action: 'user.role', targetType: 'user', targetId: id, detail: { role, via: source } })
        return gen
      })
    },
    /** Sets the password and role, and voids every sign-in issued so far; returns the new generation. */
    async setPasswordAndRole (id: string, passwordHash: string, role: Role, source: AdminSource): Promise<number> {
      return await db.transaction(async (trx) => {
        const gen = await raiseGeneration(trx, id, { password_hash: passwordHash, role })
        await recordAudit(trx, { actorId: null, action: 'user.role', targetType: 'user', targetId: id, detail: { role, password_set: true, via: source } })
        return gen
      })
    },
    /** The owner's new password, only if `previous` is still the stored hash; voids every sign-in. */
    async changePassword (id: string, previous: string, passwordHash: string, audit: Omit<AuditRecord, 'action' | 'targetType' | 'targetId' | 'detail'>): Promise<number | undefined> {
      return await db.transaction(async (trx) => {
        const row = await trx('users').first('password_hash').where({ id }).forUpdate() as { password_hash: string | null } | undefined
        if (row?.password_hash !== previous) return undefined
        const gen = await raiseGeneration(trx, id, { password_hash: passwordHash })
        await recordAudit(trx, { ...audit, action: 'user.password', targetType: 'user', targetId: id })
        return gen
      })
    },
    /** "Sign out everywhere"; returns the new generation. */
    async revokeSessions (id: string, audit: Omit<AuditRecord, 'action' | 'targetType' | 'targetId' | 'detail'>): Promise<number> {
      return await db.transaction(async (trx) => {
        const gen = await raiseGeneration(trx, id)
        await recordAudit(trx, { ...audit, action: 'user.sessions_revoked', targetType: 'user', targetId: id })
        return gen
      })
    },
    /** Bans or lifts a ban, audited in the same transaction; a ban voids every sign-in (its new generation is returned). */
    async setBan (id: string, ban: { reason: string } | undefined, audit: Omit<AuditRecord, 'action' | 'targetType' | 'targetId' | 'detail'>): Promise<number | undefined> {
      return await db.transaction(async (trx) => {
        let gen: number | undefined
        if (ban === undefined) await trx('users').where({ id }).update({ banned_at: null, ban_reason: null })
        else gen = await raiseGeneration(trx, id, { banned_at: new Date(), ban_reason: ban.reason })
        await recordAudit(trx, { ...audit, action: ban === undefined ? 'user.unban' : 'user.ban', targetType: 'user', targetId: id, detail: ban ?? null })
        return gen
      })
    }
  }
}
export type UsersRepository = ReturnType<typeof usersRepository>

/** Ids of banned accounts (copied into each shard of a sale at warm-up). */
export async function bannedUserIds (db: Knex): Promise<string[]> {
  const rows = await db('users').select('id').whereNotNull('banned_at') as Array<{ id: number | string }>
  return rows.map((r) => String(r.id))
}

export interface AccountDeps {
  readonly users: UsersRepository
  readonly redis: RedisClient
  readonly keys: KeySpace
  readonly signAccess: (user: { id: string, role: Role, sessionGen: number, family: string, emailVerified?: boolean }) => string
  readonly accessTtlMs: number
  /** Idle lifetime of a refresh family (renewed by each rotation)... */
  readonly refreshTtlMs: number
  /** ... and its absolute lifetime from sign-in, never renewed. */
  readonly refreshAbsoluteTtlMs: number
  /** Where sign-outs are published for every ingress (src/identity/sessions.ts). */
  readonly sessions: SessionCache
  /** Key of the HMAC that derives a refresh token's successor (from the JWT secret). */
  readonly refreshKey: string
  /** How long a just-rotated refresh token yields the same successor instead of revoking. */
  readonly refreshGraceMs: number
}

export function normalizeEmail (email: string): string {
  return email.trim().toLowerCase()
}

const sha256 = (s: string): string => createHash('sha256').update(s).digest('base64url')

/** A new sign-in (refresh family and access token) for the account. */
export async function issueTokens (deps: AccountDeps, user: { id: string, role: Role, sessionGen: number, emailVerified?: boolean }): Promise<Tokens> {
  const family = randomBytes(16).toString('base64url')
  const secret = randomBytes(32).toString('base64url')
  const key = deps.keys.refreshFamily(family)
  await deps.redis.multi()
    .hset(key, 'user', user.id, 'current', sha256(secret), 'issued', Date.now(), 'gen', user.sessionGen)
    .pexpire(key, Math.min(deps.refreshTtlMs, deps.refreshAbsoluteTtlMs))
    .exec()
  return { access_token: deps.signAccess({ ...user, family }), refresh_token: `${family}.${secret}`, expires_in: Math.floor(deps.accessTtlMs / 1000) }
}

const invalidCredentials = (): DomainError => new DomainError('INVALID_CREDENTIALS', 'email or password is wrong')
const invalidRefresh = (): DomainError => new DomainError('INVALID_REFRESH_TOKEN', 'the refresh token is not valid')
const accountBanned = (): DomainError => new DomainError('ACCOUNT_BANNED', 'this account is suspended')

export async function register (deps: AccountDeps, email: string, password: string): Promise<{ user: UserView, tokens: Tokens }> {
  await assertStrongPassword(password, normalizeEmail(email))
  const user = await deps.users.insert(normalizeEmail(email), await hashPassword(password), 'user')
  if (user === undefined) throw new DomainError('EMAIL_TAKEN', 'an account with this email exists')
  return { user: userView(user), tokens: await issueTokens(deps, user) }
}

/** The same answer, after the same work, whether the email is unknown or the password wrong. */
export async function login (deps: AccountDeps, email: string, password: string): Promise<Tokens> {
  const user = await deps.users.findByEmail(normalizeEmail(email))
  const ok = await verifyPassword(password, user?.passwordHash)
  if (user === undefined || !ok) throw invalidCredentials()
  if (user.bannedAt !== null) throw accountBanned()
  // Made with older, weaker parameters: stored again with today's (only now is the password known).
  if (user.passwordHash !== null && needsRehash(user.passwordHash)) await deps.users.upgradeHash(user.id, user.passwordHash, await hashPassword(password))
  return await issueTokens(deps, user)
}

function splitRefresh (token: string): { family: string, secret: string } {
  const m = /^([A-Za-z0-9_-]{16,64})\.([A-Za-z0-9_-]{16,128})$/.exec(token)
  if (m === null) throw invalidRefresh()
  return { family: m[1] as string, secret: m[2] as string }
}

/** The key refresh-token successors are derived under, from the service's JWT secret. */
export function refreshKeyFrom (jwtSecret: string): string {
  return createHmac('sha256', jwtSecret).update('seckill refresh-token rotation').digest('base64url')
}

export async function refresh (deps: AccountDeps, token: string): Promise<Tokens> {
  const { family, secret } = splitRefresh(token)
  const nextSecret = createHmac('sha256', deps.refreshKey).update(`${family}.${secret}`).digest('base64url')
  const key = deps.keys.refreshFamily(family)
  const [issuedRaw, genRaw] = await deps.redis.hmget(key, 'issued', 'gen')
  const issued = Number(issuedRaw ?? 0)
  const now = Date.now()
  // The absolute lifetime: a family signed in this long ago is over, however active (ASVS 3.3.2).
  const left = issued + deps.refreshAbsoluteTtlMs - now
  if (issuedRaw !== null && left <= 0) {
    await deps.redis.del(key)
    throw invalidRefresh()
  }
  const userId = await rotateRefresh(deps.redis, key, sha256(secret), sha256(nextSecret), Math.max(1, Math.min(deps.refreshTtlMs, left)), now, deps.refreshGraceMs)
  if (userId === Rotate.UNKNOWN || userId === Rotate.REPLAYED) throw invalidRefresh()
  // The role is read again: a promotion or demotion takes effect at the next refresh.
  const user = await deps.users.findById(userId)
  if (user === undefined) throw invalidRefresh()
  if (user.bannedAt !== null) {
    await deps.redis.del(key)
    throw accountBanned()
  }
  // Signed out everywhere since this family signed in (a ban, a promotion, a new password).
  if (Number(genRaw ?? 0) < user.sessionGen || (user.sessionsSince !== null && issued < user.sessionsSince.getTime())) {
    await deps.redis.del(key)
    throw invalidRefresh()
  }
  return { access_token: deps.signAccess({ ...user, family }), refresh_token: `${family}.${nextSecret}`, expires_in: Math.floor(deps.accessTtlMs / 1000) }
}

/** Signs the token's family out; an unknown family is already signed out. */
export async function logout (deps: AccountDeps, token: string): Promise<void> {
  const { family, secret } = splitRefresh(token)
  const key = deps.keys.refreshFamily(family)
  const userId = await deps.redis.hget(key, 'user')
  const revoked = await revokeRefresh(deps.redis, key, sha256(secret), Date.now(), deps.refreshGraceMs)
  if (revoked === Revoke.WRONG_SECRET) throw invalidRefresh()
  // The family's access tokens stop too, not only its refresh token.
  if (revoked === Revoke.REVOKED && userId !== null) await signOutFamily(deps.sessions, userId, family)
}

const currentPasswordWrong = (): DomainError => new DomainError('CURRENT_PASSWORD_WRONG', 'the current password is wrong')

/**
 * The owner changes the password: the current one is checked, the new one must pass the policy;
 * every earlier sign-in ends (other devices, and whoever else knew the old password), and the
 * caller gets a new one.
 */
export async function changePassword (deps: AccountDeps, userId: string, current: string, next: string, audit: { requestId?: string, address?: string }): Promise<Tokens> {
  const user = await deps.users.findById(userId)
  if (user === undefined) throw new DomainError('UNAUTHORIZED', 'the account no longer exists')
  if (user.passwordHash === null || !await verifyPassword(current, user.passwordHash)) throw currentPasswordWrong()
  await assertStrongPassword(next, user.email)
  const gen = await deps.users.changePassword(user.id, user.passwordHash, await hashPassword(next), { actorId: user.id, ...audit })
  if (gen === undefined) throw currentPasswordWrong() // changed meanwhile
  await publishGeneration(deps.sessions, user.id, gen)
  return await issueTokens(deps, { ...user, sessionGen: gen })
}

/** "Sign out everywhere": every access and refresh token of the account so far is void. */
export async function revokeAllSessions (deps: AccountDeps, userId: string, audit: { requestId?: string, address?: string }): Promise<void> {
  const gen = await deps.users.revokeSessions(userId, { actorId: userId, ...audit })
  await publishGeneration(deps.sessions, userId, gen)
}

/**
 * Making an admin outside the API. Without `sessions` (no Redis at hand) the voided sessions end
 * in MySQL at once, but an ingress may keep the older generation cached for up to an access
 * token's lifetime.
 */
export interface AdminDeps {
  readonly users: UsersRepository
  readonly sessions?: SessionCache
}

async function published (deps: AdminDeps, userId: string, gen: number): Promise<void> {
  if (deps.sessions !== undefined) await publishGeneration(deps.sessions, userId, gen)
}

/** The admin from the environment names an account whose password is something else. */
export class AdminPasswordMismatchError extends Error {
  constructor (readonly email: string) {
    super(`ADMIN_EMAIL names an existing account (${email}) whose password is not ADMIN_PASSWORD; ` +
      'refusing to make it admin (anyone may have registered that address). Use the account\'s own password, ' +
      'or set a new one with `npm run create-admin -- <email> <password>`.')
    this.name = 'AdminPasswordMismatchError'
  }
}

/**
 * The first admin, from the environment: the account is created with the password given, or an
 * existing account is made admin -- only when the password given is its password. Otherwise
 * anyone who registered the operator's address before the first start would become admin with a
 * password of their choosing.
 */
export async function ensureAdmin (deps: AdminDeps, email: string, password: string): Promise<UserView> {
  const normalized = normalizeEmail(email)
  const existing = await deps.users.findByEmail(normalized)
  if (existing !== undefined) {
    if (!await verifyPassword(password, existing.passwordHash)) throw new AdminPasswordMismatchError(normalized)
    // Whoever held the account before (a pre-registrant who guessed or read the password) keeps
    // no session: the promotion voids every earlier token, refresh tokens included.
    if (existing.role !== 'admin') await published(deps, existing.id, await deps.users.setRole(existing.id, 'admin', 'environment'))
    return { ...userView(existing), role: 'admin' }
  }
  await assertStrongPassword(password, normalized)
  const created = await deps.users.insert(normalized, await hashPassword(password), 'admin', 'environment')
  if (created !== undefined) return userView(created)
  return await ensureAdmin(deps, email, password) // created meanwhile by another process
}

/**
 * `create-admin`, run by someone with access to the database: the account gets the password given
 * and the admin role, whether it existed or not. Its sign-ins elsewhere end (refresh and access
 * tokens): the caller publishes the `generation` returned (publishGeneration), which ends them in
 * every ingress at once.
 */
export async function setAdmin (deps: Pick<AdminDeps, 'users'>, email: string, password: string): Promise<{ user: UserView, created: boolean, generation?: number }> {
  const normalized = normalizeEmail(email)
  await assertStrongPassword(password, normalized)
  const hash = await hashPassword(password)
  const created = await deps.users.insert(normalized, hash, 'admin', 'create-admin')
  if (created !== undefined) return { user: userView(created), created: true }
  const existing = await deps.users.findByEmail(normalized)
  if (existing === undefined) return await setAdmin(deps, email, password) // deleted meanwhile
  const generation = await deps.users.setPasswordAndRole(existing.id, hash, 'admin', 'create-admin')
  return { user: { ...userView(existing), role: 'admin' }, created: false, generation }
}
