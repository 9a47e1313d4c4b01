// audience and resource in the configuration: OAUTH_AUDIENCE / OAUTH_RESOURCE comma-separated, a
// file's field one string or a list; resources must be absolute URIs without a fragment; the json
// style sends neither, so setting one there is an error naming it.
/* eslint-disable no-template-curly-in-string -- the file's own `${VAR}` syntax is under test */
import t from 'tap'
import { stringify } from 'yaml'
import { resolveConfig } from '../../src/config/gatewayConfig.js'
import { parseGatewayFile } from '../../src/config/gatewayFile.js'
import { configProblems, validate } from '../helpers/config.js'

const CC = { UPSTREAM_URL: 'https://api.example.com/v1', TOKEN_GRANT: 'client_credentials', OAUTH_CLIENT_ID: 'gw', OAUTH_CLIENT_SECRET: 's', TOKEN_STORE: 'memory' }

t.test('environment: comma-separated lists, trimmed; bad resources and empty lists named', async (t) => {
  const config = resolveConfig(validate({ ...CC, OAUTH_AUDIENCE: ' orders , billing ', OAUTH_RESOURCE: 'https://r1.example/,https://r2.example/x' }))
  t.same(config.oauthClient, { clientId: 'gw', clientSecret: 's', scope: null, audience: ['orders', 'billing'], resource: ['https://r1.example/', 'https://r2.example/x'] })
  t.same(configProblems(() => resolveConfig(validate({ ...CC, OAUTH_AUDIENCE: ' , ', OAUTH_RESOURCE: 'https://r.example/#frag,relative/path' }))), [
    'OAUTH_AUDIENCE must list at least one value (comma-separated)',
    'OAUTH_RESOURCE must be absolute URIs without a fragment (RFC 8707)'
  ])
  t.same(configProblems(() => resolveConfig(validate({ UPSTREAM_URL: 'https://api.example.com/v1', OAUTH_AUDIENCE: 'a', OAUTH_RESOURCE: 'https://r.example/' }))), [
    'OAUTH_AUDIENCE is used only with TOKEN_REFRESH_STYLE=oauth2 or TOKEN_GRANT=client_credentials or token_exchange',
    'OAUTH_RESOURCE is used only with TOKEN_REFRESH_STYLE=oauth2 or TOKEN_GRANT=client_credentials or token_exchange'
  ])
})

function file (credential: Record<string, unknown>): string {
  return stringify({
    credentials: { graph: { grant: 'client_credentials', tokenUrl: 'https://login.example.com/token', clientId: 'gw', clientSecret: 's', ...credential } },
    routes: [{ path: '/graph', upstream: 'https://graph.example.com', credential: 'graph' }]
  })
}
const DEFAULTS = { expiryBufferMs: 300_000, refreshIntervalMs: 1_800_000, timeoutMs: 30_000, accessTokenMaxBytes: 8192 }
const parse = (credential: Record<string, unknown>, variables: Record<string, string> = {}) => parseGatewayFile(file(credential), '/etc/tokengate/gateway.yaml', variables, DEFAULTS)

t.test('file: a string or a list, through ${VAR}; each bad item named by its place', async (t) => {
  const client = parse({ audience: 'orders', resource: ['https://r1.example/', '${R2}'] }, { R2: 'https://r2.example/' }).credentials[0].oauthClient
  t.same(client, { clientId: 'gw', clientSecret: 's', scope: null, audience: ['orders'], resource: ['https://r1.example/', 'https://r2.example/'] })
  t.same(configProblems(() => parse({ audience: [], resource: ['https://r.example/', 7, ' ', '${MISSING}'] })), [
    'credentials.graph.audience: must list at least one value',
    'credentials.graph.resource[1]: must be a string',
    'credentials.graph.resource[2]: must not be empty',
    'credentials.graph.resource[3]: ${MISSING} is not set'
  ])
  t.same(configProblems(() => parse({ resource: 'not a uri', audience: 5 })), [
    'credentials.graph.audience: must be a string',
    'credentials.graph.resource: must be absolute URIs without a fragment (RFC 8707)'
  ])
  t.same(configProblems(() => parse({ grant: 'refresh_token', clientId: undefined, clientSecret: undefined, accessToken: 'at', audience: 'a', resource: 'https://r.example/' })), [
    'credentials.graph.audience: is used only with refreshStyle oauth2 or grant client_credentials or token_exchange',
    'credentials.graph.resource: is used only with refreshStyle oauth2 or grant client_credentials or token_exchange'
  ])
})
