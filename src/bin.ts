#!/usr/bin/env node
import { main } from './cli/main.js'
import { limitYoungGeneration } from './young-generation.js'

// An 8 MiB young generation (V8 grows it to 16 MiB by default) keeps the memory a flood of output
// takes small without slowing the other directions down, however node was started: see README, Memory.
limitYoungGeneration()

process.exitCode = await main(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
  stdin: process.stdin,
  env: process.env,
  cwd: process.cwd(),
  signals: process
})
