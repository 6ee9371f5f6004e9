// Issue 30, item 6: compose published Prometheus (9090) and Jaeger (16686) on every interface,
// which reopened public metrics and traces. Only the API may be published beyond loopback.
import t from 'tap'
import { readFileSync } from 'node:fs'
import { parse } from 'yaml'
import { repoPath } from '../../src/util/paths'

t.test('compose publishes only the API on every interface', async (t) => {
  const compose = parse(readFileSync(repoPath('docker-compose.yml'), 'utf8')) as { services: Record<string, { ports?: string[] }> }
  const published = Object.entries(compose.services).flatMap(([name, s]) => (s.ports ?? []).map((p) => ({ name, port: String(p) })))
  t.ok(published.length > 0, 'something is published')
  for (const { name, port } of published) {
    if (name === 'ingress') t.equal(port, '8080:8080', 'the API, on every interface')
    else t.match(port, /^127\.0\.0\.1:\d+:\d+$/, `${name} (${port}) on loopback only`)
  }
  for (const name of ['prometheus', 'jaeger', 'grafana']) t.ok(published.some((p) => p.name === name), `${name} is checked`)
})
