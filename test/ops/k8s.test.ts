/**
 * The Kubernetes manifests (ops/k8s): every object of the base, and of the example overlay as
 * kustomize renders it, validates against the Kubernetes schemas of the `kubernetes-models`
 * package; every variable they give the containers is one the service reads; the probes, the
 * termination and the scraping agree with how the service behaves.
 *
 * No kustomize binary is at hand here, so the overlay is rendered by applying the few
 * transformations it uses (namespace, images, replicas, a merged ConfigMap, a Secret from an env
 * file); any other field in a kustomization fails the test, so the rendering cannot silently
 * fall behind the overlay.
 */
import t from 'tap'
import { existsSync, readFileSync, readdirSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { parseAllDocuments } from 'yaml'
import { repoPath } from '../../src/util/paths'
import { allVariablesRead } from '../helpers/config-reads'

type Obj = Record<string, any>

const BASE = repoPath('ops', 'k8s', 'base')
const OVERLAY = repoPath('ops', 'k8s', 'overlays', 'example')

function readYaml (file: string): Obj[] {
  return parseAllDocuments(readFileSync(file, 'utf8')).map((d) => {
    if (d.errors.length > 0) throw new Error(`${file}: ${d.errors.map((e) => e.message).join('; ')}`)
    return d.toJS() as Obj
  }).filter((o) => o !== null)
}

const HANDLED = new Set(['apiVersion', 'kind', 'resources', 'labels', 'namespace', 'images', 'replicas', 'configMapGenerator', 'secretGenerator', 'generatorOptions'])

/** The objects a kustomization directory renders (the transformations ops/k8s uses). */
function render (dir: string): Obj[] {
  const k = readYaml(join(dir, 'kustomization.yaml'))[0] as Obj
  const unknown = Object.keys(k).filter((key) => !HANDLED.has(key))
  if (unknown.length > 0) throw new Error(`${dir}: kustomization fields this test does not render: ${unknown.join(', ')}`)
  let objects: Obj[] = []
  for (const r of k.resources as string[]) {
    const path = join(dir, r)
    objects.push(...(existsSync(join(path, 'kustomization.yaml')) ? render(path) : readYaml(path)))
  }
  for (const l of (k.labels ?? []) as Obj[]) {
    for (const o of objects) o.metadata.labels = { ...o.metadata.labels, ...l.pairs }
  }
  for (const g of (k.configMapGenerator ?? []) as Obj[]) {
    const data = Object.fromEntries((g.literals as string[]).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]))
    const existing = objects.find((o) => o.kind === 'ConfigMap' && o.metadata.name === g.name)
    if (g.behavior === 'merge') {
      if (existing === undefined) throw new Error(`merge into a missing ConfigMap ${String(g.name)}`)
      existing.data = { ...existing.data, ...data }
    } else {
      objects.push({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: g.name }, data })
    }
  }
  for (const g of (k.secretGenerator ?? []) as Obj[]) {
    const data: Record<string, string> = {}
    for (const envFile of g.envs as string[]) {
      // The real secrets.env is never committed: its example stands for it.
      const text = readFileSync(join(dir, `${envFile}.example`), 'utf8')
      for (const line of text.split('\n')) {
        const m = /^([A-Z][A-Z0-9_]*)=(.*)$/.exec(line)
        if (m !== null) data[m[1] as string] = Buffer.from(m[2] as string).toString('base64')
      }
    }
    objects.push({ apiVersion: 'v1', kind: 'Secret', metadata: { name: g.name }, type: 'Opaque', data })
  }
  for (const img of (k.images ?? []) as Obj[]) {
    for (const c of objects.flatMap((o) => o.spec?.template?.spec?.containers ?? [])) {
      if ((c.image as string).split(':')[0] === img.name) c.image = `${String(img.newName ?? img.name)}:${String(img.newTag)}`
    }
  }
  for (const rep of (k.replicas ?? []) as Obj[]) {
    const target = objects.find((o) => o.kind === 'Deployment' && o.metadata.name === rep.name)
    if (target === undefined) throw new Error(`replicas for a missing Deployment ${String(rep.name)}`)
    target.spec.replicas = rep.count
  }
  if (k.namespace !== undefined) objects = objects.map((o) => ({ ...o, metadata: { ...o.metadata, namespace: k.namespace } }))
  return objects
}

