import t from 'tap'
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { parse, parseAllDocuments } from 'yaml'
import { Deployment, type IDeployment } from 'kubernetes-models/apps/v1/Deployment'
import { ConfigMap, type IConfigMap } from 'kubernetes-models/v1/ConfigMap'
import { Service } from 'kubernetes-models/v1/Service'
import { Ingress, type IIngress } from 'kubernetes-models/networking.k8s.io/v1/Ingress'
import type { IContainer } from 'kubernetes-models/v1/Container'
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget'

const root = join(import.meta.dirname, '..')
const manifestDir = join(root, 'config', 'kubernetes')
/** The routes files shipped with the project: the example (copied into the image) and the container checks'. */
const bundledRoutesFiles = ['config/routes.yaml', 'test/docker/routes.yaml']

/** A kubernetes-models class: instances carry apiVersion/kind and validate() against the schema. */
type ModelClass = (new () => { validate(): void }) & { apiVersion: string, kind: string }

/** The kinds config/kubernetes may hold, picked by `apiVersion` + `kind`. */
const models = new Map<string, ModelClass>(
  [Deployment, ConfigMap, Service, Ingress, PodDisruptionBudget].map((m) => [`${m.apiVersion} ${m.kind}`, m])
)

/**
 * Validates one parsed manifest against the published Kubernetes JSON schema of its kind.
 * Throws for a kind this test does not know, or with ajv's messages for a schema violation.
 */
function validateManifest (doc: unknown): void {
  if (typeof doc !== 'object' || doc === null) throw new TypeError(`not an object: ${JSON.stringify(doc)}`)
  const { apiVersion, kind } = doc as { apiVersion?: unknown, kind?: unknown }
  const Model = models.get(`${String(apiVersion)} ${String(kind)}`)
  if (Model === undefined) throw new TypeError(`no schema for apiVersion ${String(apiVersion)} kind ${String(kind)}`)
  Object.assign(new Model(), doc).validate()
}

/** Every YAML document of every file in config/kubernetes, with the file it came from. */
function loadManifests (): Array<{ file: string, doc: unknown }> {
  return readdirSync(manifestDir)
    .filter((file) => /\.ya?ml$/.test(file))
    .sort()
    .flatMap((file) => parseAllDocuments(readFileSync(join(manifestDir, file), 'utf8'))
      .map((document) => {
        if (document.errors.length > 0) throw document.errors[0]
        return { file, doc: document.toJS() as unknown }
      }))
}

/** The one manifest the guard accepts; throws when there is none or more than one. */
function only<T> (docs: unknown[], is: (value: unknown) => value is T): T {
  const found = docs.filter(is)
  if (found.length !== 1 || found[0] === undefined) throw new Error(`expected one manifest, found ${found.length}`)
  return found[0]
}

/**
 * Problems with the wsexec config shape (empty when fine): top-level `listen` and `routes`,
 * each route an object whose `command` is a non-empty array of strings.
 */
function routesShapeProblems (config: unknown): string[] {
  const { listen, routes } = (config ?? {}) as { listen?: unknown, routes?: unknown }
  const problems: string[] = []
  if (typeof listen !== 'object' || listen === null) problems.push('no listen map')
  if (typeof routes !== 'object' || routes === null || Object.keys(routes).length === 0) return [...problems, 'no routes map']
  for (const [path, route] of Object.entries(routes)) {
    const command: unknown = (route as { command?: unknown } | null)?.command
    if (!Array.isArray(command) || command.length === 0 || !command.every((arg) => typeof arg === 'string')) {
      problems.push(`${path}: command is not an array of strings`)
    }
  }
  return problems
}

/** Seconds in a wsexec duration: milliseconds as a number, or a string such as `500ms`, `30s`, `1m`. */
function durationSeconds (value: number | string): number {
  if (typeof value === 'number') return value / 1000
  const match = /^([0-9.]+)(ms|s|m|h)$/.exec(value)
  if (match === null) throw new TypeError(`not a duration: ${JSON.stringify(value)}`)
  const factors: Record<string, number> = { ms: 0.001, s: 1, m: 60, h: 3600 }
  return Number(match[1]) * (factors[match[2] ?? 's'] ?? 1)
}

const manifests = loadManifests()
const docs = manifests.map((m) => m.doc)

