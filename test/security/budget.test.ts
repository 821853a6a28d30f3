import { readFileSync } from 'node:fs'
import t from 'tap'
import { loadConfigText } from '../../src/config/pipeline.js'
import { budgetFor, budgetWarning, effectiveLimits, limitNeeded, PER_SESSION, readBudget, RESERVE, softLimit } from '../../src/security/budget.js'
import { Metrics } from '../../src/server/metrics.js'
import { parseExposition, valueOf } from '../helpers/metrics.js'
import { startServer } from '../helpers/server.js'

const LIMITS = `Limit                     Soft Limit           Hard Limit           Units
Max processes             63704                63704                processes
Max open files            256                  4096                 files
`

t.test('the soft descriptor limit is read from /proc/self/limits', async (t) => {
  t.equal(softLimit(LIMITS), 256)
  t.equal(softLimit(LIMITS.replace('256 ', 'unlimited ')), undefined, 'unlimited: no budget')
  t.equal(softLimit('Max processes 10 10\n'), undefined, 'not there: no budget')
  const budget = readBudget(2)
  t.equal(budget?.limit, softLimit(readFileSync('/proc/self/limits', 'utf8')), 'this process\'s own')
  t.ok((budget?.reserved ?? 0) > RESERVE + 2, 'its open descriptors and the spawners\' channels are reserved')
  t.equal(readBudget(2, '/nonexistent'), undefined, 'without /proc: no budget')
})

t.test('a session costs its socket and three pipes; connections get what the sessions leave', async (t) => {
  const budget = budgetFor(256, 20, 2)
  t.same(budget, { limit: 256, reserved: 20 + 2 + RESERVE, maxSessions: Math.floor((256 - 62) / (PER_SESSION + 1)) })
  const capped = effectiveLimits({ maxSessions: 1000, maxConnections: 2000 }, budget)
  t.same(capped, { maxSessions: 38, maxConnections: 256 - 62 - 3 * 38, capped: true })
  t.ok(budget.reserved + 3 * capped.maxSessions + capped.maxConnections <= 256, 'every session and connection fits')
  t.same(effectiveLimits({ maxSessions: 10, maxConnections: 20 }, budget), { maxSessions: 10, maxConnections: 20, capped: false }, 'limits within the budget stay')
  t.same(effectiveLimits({ maxSessions: 10, maxConnections: Infinity }, budget), { maxSessions: 10, maxConnections: 256 - 62 - 30, capped: true }, 'no connection cap: the budget\'s')
  t.same(effectiveLimits({ maxSessions: 0, maxConnections: Infinity }, budget), { maxSessions: 38, maxConnections: 80, capped: true }, 'no session limit: the budget\'s')
  t.same(effectiveLimits({ maxSessions: 0, maxConnections: Infinity }, undefined), { maxSessions: 0, maxConnections: Infinity, capped: false }, 'no budget: as configured')
  t.equal(budgetFor(30, 20, 2).maxSessions, 1, 'at least one session (0 would mean no limit)')
  t.equal(effectiveLimits({ maxSessions: 5, maxConnections: 10 }, budgetFor(30, 20, 2)).maxConnections, 1, 'and at least one connection')
})

t.test('the warning names the limit, what fits and how to raise it', async (t) => {
  const budget = budgetFor(256, 20, 2)
  const configured = { maxSessions: 1000, maxConnections: 2000 }
  t.equal(limitNeeded(configured, budget), 62 + 3000 + 2000)
  t.equal(limitNeeded({ maxSessions: 0, maxConnections: Infinity }, budget), undefined)
  t.match(budgetWarning(configured, budget, effectiveLimits(configured, budget)), {
    descriptorLimit: 256,
    reserved: 62,
    maxSessions: 38,
    maxConnections: 80,
    configured,
    raise: 'ulimit -n 5062 (shell), LimitNOFILE=5062 (systemd), --ulimit nofile=5062 (docker)'
  })
  t.match(budgetWarning({ maxSessions: 0, maxConnections: Infinity }, budget, effectiveLimits({ maxSessions: 0, maxConnections: Infinity }, budget)), { raise: /^ulimit -n 65536 / }, 'unlimited: a round figure')
})

