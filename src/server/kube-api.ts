import type { LoadedRoute } from '../config/model.js'
import { CHANNEL_PROTOCOLS } from '../session/streams.js'
import { VERSION } from '../version.js'
import { matchRoute, type CompiledRoute, type RouteTable } from './routes.js'

/** The Kubernetes minor version wsexec's discovery documents claim (the API kubectl's exec needs has not changed since 1.30). */
export const KUBERNETES_MINOR = '32'

/** The container every answered Pod has: the route decides what runs, whatever `?container=` says. */
export const CONTAINER_NAME = 'wsexec'

/** A document wsexec answers in the API server's place, and the route whose checks guard it. */
export interface KubeAnswer {
  readonly route: LoadedRoute
  readonly status: 200 | 404
  readonly body: Readonly<Record<string, unknown>>
}

/** The exec path's fixed segments: `/api/v1/namespaces/{ns}/pods/{pod}/exec`, by position. */
const EXEC_SHAPE: ReadonlyArray<string | null> = ['api', 'v1', 'namespaces', null, 'pods', null, 'exec']
const POD_PATH = /^\/api\/v1\/namespaces\/([^/]+)\/pods\/([^/]+)$/
/** The time every answered object was created and started: wsexec keeps no history of them. */
const SINCE = '1970-01-01T00:00:00Z'
const NAMESPACE_PATH = /^\/api\/v1\/namespaces\/([^/]+)$/

/**
 * True for a route that speaks a Kubernetes channel protocol on a path laid out as the API
 * server's exec path (the namespace and pod segments fixed or parameters).
 */
export function isKubeExecRoute (compiled: CompiledRoute<LoadedRoute>): boolean {
  const { segments, route } = compiled
  return route.protocols.some((p) => (CHANNEL_PROTOCOLS as readonly string[]).includes(p)) &&
    segments.length === EXEC_SHAPE.length &&
    EXEC_SHAPE.every((fixed, i) => fixed === null || segments[i] === fixed)
}

/** The table's Kubernetes exec routes, in file order. */
function kubeRoutes (table: RouteTable<LoadedRoute>): Array<CompiledRoute<LoadedRoute>> {
  return [...table.exact.values(), ...table.parameterised].filter(isKubeExecRoute)
}

/**
 * What kubectl reads before it upgrades to `…/exec`, answered for a table with a Kubernetes exec
 * route: `/version`, `/api`, `/apis`, `/api/v1`, and a running Pod for
 * `/api/v1/namespaces/{ns}/pods/{pod}` when a route takes `…/{ns}/pods/{pod}/exec` (else a
 * NotFound Status). Undefined for any other path, or a table without such a route.
 */
export function kubeAnswer (table: RouteTable<LoadedRoute>, pathname: string): KubeAnswer | undefined {
  const routes = kubeRoutes(table)
  const first = routes[0]
  if (first === undefined) return undefined
  const route = first.route
  switch (pathname) {
    case '/version':
      return { route, status: 200, body: version() }
    case '/api':
      return { route, status: 200, body: { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [] } }
    case '/apis':
      return { route, status: 200, body: { kind: 'APIGroupList', apiVersion: 'v1', groups: [] } }
    case '/api/v1':
      return { route, status: 200, body: resources() }
  }
  const ns = NAMESPACE_PATH.exec(pathname)
  if (ns !== null) return namespaceAnswer(routes, decode(ns[1] as string), ns[1] as string)
  const pod = POD_PATH.exec(pathname)
  if (pod === null) return undefined
  const match = matchRoute(table, `${pathname}/exec`)
  const [namespace, name] = [pod[1] as string, pod[2] as string].map((s) => decode(s) ?? s) as [string, string]
  if (match === undefined || !isKubeExecRoute(match.compiled)) return { route, status: 404, body: notFound('pods', name) }
  return { route: match.compiled.route, status: 200, body: runningPod(namespace, name, match.compiled.route) }
}

/**
 * kubectl reads the namespace after a pod it asked for was not found: an Active Namespace when a
 * route takes it (as a fixed segment or by its parameter's pattern), else NotFound.
 */
function namespaceAnswer (routes: ReadonlyArray<CompiledRoute<LoadedRoute>>, name: string | undefined, raw: string): KubeAnswer {
  const taking = name === undefined
    ? undefined
    : routes.find(({ segments }) => {
      const segment = segments[3] as CompiledRoute['segments'][number]
      return typeof segment === 'string' ? segment === name : segment.pattern.test(name)
    })
  if (taking === undefined) return { route: (routes[0] as CompiledRoute<LoadedRoute>).route, status: 404, body: notFound('namespaces', name ?? raw) }
  return {
    route: taking.route,
    status: 200,
    body: { kind: 'Namespace', apiVersion: 'v1', metadata: { name, creationTimestamp: SINCE }, spec: { finalizers: ['kubernetes'] }, status: { phase: 'Active' } }
  }
}

function decode (segment: string): string | undefined {
  try {
    return decodeURIComponent(segment)
  } catch {
    return undefined
  }
}

function version (): Record<string, string> {
  return {
    major: '1',
    minor: KUBERNETES_MINOR,
    gitVersion: `v1.${KUBERNETES_MINOR}.0+wsexec-${VERSION}`,
    gitCommit: '',
    gitTreeState: 'clean',
    buildDate: SINCE,
    goVersion: '',
    compiler: 'wsexec',
    platform: goPlatform(process.platform, process.arch)
  }
}

/** Node's platform and architecture as Go names them (`linux/amd64`), as the API server reports its own. */
export function goPlatform (platform: string, arch: string): string {
  return `${platform}/${arch === 'x64' ? 'amd64' : arch}`
}

/** The core group's resources wsexec serves: pods (get) and their exec subresource. */
function resources (): Record<string, unknown> {
  return {
    kind: 'APIResourceList',
    groupVersion: 'v1',
    resources: [
      { name: 'namespaces', singularName: 'namespace', namespaced: false, kind: 'Namespace', verbs: ['get'], shortNames: ['ns'] },
      { name: 'pods', singularName: 'pod', namespaced: true, kind: 'Pod', verbs: ['get'], shortNames: ['po'] },
      { name: 'pods/exec', singularName: '', namespaced: true, kind: 'PodExecOptions', verbs: ['create', 'get'] }
    ]
  }
}

/** The API server's NotFound Status for `name` of `kind` (its plural resource name). */
function notFound (kind: 'pods' | 'namespaces', name: string): Record<string, unknown> {
  return {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message: `${kind} "${name}" not found`,
    reason: 'NotFound',
    details: { name, kind },
    code: 404
  }
}

/** A Pod in phase Running with one ready container: what kubectl checks before it execs. */
function runningPod (namespace: string, name: string, route: LoadedRoute): Record<string, unknown> {
  const image = `wsexec:${VERSION}`
  return {
    kind: 'Pod',
    apiVersion: 'v1',
    metadata: { name, namespace, creationTimestamp: SINCE, annotations: { 'kubectl.kubernetes.io/default-container': CONTAINER_NAME } },
    spec: { containers: [{ name: CONTAINER_NAME, image, stdin: true, tty: route.tty }] },
    status: {
      phase: 'Running',
      conditions: [{ type: 'Ready', status: 'True', lastTransitionTime: SINCE }, { type: 'ContainersReady', status: 'True', lastTransitionTime: SINCE }],
      containerStatuses: [{ name: CONTAINER_NAME, image, imageID: '', ready: true, started: true, restartCount: 0, state: { running: { startedAt: SINCE } } }],
      startTime: SINCE
    }
  }
}
