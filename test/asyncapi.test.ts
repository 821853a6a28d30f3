import { Parser, DiagnosticSeverity } from '@asyncapi/parser'
import t, { type Test } from 'tap'
import { asyncapiDocument, CLOSE_CODES } from '../src/asyncapi.js'
import { CloseCode } from '../src/close-codes.js'
import { loadConfigFile, parseConfig } from '../src/config/load.js'
import { VERSION } from '../src/version.js'

const parser = new Parser()

/** Parses the document with the official parser; fails the test on any error or warning. */
async function parse (t: Test, doc: unknown) {
  const { document, diagnostics } = await parser.parse(JSON.stringify(doc))
  const problems = diagnostics.filter((d) => d.severity === DiagnosticSeverity.Error || d.severity === DiagnosticSeverity.Warning)
  t.same(problems.map((d) => `${d.path.join('.')}: ${d.message}`), [], 'no errors or warnings')
  if (document === undefined) throw new Error('the document did not parse')
  return document
}

t.test('the bundled routes: one valid channel per route, with address, parameters and the ws binding', async (t) => {
  const config = await loadConfigFile('config/routes.yaml')
  const doc = asyncapiDocument(config)
  const parsed = await parse(t, doc)
  t.equal(parsed.version(), '3.1.0')
  t.equal(parsed.info().version(), VERSION)
  const server = parsed.servers().get('wsexec')
  t.equal(server?.host(), '127.0.0.1:8080')
  t.equal(server?.protocol(), 'ws')
  const channels = parsed.channels().all()
  t.same(channels.map((c) => c.address()), config.routes.map((r) => r.path.replace(':n', '{n}')))
  const count = parsed.channels().get('count_n')
  t.same(count?.parameters().all().map((p) => [p.id(), p.extensions().get('x-pattern')?.value()]), [['n', '^[0-9]{1,6}$']])
  t.match(count?.bindings().get('ws')?.value(), { method: 'GET', query: { type: 'object' } })
  t.same(count?.messages().all().map((m) => [m.id(), m.contentType()]), [['output', 'text/plain'], ['input', 'text/plain'], ['endOfInput', 'application/octet-stream']])
  t.same(count?.extensions().get('x-close-codes')?.value(), CLOSE_CODES)
  t.match(parsed.channels().get('bc')?.messages().get('output')?.payload()?.properties(), { stream: {}, data: {} }, 'stderr: tagged sends JSON')
  t.equal(parsed.channels().get('raw')?.messages().get('output')?.contentType(), 'application/octet-stream', 'binary chunks')
  t.equal(parsed.channels().get('raw')?.messages().get('input')?.contentType(), 'application/octet-stream')
  const operations = parsed.operations().all()
  t.equal(operations.length, 2 * channels.length, 'a receive and a send operation per route')
  t.same(parsed.operations().get('count_n_output')?.action(), 'receive')
  t.same(parsed.operations().get('count_n_input')?.messages().all().map((m) => m.id()), ['input', 'endOfInput'])
})

t.test('tty routes and channel protocols: terminal messages, resize, channel messages, query and subprotocols', async (t) => {
  const config = parseConfig(`routes:
  /shell: { command: [bash], tty: true, ttySize: { cols: 100, rows: 30 } }
  /raw: { command: [bash], tty: true, ttyControl: none, mode: binary }
  /exec: { command: [cat], protocols: [v5.channel.k8s.io, channel.k8s.io] }
  /both: { command: [bash], tty: true, protocols: [plain, v4.channel.k8s.io] }
`, 'x.yaml', '/')
  const parsed = await parse(t, asyncapiDocument(config))
  const ids = (id: string): string[] | undefined => parsed.channels().get(id)?.messages().all().map((m) => m.id())
  t.same(ids('shell'), ['output', 'input', 'resize', 'endOfInput'])
  t.equal(parsed.channels().get('shell')?.messages().get('resize')?.payload()?.required()?.[0], 'resize')
  t.same(ids('raw'), ['output', 'input', 'endOfInput'])
  t.same(ids('exec'), ['output', 'input'])
  t.match(parsed.channels().get('exec')?.messages().get('output')?.summary(), /3, last, just before the close \(1000\): a Kubernetes Status JSON/)
  t.same(ids('both'), ['output', 'channelOutput', 'input', 'resize', 'endOfInput', 'channelInput'])
  t.same(parsed.operations().get('both_input')?.messages().all().map((m) => m.title()), ['Keystrokes', 'Terminal resize', 'End of input', 'Channel message from the client'])
  const query = (id: string): string[] => Object.keys((parsed.channels().get(id)?.bindings().get('ws')?.value() as { query: { properties: object } }).query.properties)
  t.same(query('shell'), ['cols', 'rows'])
  t.same(query('exec'), ['stdin', 'stdout', 'stderr', 'tty'])
  t.same(query('both'), ['cols', 'rows', 'stdin', 'stdout', 'stderr', 'tty'])
  t.match(parsed.channels().get('exec')?.extensions().get('x-wsexec')?.value(), { tty: false, protocols: ['v5.channel.k8s.io', 'channel.k8s.io'] })
  t.match(parsed.channels().get('shell')?.extensions().get('x-wsexec')?.value(), { tty: true, ttySize: { cols: 100, rows: 30 }, ttyControl: 'json', protocols: ['plain'] })
  t.match(parsed.channels().get('shell')?.description(), 'pseudo-terminal')
  t.match(parsed.channels().get('exec')?.description(), 'on channel sessions it is 1000')
})

t.test('channel ids are unique and valid; the server follows the request; TLS is wss', async (t) => {
  const config = parseConfig(`routes:
  /: { command: [cat] }
  /a/b: { command: [cat] }
  /a_b: { command: [cat] }
  /x/:id/y: { command: [cat, "{id}"], params: { id: "[a-z]+" }, mode: binary }
  /a~b: { command: [cat] }
`, 'x.yaml', '/')
  const doc = asyncapiDocument(config, { host: 'example.org:443', secure: true })
  const parsed = await parse(t, doc)
  t.same(parsed.channels().all().map((c) => c.id()), ['root', 'a_b', 'a_b_2', 'x_id_y', 'a_b_3'])
  t.same(parsed.channels().all().map((c) => c.address()), ['/', '/a/b', '/a_b', '/x/{id}/y', '/a~b'])
  t.equal(parsed.servers().get('wsexec')?.protocol(), 'wss')
  t.equal(parsed.servers().get('wsexec')?.host(), 'example.org:443')
})

t.test('the close codes listed are the ones wsexec sends', async (t) => {
  t.same(CLOSE_CODES.map((c) => c.code), ['1000', '4000+N', '4128+N', '1011', '1001', '1002', '1007', '1009'])
  t.equal(String(CloseCode.NORMAL), CLOSE_CODES[0]?.code)
  t.ok(Object.isFrozen(CLOSE_CODES) && Object.isFrozen(CLOSE_CODES[0]))
})
