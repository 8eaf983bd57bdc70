/**
 * `fulcrum COMMAND --help`: each command's options, each with an example,
 * as `git help` and `kubectl … --help` give them.
 */
const ADMIN_OPTIONS = `
  --admin URL    the admin API (default $FULCRUM_ADMIN, else http://127.0.0.1:9901);
                 a path on the traffic listener where the API is one: --admin https://lb.example.com/__fulcrum/api
  --token T      bearer token (default $FULCRUM_ADMIN_TOKEN)`;

const CONFIG_OPTION = `
  --config FILE  the config (default $FULCRUM_CONFIG, else ./fulcrum.json): --config /etc/fulcrum/fulcrum.json`;

export const HELP: Readonly<Record<string, string>> = {
  serve: `fulcrum serve [--config FILE] [--runtime bun|deno|node|workerd] [--port N] [--workers N|auto]
  Check the config (as fulcrum check does), then run the balancer on a runtime.
${CONFIG_OPTION}
  --runtime R    bun (default), deno, node, or workerd (a local Workers runtime for development): --runtime node
  --port N       the first listener's port instead of the config's: --port 9000
  --workers N|auto  (bun, deno, node) N worker processes share the listeners under a primary that holds the
                 state and serves the admin API; auto = one per CPU. Default: the config's workers, else one process: --workers auto
  --deno-server deno|node   (deno) Deno.serve, or Deno's node:http with client timeouts: --deno-server node
  --trust-cf-connecting-ip  (workerd) believe the CF-Connecting-IP a client sends (local tests of sourceIp rules)
  Signals: SIGHUP reloads the config; SIGTERM and SIGINT shut down gracefully; SIGUSR2 replaces the workers one by one.
  Examples: fulcrum serve --config fulcrum.json --runtime node
            fulcrum serve --config fulcrum.json --workers auto`,
  check: `fulcrum check [--config FILE] [--runtime bun|deno|node|workerd]
  Validate like nginx -t: every problem by field path; certificate and key files opened and parsed,
  secrets from the environment present; exit 0 with a summary, or 1.
${CONFIG_OPTION}
  --runtime R    where it will run: workerd names listen keys a Worker ignores: --runtime workerd
  Example: fulcrum check --config fulcrum.json`,
  build: `fulcrum build workers [--config FILE] --out DIR [--name NAME]
  A ready wrangler project for Cloudflare Workers in DIR: the config checked (a bad one fails the build
  with its field paths), bundled into worker.mjs, and a wrangler.toml (cron for health checks, the
  Durable Object when state.store is cloudflare). Literal secrets in the config are named as warnings.
${CONFIG_OPTION}
  --out DIR      the folder to write: --out deploy/workers
  --name NAME    the Worker's name (default fulcrum): --name lb-prod
  Example: fulcrum build workers --config fulcrum.json --out deploy/workers && cd deploy/workers && npx wrangler deploy
fulcrum build entry node|deno
  Rebuild the bundle fulcrum serve runs on Node or Deno (node_modules/.cache/fulcrum); fulcrum restart runs it.
  Example: fulcrum build entry node`,
  demo: `fulcrum demo [--port N]
  Three demo backends behind the balancer (npm start), with the admin API on 127.0.0.1:9901.
  --port N       the balancer's port (default $PORT, else 8080): --port 8081
  Example: fulcrum demo`,
  status: `fulcrum status [--json]
  Groups and targets (state, weight, in flight, draining, overridden), rules and their actions,
  the config file and version, the state store.
  --json         the API's JSON instead of tables${ADMIN_OPTIONS}
  Example: fulcrum status --admin http://10.0.0.5:9901 --token "$TOKEN"`,
  route: `fulcrum route RULE GROUP | RULE GROUP=W GROUP=W ... | RULE --config
  Blue/green, canary or back to the file: RULE is a rule's priority or default; weights 0-999.
  --config       back to the config file's action${ADMIN_OPTIONS}
  Examples: fulcrum route default green
            fulcrum route 10 blue=90 green=10
            fulcrum route 10 --config`,
  drain: `fulcrum drain GROUP TARGET
  No new requests or sessions; sticky clients and WebSockets stay until the group's deregistrationDelay.
  TARGET is a target's name or URL.${ADMIN_OPTIONS}
  Example: fulcrum drain app app1`,
  ready: `fulcrum ready GROUP TARGET
  Back in service (through slow start where the group has it); cancels a pending removal.${ADMIN_OPTIONS}
  Example: fulcrum ready app app1`,
  weight: `fulcrum weight GROUP TARGET N|config
  Set a target's weight (0-1000; 0 takes it out of new traffic), or back to the config file's.${ADMIN_OPTIONS}
  Examples: fulcrum weight app app1 5
            fulcrum weight app app1 config`,
  target: `fulcrum target add GROUP URL [--name N] [--weight W] [--backup] | target remove GROUP TARGET
  Add a target (an origin, scheme://host:port), or remove one: it drains first, then leaves after deregistrationDelay.
  --name N       what commands and the stats page call it: --name app4
  --weight W     0-1000 (default 1): --weight 3
  --backup       used only when no primary target is available${ADMIN_OPTIONS}
  Examples: fulcrum target add app http://10.0.0.7:8080 --name app4
            fulcrum target remove app app4`,
  reload: `fulcrum reload
  Re-read the config file the balancer started with; invalid: nothing changes, problems listed, exit 1.
  Overrides whose rule or target remain are kept; the answer says which were dropped.${ADMIN_OPTIONS}
  Example: fulcrum reload`,
  restart: `fulcrum restart
  Replace the worker processes one by one (a balancer serving with --workers): each new worker serves
  before the one it replaces stops accepting and finishes its requests; on Node and Deno the bundle is
  rebuilt first, so new files on disk become the new code. A new worker that cannot start stops it there.${ADMIN_OPTIONS}
  Example: fulcrum restart`,
  events: `fulcrum events [--json]
  The change log: API commands, reloads and health transitions, with who, where and before -> after.
  --json         the API's JSON instead of a table${ADMIN_OPTIONS}
  Example: fulcrum events --json`,
};
