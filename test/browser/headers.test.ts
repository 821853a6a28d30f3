import t from 'tap'
import { fixture, startServer } from '../helpers/server.js'

t.test('browser files carry X-Content-Type-Options: nosniff and a frame-ancestors policy', async (t) => {
  const s = await startServer(t, `console: true\nstatic: { dir: ${JSON.stringify(fixture('www'))}, prefix: /app }\nroutes:\n  /echo:\n    command: [cat]\n`)
  for (const path of ['/app/index.html', '/app/reader.js', '/_wsexec/client.js', '/_wsexec/vendor/xterm.mjs', '/asyncapi.json']) {
    const res = await fetch(`http://127.0.0.1:${s.port}${path}`)
    t.equal(res.status, 200, path)
    t.equal(res.headers.get('x-content-type-options'), 'nosniff', `${path}: nosniff`)
    t.equal(res.headers.get('content-security-policy'), "frame-ancestors 'self'", `${path}: framed by this origin only`)
  }
  const page = await fetch(`http://127.0.0.1:${s.port}/`)
  t.equal(page.headers.get('x-content-type-options'), 'nosniff', 'the console: nosniff')
  t.match(page.headers.get('content-security-policy'), /frame-ancestors 'none'/, 'the console is framed by nobody')
})
