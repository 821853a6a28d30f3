import { conc } from './conc.js'
import { down } from './down.js'
import { downWide, downWide100, downWide64k } from './down-wide.js'
import { flood } from './flood.js'
import { longLine } from './long-line.js'
import { rtt } from './rtt.js'
import { spawnScenario } from './spawn.js'
import { spawnStorm } from './spawn-storm.js'
import { startup } from './startup.js'
import type { Scenario } from './types.js'
import { up } from './up.js'

/** Every scenario, in the order a run executes them. */
export const SCENARIOS: readonly Scenario[] = [startup, down, downWide, downWide64k, downWide100, up, rtt, spawnScenario, spawnStorm, conc, flood, longLine]
