/** Log levels accepted by `--log-level` (pino's). */
export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const

/** websocketd's `--loglevel` values, and the wsexec level each one means. */
export const WEBSOCKETD_LOG_LEVELS: Readonly<Record<string, typeof LOG_LEVELS[number]>> = {
  debug: 'debug', trace: 'trace', access: 'info', info: 'info', error: 'error', fatal: 'fatal'
}

/** The help text of `wsexec --help`. */
export const USAGE = `Usage: wsexec [options] [-c FILE]
       wsexec [options] COMMAND [ARGS...]     (or: -- COMMAND [ARGS...])
       wsexec [options] --dir=FOLDER
       wsexec connect [options] URL           (wsexec connect --help)

Serves programs that read stdin and write stdout as WebSocket endpoints.
Each connection starts its own process; the routes come from a YAML file,
or a COMMAND is served at every path (the rest of the path in PATH_INFO),
or every executable file in FOLDER is served at its name.

Options:
  -c, --config FILE     routes file (default: config/routes.yaml)
      --host HOST       address to listen on (overrides the file; default 127.0.0.1)
  -p, --port PORT       port to listen on, 0 for any free port (overrides the file)
      --socket PATH     listen on a Unix socket instead (overrides the file)
      --watch           reload the routes file when it changes (SIGHUP reloads too)
      --drain-timeout D how long sessions may finish on SIGTERM (overrides shutdown.drainTimeout; 30s)
      --log-level LEVEL ${LOG_LEVELS.join(', ')} (default: info)
      --check           validate the configuration, print its routes, and exit
      --console         serve the dev console page at / (overrides the file)
      --asyncapi        print the AsyncAPI document of the routes, and exit
      --print-config    print the routes file equivalent to the command line, and exit
  -h, --help            show this help
  -v, --version         show the version

websocketd's options (same meaning; see the README's table of differences):
      --address ADDR    address to listen on; repeat it for several (default 127.0.0.1)
      --dir FOLDER      serve every executable file in FOLDER (and its subfolders) at its path
      --staticdir DIR   serve the files in DIR over plain HTTP
      --devconsole      serve the dev console page at / (as --console)
      --binary          binary mode: raw chunks instead of lines
      --passenv A,B     server environment variables handed down (default PATH,LD_LIBRARY_PATH)
      --maxforks N      at most N sessions at once (0: no limit)
      --closems MS      after the client leaves, MS milliseconds before the program is signalled
      --origin H[:P],…  allow only these browser origins (requests without Origin are refused)
      --sameorigin      allow only the page's own origin, and refuse requests without Origin
      --ssl --sslcert FILE --sslkey FILE   serve wss:// and https://
      --sslca FILE      with --ssl: require client certificates signed by FILE
      --unixsocket PATH listen on a Unix socket (as --socket)
      --passstderr      send stderr to the client as tagged JSON (stderr: tagged)
      --maxframesize N  largest client message in bytes (maxMessageBytes)
      --pingms MS       ping clients every MS milliseconds (pingInterval; 0: never)
      --header 'N: V'   add a header to every response (--header-ws: upgrades, --header-http: others)
      --loglevel LEVEL  ${Object.keys(WEBSOCKETD_LOG_LEVELS).join(', ')}
      --reverselookup   accepted and ignored (REMOTE_HOST is the client's address)
      --license         show the license
      --cgidir          not supported: wsexec serves WebSocket endpoints only
Options are written --name=value or --name value (one dash works too).

Signals: SIGTERM/SIGINT drain (running sessions may finish for shutdown.drainTimeout),
a second one ends every session at once; SIGHUP reloads the routes file.
Exit codes: 0 ok, 1 runtime failure, 2 usage or configuration error.
`
