import t from 'tap'
import { compileRoutes } from '../../src/server/routes.js'
import { CONTAINER_NAME, goPlatform, isKubeExecRoute, kubeAnswer, KUBERNETES_MINOR } from '../../src/server/kube-api.js'
import { loadConfigText } from '../../src/config/pipeline.js'
import { startServer } from '../helpers/server.js'

const TOKEN = 'kube-api-token-0123456789abcdef'
const CHANNELS = 'protocols: [v5.channel.k8s.io, v4.channel.k8s.io, channel.k8s.io]'

async function get (url: string, token?: string): Promise<{ status: number, body: Record<string, unknown> }> {
  const response = await fetch(url, { headers: token === undefined ? {} : { authorization: `Bearer ${token}` }, signal: AbortSignal.timeout(10_000) })
  return { status: response.status, body: await response.json() as Record<string, unknown> }
}

t.test('discovery, namespaces and pods for the names the exec routes take, under their auth', async (t) => {
  const s = await startServer(t, `
auth: { bearer: { tokensEnv: WSEXEC_TOKENS } }
routes:
  /api/v1/namespaces/fixed/pods/:pod/exec:
    command: [cat]
    params: { pod: "one" }
    tty: true
    ${CHANNELS}
  /api/v1/namespaces/:ns/pods/:pod/exec:
    command: [cat]
    params: { ns: "[a-z]+", pod: "(web|db)" }
    ${CHANNELS}
  /api/v1/namespaces/plain/pods/p/exec:
    command: [cat]
  /version:
    command: [cat]
    auth: false
`, { PATH: process.env['PATH'], WSEXEC_TOKENS: TOKEN })
  const http = s.url.replace('ws:', 'http:')

  const refused = await get(`${http}/api`)
  t.equal(refused.status, 401, 'the exec route\'s auth guards discovery')
  t.equal(refused.body['code'], 'WSEXEC_ERR_UNAUTHORIZED')

  t.match(await get(`${http}/api`, TOKEN), { status: 200, body: { kind: 'APIVersions', versions: ['v1'] } })
  t.match(await get(`${http}/apis`, TOKEN), { status: 200, body: { kind: 'APIGroupList', groups: [] } })
  const resources = await get(`${http}/api/v1`, TOKEN)
  t.match(resources, { status: 200, body: { kind: 'APIResourceList', groupVersion: 'v1' } })
  t.same((resources.body['resources'] as Array<{ name: string }>).map((r) => r.name), ['namespaces', 'pods', 'pods/exec'])
  t.equal((await get(`${http}/version`, TOKEN)).status, 426, 'a route of the file at /version wins over discovery')

  const pod = await get(`${http}/api/v1/namespaces/demo/pods/web`, TOKEN)
  t.match(pod, {
    status: 200,
    body: {
      kind: 'Pod',
      metadata: { name: 'web', namespace: 'demo' },
      spec: { containers: [{ name: CONTAINER_NAME, tty: false }] },
      status: { phase: 'Running', conditions: [{ type: 'Ready', status: 'True' }], containerStatuses: [{ ready: true, state: { running: {} } }] }
    }
  }, 'a running pod with one ready container')
  t.match(await get(`${http}/api/v1/namespaces/fixed/pods/one`, TOKEN), { status: 200, body: { spec: { containers: [{ tty: true }] } } }, 'a fixed namespace')
  t.match(await get(`${http}/api/v1/namespaces/de%6do/pods/d%62`, TOKEN), { status: 200, body: { metadata: { name: 'db', namespace: 'demo' } } }, 'decoded')
  t.match(await get(`${http}/api/v1/namespaces/demo/pods/cache`, TOKEN), {
    status: 404,
    body: { kind: 'Status', status: 'Failure', reason: 'NotFound', message: 'pods "cache" not found', details: { name: 'cache', kind: 'pods' }, code: 404 }
  }, 'a pod no route takes')
  t.match(await get(`${http}/api/v1/namespaces/plain/pods/p`, TOKEN), { status: 404, body: { message: 'pods "p" not found' } }, 'a route without channel protocols serves no pod')

  t.match(await get(`${http}/api/v1/namespaces/demo`, TOKEN), { status: 200, body: { kind: 'Namespace', metadata: { name: 'demo' }, status: { phase: 'Active' } } })
  t.match(await get(`${http}/api/v1/namespaces/fixed`, TOKEN), { status: 200, body: { kind: 'Namespace', metadata: { name: 'fixed' } } })
  t.match(await get(`${http}/api/v1/namespaces/Demo9`, TOKEN), { status: 404, body: { reason: 'NotFound', message: 'namespaces "Demo9" not found', details: { kind: 'namespaces' } } })
  t.match(await get(`${http}/api/v2`, TOKEN), { status: 404, body: { code: 'WSEXEC_ERR_ROUTE_NOT_FOUND' } }, 'anything else is not found as before')
})

t.test('a server without a Kubernetes exec route answers none of it', async (t) => {
  const s = await startServer(t, `/api/v1/namespaces/:ns/pods/:pod/exec:
  command: [cat]
  params: { ns: "[a-z]+", pod: "[a-z]+" }
/api/v1/namespaces/:ns/pods/:pod/attach:
  command: [cat]
  params: { ns: "[a-z]+", pod: "[a-z]+" }
  ${CHANNELS}
`)
  const http = s.url.replace('ws:', 'http:')
  for (const path of ['/version', '/api', '/api/v1/namespaces/a/pods/b']) {
    t.match(await get(`${http}${path}`), { status: 404, body: { code: 'WSEXEC_ERR_ROUTE_NOT_FOUND' } }, path)
  }
})

t.test('isKubeExecRoute and kubeAnswer on a compiled table', async (t) => {
  const config = await loadConfigText(`routes:
  /api/v1/namespaces/:ns/pods/:pod/exec:
    command: [cat]
    params: { ns: "[a-z]+", pod: "[a-z]+" }
    ${CHANNELS}
  /api/v1/namespaces/:ns/pods/:pod/exec/more:
    command: [cat]
    params: { ns: "[a-z]+", pod: "[a-z]+" }
    ${CHANNELS}
`, {}, { source: 'test.yaml', baseDir: process.cwd(), env: { PATH: process.env['PATH'] } })
  const table = compileRoutes(config.routes, config.maxParamLength)
  t.same(table.parameterised.map(isKubeExecRoute), [true, false])
  t.match(kubeAnswer(table, '/version'), { status: 200, body: { major: '1', minor: KUBERNETES_MINOR, compiler: 'wsexec' } })
  t.equal(kubeAnswer(table, '/api/v1/pods'), undefined)
  t.same([goPlatform('linux', 'x64'), goPlatform('linux', 'arm64')], ['linux/amd64', 'linux/arm64'], 'Go\'s architecture names')
  // fastify refuses such URLs with 400 before any route; the answers still name them as sent.
  t.match(kubeAnswer(table, '/api/v1/namespaces/demo/pods/%zz'), { status: 404, body: { message: 'pods "%zz" not found' } }, 'not decodable')
  t.match(kubeAnswer(table, '/api/v1/namespaces/%zz'), { status: 404, body: { message: 'namespaces "%zz" not found' } })
})