t.test('a server whose limits exceed the descriptors: the budget\'s in effect, one warning, exposed in /metrics; a reload applies it again', async (t) => {
  const s = await startServer(t, 'maxSessions: 100000\nmaxSessionsPerClient: 100000\nroutes:\n  /cat:\n    command: [cat]\n')
  const warnings = s.logs.filter((r) => r.msg === 'descriptor limit too low for the configured limits')
  t.equal(warnings.length, 1, 'one warning at start-up')
  const budget = readBudget(s.app.wsexec.config.spawners) as NonNullable<ReturnType<typeof readBudget>>
  t.match(warnings[0], { level: 40, descriptorLimit: budget.limit, configured: { maxSessions: 100000, maxConnections: 200000 }, raise: /ulimit -n \d+ .*LimitNOFILE=\d+ .*--ulimit nofile=\d+/ })
  const samples = parseExposition((await s.app.inject({ url: '/metrics' })).body)
  const sessions = valueOf(samples, 'wsexec_sessions_max')
  t.equal(sessions, warnings[0]?.['maxSessions'], 'the sessions in effect')
  t.ok(sessions < 100000 && sessions > 0)
  t.equal(valueOf(samples, 'wsexec_connections_max'), warnings[0]?.['maxConnections'], 'the connections in effect')
  t.equal(valueOf(samples, 'wsexec_descriptors_limit'), budget.limit)
  t.ok(valueOf(samples, 'wsexec_descriptors_reserved') > RESERVE)
  t.equal(valueOf(samples, 'wsexec_connections_open'), 0, 'inject opens no connection')
  s.app.wsexec.reload(await loadConfigText('maxSessions: 10\nroutes:\n  /cat:\n    command: [cat]\n', {}, { source: 'next.yaml', baseDir: '/', env: {} }))
  const after = parseExposition((await s.app.inject({ url: '/metrics' })).body)
  t.equal(valueOf(after, 'wsexec_sessions_max'), 10, 'a reload within the budget: as configured')
  t.equal(valueOf(after, 'wsexec_connections_max'), 20)
  t.equal(s.logs.filter((r) => r.msg === 'descriptor limit too low for the configured limits').length, 1, 'no new warning')
})

t.test('an unlimited limit gives no budget; /metrics then shows 0 for it, and no starts without spawners', async (t) => {
  const proc = t.testdir({ limits: LIMITS.replace('256 ', 'unlimited '), fd: { 0: '', 1: '' } })
  t.equal(readBudget(1, proc), undefined)
  const metrics = new Metrics()
  metrics.trackLimits({ budget: undefined, limits: { maxSessions: 0, maxConnections: Infinity }, connections: undefined }, () => undefined)
  const text = await metrics.registry.metrics()
  const samples = parseExposition(text)
  const names = new Set(samples.map((s) => s.name))
  for (const name of ['wsexec_descriptors_limit', 'wsexec_descriptors_reserved', 'wsexec_sessions_max', 'wsexec_connections_max', 'wsexec_connections_open', 'wsexec_starts_pending']) t.ok(names.has(name), `${name} is exposed`)
  t.match(text, /^wsexec_connections_max \+Inf$/m, 'no cap: +Inf')
  t.equal(valueOf(samples, 'wsexec_descriptors_limit'), 0)
  t.equal(valueOf(samples, 'wsexec_descriptors_reserved'), 0)
  t.equal(valueOf(samples, 'wsexec_connections_open'), 0)
  t.equal(valueOf(samples, 'wsexec_starts_pending', { state: 'queued' }), 0)
  t.equal(valueOf(samples, 'wsexec_starts_pending', { state: 'sent' }), 0)
})
