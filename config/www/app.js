// Example front end served by `static:` (config/browser.yaml), using wsexec's client module.
import { open } from '/_wsexec/client.js'

const form = document.getElementById('calc')
const expr = document.getElementById('expr')
const result = document.getElementById('result')
const status = document.getElementById('status')

form.addEventListener('submit', async (event) => {
  event.preventDefault()
  result.textContent = ''
  status.textContent = ''
  const session = await open('/bc')
  await session.send(expr.value)
  await session.send('quit') // bc exits: the close code carries its exit status
  for await (const message of session) {
    const { stream, data } = JSON.parse(message) // stderr: tagged
    result.textContent += stream === 'stderr' ? `error: ${data}\n` : `${data}\n`
  }
  const ending = await session.closed
  status.textContent = `${ending.text} (close code ${ending.code}, over ${session.transport})`
})
