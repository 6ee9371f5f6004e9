/**
 * Identity: accounts, passwords, sessions, bans and email verification.
 *
 * The front door: every other area and the HTTP layer import identity from here only
 * (.dependency-cruiser.cjs). It never imports the sale, the stock or the orders.
 */

export { AdminPasswordMismatchError, bannedUserIds, changePassword, ensureAdmin, login, logout, normalizeEmail, refresh, refreshKeyFrom, register, revokeAllSessions, setAdmin, userView, usersRepository } from './accounts'
export type { AccountDeps, UsersRepository } from './accounts'
export { banUser, unbanUser } from './bans'
export type { BanDeps } from './bans'
export { sendCode, verifyCode } from './email-verification'
export type { EmailVerificationDeps } from './email-verification'
export { WeakPasswordError } from './password-policy'
export { publishGeneration, sessionStands } from './sessions'
export type { SessionCache, SessionDeps } from './sessions'
