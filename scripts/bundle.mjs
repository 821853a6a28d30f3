// Bundles the command (src/bin.ts) into dist/bin.js with esbuild, after `tsc` has built dist/:
// one file for what every start needs, and chunks under dist/chunks/ for what is imported
// lazily (the session code, the client, AsyncAPI, --dir, the rate limiter). Node then reads
// a few files instead of resolving and compiling some 600 modules. The package's API
// (dist/index.js) stays tsc's output.
//
// What stays outside the bundle, loaded from node_modules as before:
// - native code and worker files: @lydell/node-pty, piscina (and its workers; the bcrypt
//   worker is tsc's dist/security/password-worker.js);
// - what wsexec loads only on demand with createRequire: ajv (an invalid configuration),
//   pino-pretty (a terminal), fastify's schema compilers (a route with a schema);
// - what fastify requires only when used: light-my-request (`inject`);
// - CommonJS packages that wsexec imports with import() (rate-limiter-flexible): esbuild gives
//   such a chunk a default export only, Node gives it its named exports too.
// Files found next to a module (package.json, LICENSE, the prebuilt validator, src/public) are
// found from tsc's output: each bundled module's `import.meta.url` becomes the URL its own file
// has in dist/.
import { readdirSync, readFileSync, rmSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { relative } from 'node:path'
import { build } from 'esbuild'

const root = new URL('..', import.meta.url).pathname
const SRC = `${root}src/`
const DIST = `${root}dist/`
/** Matches the URL of a chunk (dist/chunks/*.js) as opposed to the entry (dist/bin.js). */
const IN_CHUNKS = '/\\/chunks\\/[^/]+$/'

/** Rewrites `import.meta.url` in src/X.ts to the URL of dist/X.js, from the bundle file that holds it. */
const distUrls = {
  name: 'wsexec-dist-urls',
  setup (b) {
    b.onLoad({ filter: /\/src\/.*\.ts$/ }, async (args) => {
      const text = await readFile(args.path, 'utf8')
      const file = JSON.stringify(relative(SRC, args.path).replace(/\.ts$/, '.js'))
      const url = `new URL(${file}, new URL(${IN_CHUNKS}.test(import.meta.url) ? '../' : './', import.meta.url)).href`
      return { contents: text.replaceAll('import.meta.url', url), loader: 'ts' }
    })
  }
}

// Chunks are named by their content: the previous build's would stay behind.
rmSync(`${DIST}chunks`, { recursive: true, force: true })
try {
  await build({
    entryPoints: { bin: `${SRC}bin.ts` },
    outdir: DIST,
    chunkNames: 'chunks/[name]-[hash]',
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    // Bundled CommonJS packages call require() for Node's built-ins.
    banner: { js: "import { createRequire as __wsexecRequire } from 'node:module'; const require = __wsexecRequire(import.meta.url);" },
    external: ['@lydell/node-pty', 'piscina', 'ajv', 'pino-pretty', '@fastify/ajv-compiler', '@fastify/fast-json-stringify-compiler', 'light-my-request', 'rate-limiter-flexible'],
    plugins: [distUrls],
    legalComments: 'none',
    logLevel: 'warning'
  })
  // A CommonJS package behind import() becomes a chunk with a default export only (see above).
  for (const name of readdirSync(`${DIST}chunks`)) {
    if (/^export default require_/m.test(readFileSync(`${DIST}chunks/${name}`, 'utf8'))) {
      throw new Error(`dist/chunks/${name}: a CommonJS package imported with import() lost its named exports; add it to external`)
    }
  }
  // tsc's map described the file the bundle replaced.
  rmSync(`${DIST}bin.js.map`, { force: true })
} catch (err) {
  // No half build: without dist/bin.js, scripts/build-if-stale.mjs builds again next time.
  rmSync(`${DIST}bin.js`, { force: true })
  throw err
}
