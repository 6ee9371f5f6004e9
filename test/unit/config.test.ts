import t from 'tap'
import { ConfigError, loadConfig } from '../../src/config'

t.test('defaults serve the local services', async (t) => {
  const c = loadConfig({})
  t.equal(c.port, 8080)
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
  t.equal(loadConfig({ NODE_ENV: 'production', JWT_SECRET: 'x'.repeat(32) }).jwtSecret, 'x'.repeat(32))
})