type Model = new (o: Obj) => { validate: () => void }
/**
 * kubernetes-models is ESM only; this CommonJS build would turn `import()` into `require()`, so the
 * import is made at run time.
 */
// eslint-disable-next-line no-new-func -- the one way to keep a real import() in a CommonJS build
const importEsm = new Function('specifier', 'return import(specifier)') as (specifier: string) => Promise<Record<string, Model>>
const models = new Map<string, Record<string, Model>>()

/** Validates one object with the model class of its apiVersion and kind (throws when it is invalid). */
async function validate (o: Obj): Promise<void> {
  const module = o.apiVersion === 'v1' ? 'kubernetes-models/v1' : `kubernetes-models/${String(o.apiVersion)}`
  if (!models.has(module)) models.set(module, await importEsm(module))
  const Model = models.get(module)?.[o.kind as string]
  if (Model === undefined) throw new Error(`no schema for ${String(o.apiVersion)} ${String(o.kind)}`)
  new Model(o).validate()
}

t.test('every manifest file is a resource of its kustomization', async (t) => {
  const listed = (readYaml(join(BASE, 'kustomization.yaml'))[0] as Obj).resources as string[]
  const files = readdirSync(BASE).filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml').sort()
  t.same([...listed].sort(), files)
  t.ok(existsSync(join(OVERLAY, 'secrets.env.example')), 'the overlay shows what its secrets file holds')
  t.match(readFileSync(repoPath('.gitignore'), 'utf8'), /ops\/k8s\/overlays\/\*\/secrets\.env/, 'and the real one is never committed')
})

for (const [name, dir] of [['base', BASE], ['example overlay', OVERLAY]] as const) {
  t.test(`${name}: every object validates against the Kubernetes schemas`, async (t) => {
    const objects = render(dir)
    t.ok(objects.length >= 7, `${objects.length} objects`)
    for (const o of objects) await t.resolves(validate(o), `${String(o.kind)} ${String(o.metadata?.name)}`)
  })
}

t.test('a schema violation is caught (the validation is real)', async (t) => {
  const deployment = render(BASE).find((o) => o.kind === 'Deployment') as Obj
  await t.rejects(validate({ ...deployment, spec: { ...deployment.spec, replicas: 'two' } }))
})

t.test('every variable the manifests set is one the service reads', async (t) => {
  const read = allVariablesRead()
  const objects = render(OVERLAY)
  const names = new Set<string>()
  for (const o of objects) {
    if (o.kind === 'ConfigMap' || o.kind === 'Secret') for (const key of Object.keys(o.data ?? {})) names.add(key)
    for (const c of o.spec?.template?.spec?.containers ?? []) for (const e of c.env ?? []) names.add(e.name as string)
  }
  t.ok(names.size >= 10, `${names.size} variables set`)
  for (const name of [...names].sort()) t.ok(read.has(name), `the service reads ${name}`)
})

