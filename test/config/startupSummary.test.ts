// The start-up line that says where tokens go, and the warning for the default refresh URL.
import t from 'tap'
import { resolveConfig } from '../../src/config/gatewayConfig.js'
import { DEFAULT_TOKEN_REFRESH_URL } from '../../src/config/schema.js'
import type { GatewayDefinition } from '../../src/config/gatewayDefinition.js'
import { defaultRefreshUrlWarning, loopbackInContainerWarning, routesSummary, startupSummary } from '../../src/config/startupSummary.js'
import { validate } from '../helpers/config.js'

function config (env: Record<string, string>): ReturnType<typeof resolveConfig> {
  return resolveConfig(validate(env))
}

t.test('names the upstream, the provider\'s origin (never its path), the grant and the store', async (t) => {
  const file = startupSummary(config({ UPSTREAM_URL: 'https://api.example.com/v2/', TOKEN_REFRESH_URL: 'https://auth.example.com/oauth/token?x=1', TOKEN_STORE_PATH: '/var/lib/tg/tokens.json' }), true)
  t.equal(file.msg, 'tokengate forwarding to https://api.example.com/v2 with tokens from https://auth.example.com (grant refresh_token, json style), kept in the file /var/lib/tg/tokens.json')
  t.same(file.fields, { upstream: 'https://api.example.com/v2', identityProvider: 'https://auth.example.com', grant: 'refresh_token, json style', store: 'file' })

  const redis = startupSummary(config({
    UPSTREAM_URL: 'http://10.0.0.5:8080',
    TOKEN_GRANT: 'client_credentials',
    TOKEN_REFRESH_URL: 'https://login.example.com/t/oauth2/token',
    OAUTH_CLIENT_ID: 'c',
    OAUTH_CLIENT_SECRET: 'client-secret-value',
    TOKEN_STORE: 'redis',
    REDIS_URL: 'redis://:redis-password@cache:6379/2',
    TOKEN_STORE_KEY: 'gw:eu'
  }), true)
  t.equal(redis.msg, 'tokengate forwarding to http://10.0.0.5:8080 with tokens from https://login.example.com (grant client_credentials), kept in Redis redis://:***@cache:6379/2 under gw:eu')
  t.notMatch(JSON.stringify(redis), /redis-password|client-secret-value/, 'no password, no secret')

  const memory = startupSummary(config({ UPSTREAM_URL: 'https://api.example.com', TOKEN_STORE: 'memory', TOKEN_REFRESH_STYLE: 'oauth2', OAUTH_CLIENT_ID: 'c' }), false)
  t.equal(memory.msg, 'tokengate forwarding to https://api.example.com with AUTH_TOKEN as given (no refresh), kept in memory (lost on restart)')
  t.equal(memory.fields.identityProvider, null)
})

t.test('a gateway that would refresh at the default URL says so', async (t) => {
  const defaulted = config({ UPSTREAM_URL: 'https://api.example.com' })
  t.equal(defaulted.refreshUrl, DEFAULT_TOKEN_REFRESH_URL)
  t.match(defaultRefreshUrlWarning(defaulted, true), /^TOKEN_REFRESH_URL is the default, https:\/\/api\.genies\.com\/auth\/v2\/refresh-session/)
  t.equal(defaultRefreshUrlWarning(defaulted, false), null, 'no refresh: the URL is never used')
  t.equal(defaultRefreshUrlWarning(config({ UPSTREAM_URL: 'https://api.example.com', TOKEN_REFRESH_URL: 'https://auth.example.com/r' }), true), null)
})

t.test('loopback inside a container is warned about; outside one, or on all interfaces, it is not', async (t) => {
  const loopback = config({ UPSTREAM_URL: 'https://api.example.com' })
  t.match(loopbackInContainerWarning(loopback, true), /^HOST=127\.0\.0\.1 inside a container: only the container itself can reach the gateway/)
  t.equal(loopbackInContainerWarning(loopback, false), null)
  t.equal(loopbackInContainerWarning(config({ UPSTREAM_URL: 'https://api.example.com', HOST: '0.0.0.0' }), true), null)
})

t.test('with a configuration file: every route, where it goes and with which credential; never a token', async (t) => {
  const summary = routesSummary({
    file: '/etc/tokengate/gateway.yaml',
    credentials: [
      { name: 'chat', accessToken: 'secret-access-token', refreshToken: 'secret-refresh-token' },
      { name: 'graph', accessToken: null, refreshToken: null }
    ] as unknown as GatewayDefinition['credentials'],
    routes: [
      { path: '/chat', upstream: new URL('https://api.example.com/v1/'), credential: 'chat', timeoutMs: 30_000 },
      { path: '/graph', upstream: new URL('https://graph.example.com'), credential: 'graph', timeoutMs: 60_000 }
    ]
  })
  t.equal(summary.msg, 'tokengate serving 2 route(s) with 2 credential(s) from /etc/tokengate/gateway.yaml: ' +
    '/chat -> https://api.example.com/v1 (credential chat), /graph -> https://graph.example.com (credential graph)')
  t.same(summary.fields, { file: '/etc/tokengate/gateway.yaml', routes: ['/chat', '/graph'], credentials: ['chat', 'graph'] })
  t.notOk(JSON.stringify(summary).includes('secret'), 'no token')
})
