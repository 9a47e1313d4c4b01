// TOKENGATE_CONFIG as an operator meets it: the built gateway started as a child process with a
// configuration file. A bad file exits 1 with one line per problem, naming its place and never a
// secret; UPSTREAM_URL beside the file is refused; a good file starts the gateway.
/* eslint-disable no-template-curly-in-string -- the file's own `${VAR}` syntax */
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { request } from 'undici'
import { stringify } from 'yaml'
import { emptyWorkdir, spawnGateway, startGatewayProcess } from '../helpers/process.js'
import { echoUpstream } from '../helpers/servers.js'

const SECRETS = { CHAT_AUTH_TOKEN: 'chat-access-secret-value', CHAT_REFRESH_TOKEN: 'chat-refresh-secret-value' }

function writeConfig (folder: string, config: object | string): string {
  const path = join(folder, 'gateway.yaml')
  writeFileSync(path, typeof config === 'string' ? config : stringify(config))
  return path
}

async function failedStart (t: Test, env: Record<string, string>, folder: string): Promise<string> {
  const gateway = spawnGateway({ TOKEN_STORE: 'memory', ...env }, folder)
  const { code } = await gateway.exited
  t.equal(code, 1, 'exit 1')
  const output = gateway.output()
  for (const secret of [...Object.values(SECRETS), 'graph-secret-in-file']) t.notMatch(output, secret, 'no secret is echoed')
  t.notMatch(output, /at .*\.js:\d+/, 'no stack trace')
  return output
}

t.test('a bad file exits 1 with one line per problem, each naming its place', async (t) => {
  const folder = emptyWorkdir()
  writeFileSync(join(folder, 'graph-secret'), 'graph-secret-in-file\n')
  writeConfig(folder, {
    credentials: {
      chat: { tokenUrl: 'auth.example.com/refresh', accessToken: '${CHAT_AUTH_TOKEN}', refreshToken: '${CHAT_REFRESH_TOKEN}' },
      graph: { grant: 'client_credentials', tokenUrl: 'https://login.example.com/token', clientId: 'gw', clientSecretFile: 'graph-secret', clientSecret: 'inline' }
    },
    routes: [
      { path: '/chat', upstream: 'https://api.example.com/v1', credential: 'chat' },
      { path: '/graph', upstream: 'https://graph.example.com', credential: 'grpah' }
    ]
  })
  // A relative TOKENGATE_CONFIG is read from the working folder.
  const output = await failedStart(t, { TOKENGATE_CONFIG: 'gateway.yaml', ...SECRETS }, folder)
  t.equal(output, [
    'tokengate: configuration error: credentials.chat.tokenUrl: must be an https or http URL',
    'tokengate: configuration error: credentials.graph.clientSecretFile: must not be set together with clientSecret',
    'tokengate: configuration error: routes[1].credential: unknown credential "grpah"',
    ''
  ].join('\n'), 'those lines and nothing else')
})

t.test('a syntax error, an unset variable and a missing file each say where', async (t) => {
  const folder = emptyWorkdir()
  const path = writeConfig(folder, 'credentials:\n  chat:\n    accessToken: "chat-access-secret-value\n')
  t.match(await failedStart(t, { TOKENGATE_CONFIG: path }, folder), new RegExp(`^tokengate: configuration error: ${path}:4:1: invalid YAML \\(missing char\\)\n$`))
  writeConfig(folder, {
    credentials: { chat: { tokenUrl: 'https://auth.example.com', accessToken: '${CHAT_AUTH_TOKEN}' } },
    routes: [{ path: '/', upstream: 'https://api.example.com', credential: 'chat' }]
  })
  t.equal(await failedStart(t, { TOKENGATE_CONFIG: path }, folder), 'tokengate: configuration error: credentials.chat.accessToken: ${CHAT_AUTH_TOKEN} is not set\n')
  t.equal(await failedStart(t, { TOKENGATE_CONFIG: join(folder, 'nope.yaml') }, folder),
    `tokengate: configuration error: TOKENGATE_CONFIG cannot be read: ${join(folder, 'nope.yaml')} (ENOENT)\n`)
})

t.test('UPSTREAM_URL together with TOKENGATE_CONFIG exits 1 naming UPSTREAM_URL', async (t) => {
  const folder = emptyWorkdir()
  const path = writeConfig(folder, {
    credentials: { chat: { tokenUrl: 'https://auth.example.com', accessToken: '${CHAT_AUTH_TOKEN}' } },
    routes: [{ path: '/', upstream: 'https://api.example.com', credential: 'chat' }]
  })
  t.equal(await failedStart(t, { TOKENGATE_CONFIG: path, UPSTREAM_URL: 'https://api.example.com', ...SECRETS }, folder),
    'tokengate: configuration error: UPSTREAM_URL must not be set together with TOKENGATE_CONFIG: the file names each route\'s upstream\n')
})

t.test('a good file starts the gateway; AUTH_TOKEN is not needed', async (t) => {
  const upstream = await echoUpstream(t)
  const folder = emptyWorkdir()
  const path = writeConfig(folder, {
    credentials: { chat: { tokenUrl: 'https://auth.example.com', accessToken: '${CHAT_AUTH_TOKEN}' } },
    routes: [{ path: '/chat', upstream: `${upstream.url}/v1`, credential: 'chat' }]
  })
  const gateway = await startGatewayProcess(t, { TOKENGATE_CONFIG: path, ...SECRETS }, folder)
  const res = await request(`${gateway.url}/chat/x`)
  t.equal(res.statusCode, 200)
  t.match(await res.body.json(), { url: '/v1/x', authorization: `Bearer ${SECRETS.CHAT_AUTH_TOKEN}` })
  t.equal((await request(`${gateway.url}/x`)).statusCode, 404, 'no route for /x')
})
