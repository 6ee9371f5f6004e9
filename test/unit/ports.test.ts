/** test/helpers/ports.ts: the ports the tests' own servers start on. */
import t from 'tap'
import { freePorts } from '../helpers/ports'

t.test('freePorts gives distinct ports', async (t) => {
  // A Redis Cluster of 6 nodes needs 12: one at a time, the OS may hand a closed port out again.
  // (That each is free to listen on is what the cluster tests, which start redis-server on them,
  // rely on; checked here it would race every other process's outgoing connections.)
  const ports = await freePorts(40)
  t.equal(ports.length, 40)
  t.equal(new Set(ports).size, 40, 'no port twice')
  t.ok(ports.every((p) => Number.isInteger(p) && p > 0 && p < 65536), 'every one a real port')
})
