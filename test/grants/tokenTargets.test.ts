// audience and resource (RFC 8693, RFC 8707) travel with every token request of the oauth2 and
// client_credentials grants: against oidc-provider with resource indicators on, a resource gives
// a token for it and an unknown one is refused (invalid_target); the repeated parameters and
// audience, which oidc-provider does not read, against a local stand-in that shows the raw form.
import t from 'tap'
import { RefreshError } from '../../src/errors.js'
import { createGrant } from '../../src/grants/createGrant.js'
import { startLocalServer } from '../helpers/localServer.js'
import { CLIENT_ID, CLIENT_SECRET, RESOURCE_BASE, startAuthorizationServer } from '../helpers/oidcProvider.js'

t.test('client_credentials with a resource: the server issues a token for it, refuses one it does not serve', async (t) => {
  const as = await startAuthorizationServer(t, { resourceIndicators: true })
  const resource = `${RESOURCE_BASE}orders`
  const grantFor = (resources: string[]) => createGrant({
    style: 'client_credentials',
    url: as.tokenUrl,
    oauthClient: { clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, scope: 'api:read', resource: resources }
  })
  const token = await grantFor([resource]).exchange(null)
  t.same(as.calls[0].resources, [resource], 'the server read the resource')
  t.match(await as.lookup(token.accessToken), { clientId: CLIENT_ID, aud: resource, scope: 'api:read' }, 'a token for that resource')
  const refused = await grantFor(['https://elsewhere.example/api']).exchange(null).then(() => null, (err: unknown) => err)
  t.ok(refused instanceof RefreshError)
  t.equal((refused as RefreshError).reason, 'invalid_target')
})

t.test('audience and resource repeated, after the grant\'s own parameters and scope, with either grant', async (t) => {
  const server = await startLocalServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ access_token: 'at', expires_in: 60 }))
  })
  t.teardown(() => server.close())
  const oauthClient = { clientId: 'gw', clientSecret: 's', scope: 'a', audience: ['orders', 'billing'], resource: ['https://r1.example/', 'https://r2.example/x'] }
  await createGrant({ style: 'client_credentials', url: `${server.url}/token`, oauthClient }).exchange(null)
  await createGrant({ style: 'oauth2', url: `${server.url}/token`, oauthClient }).exchange('rt')
  const forms = server.received.map((r) => [...new URLSearchParams(r.body)])
  t.same(forms[0], [['grant_type', 'client_credentials'], ['scope', 'a'], ['audience', 'orders'], ['audience', 'billing'], ['resource', 'https://r1.example/'], ['resource', 'https://r2.example/x']])
  t.same(forms[1], [['grant_type', 'refresh_token'], ['refresh_token', 'rt'], ['scope', 'a'], ['audience', 'orders'], ['audience', 'billing'], ['resource', 'https://r1.example/'], ['resource', 'https://r2.example/x']])
})