t.test('every manifest validates against the Kubernetes schema of its kind', async (t) => {
  t.ok(manifests.length >= 5, 'Deployment, ConfigMap, Service, Ingress and PodDisruptionBudget at least')
  for (const { file, doc } of manifests) {
    t.doesNotThrow(() => validateManifest(doc), `${file}: ${(doc as { kind?: string }).kind}`)
  }
})

t.test('invalid manifests are rejected', async (t) => {
  const deployment = only(docs, Deployment.is)
  const broken = structuredClone(deployment) as unknown as {
    spec: { selector?: unknown, template: { spec: { containers: Array<Record<string, unknown>> } } }
  }
  delete broken.spec.selector
  t.throws(() => validateManifest(broken), /must have required property selector/, 'missing selector')

  const badPort = structuredClone(deployment) as unknown as typeof broken
  badPort.spec.template.spec.containers[0] = { ...badPort.spec.template.spec.containers[0], ports: [{ containerPort: '8080' }] }
  t.throws(() => validateManifest(badPort), /containerPort must be integer/, 'string port')

  t.throws(() => validateManifest({ apiVersion: 'v1', kind: 'Nonsense' }), /no schema/, 'unknown kind')
  t.throws(() => validateManifest('text'), /not an object/, 'not an object')
})

t.test('deployment: probes, grace period, non-root, resources, routes mount', async (t) => {
  const deployment: IDeployment = only(docs, Deployment.is)
  const pod = deployment.spec?.template.spec
  const container: IContainer | undefined = pod?.containers.find((c) => c.name === 'wsexec')
  if (pod === undefined || container === undefined) throw new Error('no wsexec container')

  t.equal(container.livenessProbe?.httpGet?.path, '/healthz', 'liveness probe')
  t.equal(container.readinessProbe?.httpGet?.path, '/readyz', 'readiness probe')
  const grace = pod.terminationGracePeriodSeconds ?? 30
  t.ok(grace > 30, 'grace period above the default 30 s drain timeout')
  const routes = parse(only(docs, ConfigMap.is).data?.['routes.yaml'] ?? '') as { shutdown?: { drainTimeout?: number | string } }
  const drain = durationSeconds(routes.shutdown?.drainTimeout ?? '30s')
  const preStop = Number(container.lifecycle?.preStop?.exec?.command?.[1] ?? 0)
  t.ok(grace > drain + preStop, `grace period ${grace} s above drain ${drain} s + preStop pause ${preStop} s`)
  t.match(pod.securityContext, { runAsNonRoot: true, runAsUser: 1000 }, 'pod runs as uid 1000')
  t.match(container.securityContext, {
    runAsNonRoot: true,
    runAsUser: 1000,
    readOnlyRootFilesystem: true,
    allowPrivilegeEscalation: false,
    capabilities: { drop: ['ALL'] }
  }, 'container: non-root, read-only root, no privilege escalation, no capabilities')
  t.match(container.resources, { requests: { cpu: String, memory: String }, limits: { cpu: String, memory: String } }, 'requests and limits')
  t.ok(container.ports?.some((p) => p.containerPort === 8080), 'container port 8080')

  const mount = container.volumeMounts?.find((m) => m.mountPath === '/config')
  const volume = pod.volumes?.find((v) => v.name === mount?.name)
  const configMap = only(docs, ConfigMap.is)
  t.equal(volume?.configMap?.name, configMap.metadata?.name, '/config comes from the ConfigMap')
})

t.test('configmap: routes.yaml has the shape of the bundled config', async (t) => {
  const configMap: IConfigMap = only(docs, ConfigMap.is)
  const text = configMap.data?.['routes.yaml']
  if (text === undefined) throw new Error('no routes.yaml in the ConfigMap')
  const fromConfigMap: unknown = parse(text)

  t.same(routesShapeProblems(fromConfigMap), [], 'ConfigMap routes.yaml')
  t.match(fromConfigMap, { listen: { host: '0.0.0.0', port: 8080 } }, 'listens on every address of the pod, port 8080')
  // On every address without allowedHosts any Host is served (DNS rebinding): the probes' Host must be one of them.
  const allowed = (fromConfigMap as { allowedHosts?: string[] }).allowedHosts ?? []
  t.ok(allowed.includes('wsexec.example.com'), 'allowedHosts has the Ingress host')
  const container = only(docs, Deployment.is).spec?.template.spec?.containers.find((c) => c.name === 'wsexec')
  for (const probe of [container?.livenessProbe, container?.readinessProbe]) {
    const host = probe?.httpGet?.httpHeaders?.find((h) => h.name === 'Host')?.value
    t.ok(host !== undefined && allowed.includes(host), `the probe of ${String(probe?.httpGet?.path)} sends a Host of allowedHosts`)
  }
  for (const file of bundledRoutesFiles) {
    const bundled: unknown = parse(readFileSync(join(root, file), 'utf8'))
    t.same(routesShapeProblems(bundled), [], file)
  }
  t.same(routesShapeProblems({ listen: {}, routes: { '/x': { command: 'cat' } } }), ['/x: command is not an array of strings'],
    'the shape check itself rejects a command string')
  t.equal(durationSeconds('1500ms') + durationSeconds(500) + durationSeconds('1m'), 62, 'durations in seconds')
  t.throws(() => durationSeconds('soon'), /not a duration/, 'a bad duration throws')
})

