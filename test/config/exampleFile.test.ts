// examples/tokengate.yaml, as a user copies it: it loads, with the variables it names and the
// secret file beside it, into the definition its comments describe.
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { loadGatewayFile } from '../../src/config/gatewayFile.js'
import { ConfigError, formatConfigProblem } from '../../src/errors.js'
import { ROOT } from '../helpers/process.js'

const DEFAULTS = { expiryBufferMs: 5 * 60_000, refreshIntervalMs: 30 * 60_000, timeoutMs: 30_000, accessTokenMaxBytes: 8192 }
const VARIABLES = { CHAT_AUTH_TOKEN: 'at-chat', CHAT_REFRESH_TOKEN: 'rt-chat' }

/** The example copied to a folder of its own, with its secret file where it says. */
function copyOfExample (): string {
  const folder = mkdtempSync(join(tmpdir(), 'tokengate-example-'))
  const path = join(folder, 'tokengate.yaml')
  writeFileSync(path, readFileSync(join(ROOT, 'examples', 'tokengate.yaml')))
  mkdirSync(join(folder, 'secrets'))
  writeFileSync(join(folder, 'secrets', 'graph-client-secret'), 'graph-client-secret-value\n')
  return path
}

t.test('the example loads into two credentials and three routes', async (t) => {
  const path = copyOfExample()
  const definition = loadGatewayFile(path, VARIABLES, DEFAULTS)
  t.same(definition.credentials, [{
    name: 'chat',
    tokenGrant: 'refresh_token',
    refreshStyle: 'json',
    refreshUrl: 'https://auth.example.com/v2/refresh-session',
    accessToken: 'at-chat',
    refreshToken: 'rt-chat',
    oauthClient: null,
    expiryBufferMs: 5 * 60_000,
    refreshIntervalMs: 30 * 60_000,
    files: {}
  }, {
    name: 'graph',
    tokenGrant: 'client_credentials',
    refreshStyle: 'client_credentials',
    refreshUrl: 'https://login.example.com/oauth2/token',
    accessToken: null,
    refreshToken: null,
    oauthClient: { clientId: 'tokengate', clientSecret: 'graph-client-secret-value', scope: 'api.read api.write' },
    expiryBufferMs: 5 * 60_000,
    refreshIntervalMs: 30 * 60_000,
    files: { clientSecret: join(path, '..', 'secrets', 'graph-client-secret') }
  }])
  t.same(definition.routes.map((route) => [route.path, route.upstream.href, route.credential, route.timeoutMs]), [
    ['/chat', 'https://api.example.com/v1', 'chat', 30_000],
    ['/graph', 'https://graph.example.com/v1.0', 'graph', 60_000],
    ['/chat-files', 'https://files.example.com/v2', 'chat', 30_000]
  ])
})

t.test('without its variables the example says which are missing', async (t) => {
  let err: unknown = null
  try {
    loadGatewayFile(copyOfExample(), {}, DEFAULTS)
  } catch (caught) {
    err = caught
  }
  t.ok(err instanceof ConfigError)
  t.same((err as ConfigError).problems.map(formatConfigProblem), [
    // eslint-disable-next-line no-template-curly-in-string -- the lines quote the file's syntax
    'credentials.chat.accessToken: ${CHAT_AUTH_TOKEN} is not set',
    // eslint-disable-next-line no-template-curly-in-string
    'credentials.chat.refreshToken: ${CHAT_REFRESH_TOKEN} is not set'
  ])
})

/** The first YAML block after a heading of a page. */
function yamlAfter (page: string, heading: string): string {
  const text = readFileSync(join(ROOT, page), 'utf8')
  const block = /```yaml\n([\s\S]*?)```/.exec(text.slice(text.indexOf(heading)))
  if (block === null) throw new Error(`no YAML block after ${heading} in ${page}`)
  return block[1]
}

t.test('the examples of README.md and docs/configuration.md are valid files', async (t) => {
  const folder = mkdtempSync(join(tmpdir(), 'tokengate-doc-example-'))
  const readme = join(folder, 'readme.yaml')
  writeFileSync(readme, yamlAfter('README.md', '## Several upstreams'))
  const fromReadme = loadGatewayFile(readme, VARIABLES, DEFAULTS)
  t.same([fromReadme.credentials[0].accessToken, fromReadme.routes[0].path], ['at-chat', '/chat'])
  const docs = join(folder, 'docs.yaml')
  writeFileSync(docs, yamlAfter('docs/configuration.md', '## Several upstreams: the configuration file'))
  let err: unknown = null
  try {
    loadGatewayFile(docs, VARIABLES, DEFAULTS)
  } catch (caught) {
    err = caught
  }
  // The one thing this machine lacks is the mounted secret it names.
  t.same((err as ConfigError).problems.map(formatConfigProblem), ['credentials.graph.clientSecretFile: cannot be read: /run/secrets/graph (ENOENT)'])
})