t.test('probes, termination, scraping and resources agree with the service', async (t) => {
  const objects = render(OVERLAY)
  const config = (objects.find((o) => o.kind === 'ConfigMap') as Obj).data as Record<string, string>
  const deployments = objects.filter((o) => o.kind === 'Deployment')
  t.same(deployments.map((d) => d.metadata.name).sort(), ['seckill-ingress', 'seckill-worker'])
  for (const d of deployments) {
    const pod = d.spec.template.spec as Obj
    const c = pod.containers[0] as Obj
    const env = Object.fromEntries((c.env as Obj[]).map((e) => [e.name, e.value]))
    const ports = new Set((c.ports as Obj[]).map((p) => p.name))
    t.equal(c.livenessProbe.httpGet.path, '/healthz', `${String(d.metadata.name)}: liveness on /healthz`)
    t.equal(c.readinessProbe.httpGet.path, '/readyz', `${String(d.metadata.name)}: readiness on /readyz`)
    for (const probe of [c.livenessProbe, c.readinessProbe, c.startupProbe]) t.ok(ports.has(probe.httpGet.port), `probe port ${String(probe.httpGet.port)} is a named port`)
    const preStop = Number(c.lifecycle?.preStop?.sleep?.seconds ?? 0)
    t.ok(pod.terminationGracePeriodSeconds * 1000 > Number(config.SHUTDOWN_TIMEOUT_MS) + preStop * 1000,
      `${String(d.metadata.name)}: the grace period (${String(pod.terminationGracePeriodSeconds)} s) outlasts SHUTDOWN_TIMEOUT_MS and the preStop pause`)
    t.equal(d.spec.template.metadata.annotations['prometheus.io/port'], env.METRICS_PORT, 'Prometheus scrapes the metrics listener')
    t.ok(c.resources?.requests?.cpu !== undefined && c.resources?.requests?.memory !== undefined, 'resource requests set')
    t.match(c.image, /^registry\.example\.com\/seckill:0\.1\.0$/, 'the overlay pins the image')
  }
  const hpa = objects.find((o) => o.kind === 'HorizontalPodAutoscaler') as Obj
  t.equal(hpa.spec.scaleTargetRef.name, 'seckill-ingress', 'the autoscaler scales the ingress')
  const pdbs = objects.filter((o) => o.kind === 'PodDisruptionBudget')
  for (const d of deployments) {
    t.ok(pdbs.some((p) => Object.entries(p.spec.selector.matchLabels as Record<string, string>).every(([k, v]) => d.spec.template.metadata.labels[k] === v)), `${String(d.metadata.name)} has a disruption budget`)
  }
  t.ok(objects.every((o) => o.metadata.namespace === 'seckill'), 'the overlay puts everything in its namespace')
  t.ok(dirname(OVERLAY).endsWith('overlays'))
})

// Issue 30, item 10: the pods had no NetworkPolicy, a service-account token mounted, and no
// seccomp profile.
t.test('pods: no service-account token, the runtime\'s seccomp profile, a NetworkPolicy each', async (t) => {
  const objects = render(OVERLAY)
  const policies = objects.filter((o) => o.kind === 'NetworkPolicy')
  for (const d of objects.filter((o) => o.kind === 'Deployment')) {
    const name = String(d.metadata.name)
    const pod = d.spec.template.spec as Obj
    t.equal(pod.automountServiceAccountToken, false, `${name}: no service-account token`)
    t.equal(pod.securityContext?.seccompProfile?.type, 'RuntimeDefault', `${name}: seccomp RuntimeDefault`)
    const labels = d.spec.template.metadata.labels as Record<string, string>
    const mine = policies.filter((p) => Object.entries(p.spec.podSelector.matchLabels as Record<string, string>).every(([k, v]) => labels[k] === v))
    t.equal(mine.length, 1, `${name}: one NetworkPolicy selects its pods`)
    const policy = mine[0] as Obj
    t.same([...policy.spec.policyTypes].sort(), ['Egress', 'Ingress'], `${name}: both directions restricted`)
    const c = pod.containers[0] as Obj
    const containerPorts = new Set((c.ports as Obj[]).map((p) => Number(p.containerPort)))
    const allowed = (policy.spec.ingress as Obj[]).flatMap((rule) => (rule.ports as Obj[]).map((p) => Number(p.port)))
    t.ok(allowed.every((p) => containerPorts.has(p)), `${name}: only its own ports may be reached (${allowed.join(', ')})`)
    const metricsRule = (policy.spec.ingress as Obj[]).find((rule) => (rule.ports as Obj[]).some((p) => String(p.port) === String(d.spec.template.metadata.annotations['prometheus.io/port'])))
    t.ok(metricsRule?.from !== undefined, `${name}: metrics only from a named source`)
    const egressPorts = (policy.spec.egress as Obj[]).flatMap((rule) => (rule.ports as Obj[]).map((p) => Number(p.port))).sort((a, b) => a - b)
    t.same([...new Set(egressPorts)], [53, 3306, 4318, 6379], `${name}: egress to DNS, MySQL, the trace collector and Redis only`)
  }
})