t.test('service and ingress reach the container port, with WebSocket timeouts', async (t) => {
  const ingress: IIngress = only(docs, Ingress.is)
  const service = only(docs, Service.is)
  const annotations = ingress.metadata?.annotations ?? {}
  t.equal(annotations['nginx.ingress.kubernetes.io/proxy-read-timeout'], '3600', 'proxy-read-timeout')
  t.equal(annotations['nginx.ingress.kubernetes.io/proxy-send-timeout'], '3600', 'proxy-send-timeout')
  const backend = ingress.spec?.rules?.[0]?.http?.paths[0]?.backend.service
  t.equal(backend?.name, service.metadata?.name, 'ingress points at the Service')
  t.ok(service.spec?.ports?.some((p) => p.name === backend?.port?.name && p.targetPort === 'http'), 'service port forwards to http')
})

t.test('disruptions, spread, metrics scraping, allowed hosts and auth', async (t) => {
  const deployment = only(docs, Deployment.is)
  const labels = deployment.spec?.template.metadata?.labels ?? {}
  const pdb = only(docs, PodDisruptionBudget.is)
  t.match(labels, pdb.spec?.selector?.matchLabels ?? { none: true }, 'the PodDisruptionBudget selects the Deployment\'s pods')
  t.ok((pdb.spec?.minAvailable as number) < (deployment.spec?.replicas ?? 1), 'it leaves room to evict one pod')

  const pod = deployment.spec?.template.spec
  const spread = pod?.topologySpreadConstraints?.find((c) => c.topologyKey === 'kubernetes.io/hostname')
  t.match(spread, { maxSkew: 1 }, 'spread across nodes')
  t.match(labels, spread?.labelSelector?.matchLabels ?? { none: true }, 'over the Deployment\'s own pods')

  const routes = parse(only(docs, ConfigMap.is).data?.['routes.yaml'] ?? '') as { metrics?: { port?: number }, allowedHosts?: string[], auth?: unknown }
  const metricsPort = routes.metrics?.port
  const container = pod?.containers.find((c) => c.name === 'wsexec')
  t.ok(container?.ports?.some((p) => p.name === 'metrics' && p.containerPort === metricsPort), 'the container names the metrics port')
  const service = only(docs, Service.is)
  t.ok(service.spec?.ports?.some((p) => p.targetPort === 'metrics'), 'the Service reaches it')
  for (const annotations of [deployment.spec?.template.metadata?.annotations, service.metadata?.annotations]) {
    t.match(annotations, { 'prometheus.io/scrape': 'true', 'prometheus.io/port': String(metricsPort), 'prometheus.io/path': '/metrics' }, 'scrape annotations')
  }

  const ingressHost = only(docs, Ingress.is).spec?.rules?.[0]?.host
  t.ok(ingressHost !== undefined && routes.allowedHosts?.includes(ingressHost), 'allowedHosts has the Ingress host')
  for (const probe of [container?.livenessProbe, container?.readinessProbe]) {
    const host = probe?.httpGet?.httpHeaders?.find((h) => h.name === 'Host')?.value
    t.ok(host !== undefined && routes.allowedHosts?.includes(host), 'each probe sends an allowed Host')
  }
  t.match(routes.auth, { bearer: { tokensFile: String } }, 'auth behind the public Ingress')
  const tokens = (routes.auth as { bearer: { tokensFile: string } }).bearer.tokensFile
  const mount = container?.volumeMounts?.find((m) => tokens.startsWith(`${m.mountPath}/`))
  t.ok(pod?.volumes?.some((v) => v.name === mount?.name && v.secret !== undefined), 'the tokens file comes from a Secret')
})
