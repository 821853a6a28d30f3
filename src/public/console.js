// The dev console served at / when `console: true` (or --console). Lists the routes from
// asyncapi.json and opens sessions with the client module.
import { open } from './client.js'
import { Terminal } from './vendor/xterm.mjs'
import { FitAddon } from './vendor/addon-fit.mjs'

/** Lines kept on screen; older ones are dropped so a long session cannot grow the page forever. */
const MAX_LINES = 2000

const $ = (id) => document.getElementById(id)
const routes = new Map()
let session = null
let sessionRoute = null
let terminal = null

function element (tag, text, className) {
  const el = document.createElement(tag)
  if (text !== undefined) el.textContent = text
  if (className !== undefined) el.className = className
  return el
}

async function loadRoutes () {
  const response = await fetch('asyncapi.json')
  if (!response.ok) throw new Error(`asyncapi.json: HTTP ${response.status}`)
  const doc = await response.json()
  $('server').textContent = `${doc.info.title} ${doc.info.version} — ${Object.keys(doc.channels).length} route${Object.keys(doc.channels).length === 1 ? '' : 's'}, ${doc.servers.wsexec.protocol}://${doc.servers.wsexec.host}`
  for (const channel of Object.values(doc.channels)) {
    const route = channel['x-wsexec']
    routes.set(route.path, route)
    const item = element('li')
    item.append(element('code', route.path), element('span', route.tty ? `terminal, ${route.mode}` : `${route.mode}, stderr ${route.stderr}`, 'tag'))
    $('routes').append(item)
    $('route').append(new Option(route.path, route.path))
  }
  showParams()
}

function showParams () {
  const route = routes.get($('route').value)
  const fieldset = $('params')
  fieldset.replaceChildren(element('legend', 'Path parameters'))
  const names = route === undefined ? [] : Object.keys(route.params)
  fieldset.hidden = names.length === 0
  for (const name of names) {
    const p = element('p')
    const label = element('label', `:${name}`)
    const input = element('input')
    label.htmlFor = input.id = `param-${name}`
    input.name = name
    input.required = true
    input.autocomplete = 'off'
    input.title = `must match ${route.params[name]}`
    input.placeholder = route.params[name]
    p.append(label, input)
    fieldset.append(p)
  }
}

function show (text, kind) {
  const output = $('output')
  const item = element('li', undefined, kind)
  item.append(element('span', kind === 'stdout' ? '' : kind, 'label'), document.createTextNode(text))
  output.append(item)
  while (output.childElementCount > MAX_LINES) output.firstElementChild.remove()
  output.scrollTop = output.scrollHeight
}

function showMessage (message, route) {
  if (typeof message !== 'string') {
    show(new TextDecoder().decode(message), 'binary')
    return
  }
  if (route.stderr === 'tagged') {
    try {
      const tagged = JSON.parse(message)
      show(tagged.data, tagged.stream)
      return
    } catch {
      // not tagged after all: show it as it came
    }
  }
  show(message, 'stdout')
}

function showEnding (ending) {
  const box = $('ending')
  box.className = ending.ok ? 'ok' : 'failed'
  const list = element('dl')
  const rows = [['Close code', String(ending.code)], ['Reason', ending.reason === '' ? '(none)' : ending.reason], ['Exit status', ending.text]]
  for (const [term, value] of rows) list.append(element('dt', term), element('dd', value))
  box.replaceChildren(element('strong', 'Session ended'), list)
}

/** A terminal for a tty route: keystrokes go to the program, its size follows the window. */
function openTerminal () {
  const box = $('terminal')
  box.hidden = false
  $('output').hidden = true
  $('send-form').hidden = true
  terminal?.dispose()
  const term = new Terminal({ convertEol: false, scrollback: MAX_LINES })
  const fit = new FitAddon()
  term.loadAddon(fit)
  term.open(box)
  fit.fit()
  const onWindow = () => fit.fit()
  window.addEventListener('resize', onWindow)
  terminal = { term, dispose: () => { window.removeEventListener('resize', onWindow); term.dispose() } }
  return term
}

async function runTerminal (route, params) {
  const term = openTerminal()
  const query = new URLSearchParams($('query').value)
  query.set('cols', String(term.cols))
  query.set('rows', String(term.rows))
  session = await open(route.path, { params, query: query.toString() })
  const current = session
  term.onData((data) => { current.send(data).catch(() => {}) })
  term.onResize(({ cols, rows }) => { current.send(JSON.stringify({ resize: { cols, rows } })).catch(() => {}) })
  term.focus()
  return current
}

function setOpen (isOpen) {
  $('open').disabled = isOpen
  $('close').disabled = !isOpen
  $('line').disabled = !isOpen
  $('send').disabled = !isOpen
  $('end').disabled = !isOpen
}

async function start (event) {
  event.preventDefault()
  const route = routes.get($('route').value)
  const params = Object.fromEntries(new FormData($('open-form')))
  delete params.route
  delete params.query
  $('output').replaceChildren()
  $('ending').replaceChildren()
  $('terminal').hidden = true
  $('output').hidden = false
  $('send-form').hidden = false
  // A terminal takes keystrokes: no line to send there (End input stays: it types Ctrl-D).
  for (const element of [$('line'), $('send'), document.querySelector('label[for="line"]')]) element.hidden = route.tty
  $('connection').textContent = `Connecting to ${route.path}…`
  setOpen(true)
  try {
    if (route.tty) await runTerminal(route, params)
    else session = await open(route.path, { params, query: $('query').value })
  } catch (err) {
    $('connection').textContent = `${err.message} (unknown path, or a parameter that does not match its pattern).`
    setOpen(false)
    return
  }
  sessionRoute = route
  $('connection').textContent = `Connected to ${session.url.pathname}${session.url.search} over ${session.transport === 'websocketstream' ? 'WebSocketStream (with backpressure)' : 'WebSocket'}.`
  const current = session
  if (route.tty) {
    // Each write waits for the terminal to draw it: a page that cannot keep up holds the program back.
    for await (const message of current) await new Promise((resolve) => terminal.term.write(message, resolve))
  } else {
    $('line').focus()
    for await (const message of current) showMessage(message, route)
  }
  showEnding(await current.closed)
  if (session === current) {
    session = null
    setOpen(false)
    $('connection').textContent = `Disconnected from ${current.url.pathname}.`
  }
}

async function send (event) {
  event.preventDefault()
  const line = $('line').value
  if (session === null) return
  $('line').value = ''
  show(line, 'sent')
  // Binary routes write messages as they are: add the newline a line-reading program expects.
  await session.send(sessionRoute.mode === 'binary' ? `${line}\n` : line)
}

$('route').addEventListener('change', showParams)
$('open-form').addEventListener('submit', start)
$('send-form').addEventListener('submit', send)
async function endInput () {
  if (session === null) return
  show('(end of input)', 'sent')
  $('line').disabled = $('send').disabled = $('end').disabled = true
  await session.end()
}

$('end').addEventListener('click', endInput)
$('line').addEventListener('keydown', (event) => {
  if (event.ctrlKey && event.key === 'd') {
    event.preventDefault()
    endInput()
  }
})
$('close').addEventListener('click', () => session?.close('closed from the console'))
loadRoutes().catch((err) => { $('server').textContent = `Cannot load the routes: ${err.message}` })
