import t from 'tap'
import { randomBytes } from 'node:crypto'
import { ConfigError, loadConfig } from '../../src/config'

/** Production refuses the local payment provider: these tests configure Stripe (never called). */
const PAID = { PAYMENT_PROVIDER: 'stripe', STRIPE_SECRET_KEY: 'sk_test_x', STRIPE_WEBHOOK_SECRET: 'whsec_Q7vK2mX9pL4tR8nB3cW6yF1hJ5dZ0sGa' }

t.test('defaults serve the local services', async (t) => {
  const c = loadConfig({})
  t.equal(c.port, 8080)
  // Issue 30, item 10: the default was 0.0.0.0 while the banner and the README said 127.0.0.1.
  t.equal(c.host, '127.0.0.1', 'loopback unless told: a development process is not on the network by accident')
  t.equal(c.redisUrl, 'redis://127.0.0.1:6379')
  t.equal(c.databaseUrl, 'mysql://root@127.0.0.1:3306/seckill')
  t.equal(c.redisPrefix, 'sk')
  t.equal(c.jwtSecret, undefined, 'no secret the public knows: the process makes its own')
  t.ok(Object.isFrozen(c))
})

t.test('every problem is reported at once', async (t) => {
  try {
    loadConfig({ PORT: 'eighty', REDIS_URL: 'http://x', GATE_OVERBOOK: '0.5', PROCESS_ROLE: 'both', JWT_SECRET: 'short' })
    t.fail('should throw')
  } catch (err) {
    t.type(err, ConfigError)
    const problems = (err as ConfigError).problems
    t.equal(problems.length, 5, problems.join('\n'))
    t.match(problems.join('\n'), /PORT[\s\S]*REDIS_URL|REDIS_URL[\s\S]*PORT/)
  }
})

t.test('production refuses the development JWT secret', async (t) => {
  t.throws(() => loadConfig({ NODE_ENV: 'production' }), /JWT_SECRET: required/)
  const random = randomBytes(32).toString('base64')
  t.equal(loadConfig({ NODE_ENV: 'production', JWT_SECRET: random, ...PAID }).jwtSecret, random)
})

// Issue 30, item 7: production served with the Kubernetes example's placeholder, or 40 × `a`.
t.test('production refuses placeholder and low-variety secrets, every one named at once', async (t) => {
  const refused = (env: Record<string, string>): string[] => {
    try {
      loadConfig({ NODE_ENV: 'production', ...PAID, ...env })
    } catch (err) {
      if (err instanceof ConfigError) return [...err.problems]
      throw err
    }
    return []
  }
  t.match(refused({ JWT_SECRET: 'replace-with-32-or-more-random-characters' }), [/JWT_SECRET: a published placeholder/])
  t.match(refused({ JWT_SECRET: 'REPLACE_WITH_32_OR_MORE_RANDOM_CHARACTERS!' }), [/JWT_SECRET: a published placeholder/], 'in any case or spacing')
  t.match(refused({ JWT_SECRET: 'a'.repeat(40) }), [/JWT_SECRET: too little variety/])
  t.match(refused({ JWT_SECRET: 'x'.repeat(32) }), [/JWT_SECRET: too little variety/])
  t.match(refused({ JWT_SECRET: 'abcdefgh'.repeat(8) }), [/JWT_SECRET: too little variety/], 'a repeated pattern')
  t.match(refused({ JWT_SECRET: 'abcdefgh12345678'.repeat(2) }), [/JWT_SECRET: too little variety/], 'a pattern repeated twice')
  t.match(refused({ JWT_SECRET: 'q7Zp2Lr9Xw4Kd8Mn'.repeat(2) + 'q7Zp' }), [/JWT_SECRET: too little variety/], 'a pattern repeated twice and a part')
  const all = refused({
    JWT_SECRET: 'a'.repeat(40),
    METRICS_TOKEN: 'replace-with-32-or-more-random-characters',
    REDIS_URL: 'redis://:password@redis.example.internal:6379',
    DATABASE_URL: 'mysql://seckill:password@mysql.example.internal:3306/seckill'
  })
  t.equal(all.length, 4, all.join('\n'))
  t.match(all.join('\n'), /JWT_SECRET[\s\S]*METRICS_TOKEN[\s\S]*REDIS_URL password[\s\S]*DATABASE_URL password/)
  t.notMatch(all.join('\n'), /aaaa|password@/, 'the secrets themselves are never printed')
  const good = (): string => randomBytes(24).toString('hex')
  t.same(refused({ JWT_SECRET: good(), METRICS_TOKEN: good(), REDIS_URL: `redis://:${good()}@r:6379`, DATABASE_URL: `mysql://u:${good()}@m:3306/s` }), [], 'random secrets pass')
  let hexRefused = 0
  for (let i = 0; i < 2000; i++) if (refused({ JWT_SECRET: randomBytes(16).toString('hex') }).length > 0) hexRefused++
  t.equal(hexRefused, 0, '32 random hex characters (128 bits) always pass')
  // The Stripe webhook secret decides which webhooks mark an order paid: the Kubernetes example's
  // placeholder would let anyone who read it sign one.
  t.match(refused({ JWT_SECRET: good(), STRIPE_WEBHOOK_SECRET: 'whsec_replace-with-your-endpoint-secret' }), [/STRIPE_WEBHOOK_SECRET: a published placeholder/])
  t.match(refused({ JWT_SECRET: good(), STRIPE_WEBHOOK_SECRET: 'whsec_x' }), [/STRIPE_WEBHOOK_SECRET: too little variety/])
  t.same(refused({ JWT_SECRET: good(), STRIPE_WEBHOOK_SECRET: `whsec_${randomBytes(24).toString('base64')}` }), [], 'a webhook secret as Stripe makes them passes')
  t.same(refused({}).filter((p) => !p.startsWith('JWT_SECRET: required')), [], 'only production is held to it')
  t.doesNotThrow(() => loadConfig({ JWT_SECRET: 'a'.repeat(40) }), 'development and tests keep their fixed secrets')
})

t.test('CLOCK_SKEW_MS: a test knob, either way, refused in production', async (t) => {
  t.equal(loadConfig({}).clockSkewMs, 0)
  t.equal(loadConfig({ CLOCK_SKEW_MS: '-30000' }).clockSkewMs, -30_000)
  t.throws(() => loadConfig({ NODE_ENV: 'production', JWT_SECRET: 'x'.repeat(32), CLOCK_SKEW_MS: '30000' }), /CLOCK_SKEW_MS: for tests and drills only/)
  t.throws(() => loadConfig({ CLOCK_SKEW_MS: '1.5' }), /CLOCK_SKEW_MS: expected an integer/)
})
