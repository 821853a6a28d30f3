#!/usr/bin/env -S node --max-semi-space-size=8
// An 8 MiB young generation (V8 grows it to 16 MiB by default) keeps the memory a flood of output
// takes small without slowing the other directions down: see README, Memory.
import { main } from './cli/main.js'

process.exitCode = await main(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
  stdin: process.stdin,
  env: process.env,
  cwd: process.cwd(),
  signals: process
})
