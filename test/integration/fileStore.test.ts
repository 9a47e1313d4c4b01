// The default file store with the gateway as a real child process: crash right after a rotation,
// restart, corrupt and unwritable files, and which tokens win at start-up.
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { request } from 'undici'
import { canLockFolders, emptyWorkdir, lockFolder, spawnGateway, startGatewayProcess } from '../helpers/process.js'
import { echoUpstream, fileStoreEnv, identityProvider, waitFor } from '../helpers/servers.js'

const ADMIN_KEY = 'admin-key-for-tests'

async function seen (url: string): Promise<string> {
  const res = await request(`${url}/x`)
  return (await res.body.json() as { authorization: string }).authorization
}

async function health (url: string): Promise<Record<string, unknown>> {
  const res = await request(`${url}/health/token`)
  return await res.body.json() as Record<string, unknown>
}

t.test('SIGKILL right after a rotation, restart with the same environment: the rotated refresh token is used and accepted', async (t) => {
  const idp = await identityProvider(t)
  const upstream = await echoUpstream(t)
  const folder = join(emptyWorkdir(), 'state')
  const path = join(folder, 'tokens.json')
  const env = { ...fileStoreEnv(idp, upstream, path), GATEWAY_ADMIN_KEY: ADMIN_KEY }
  const first = await startGatewayProcess(t, env)
  t.equal(await seen(first.url), `Bearer ${idp.issued[0]}`, 'the first run refreshed the expired token')
  first.child.kill('SIGKILL')
  await first.exited
  t.equal(idp.calls.length, 1)
  const rotated = idp.validRefreshToken
  t.not(rotated, env.REFRESH_TOKEN, 'the provider rotated the refresh token; the one in the environment is dead')

  t.equal((statSync(path).mode & 0o777), 0o600, 'the token file is 0600')
  t.equal((statSync(folder).mode & 0o777), 0o700, 'its folder is 0700')
  t.same(readdirSync(folder).sort(), ['tokens.json', 'tokens.json.lock'], 'no temp file left behind; the killed gateway\'s lock stays')

  const second = await startGatewayProcess(t, env)
  t.match(second.output(), /Using the tokens from the token store/)
  t.equal(JSON.parse(readFileSync(`${path}.lock`, 'utf8')).pid, second.child.pid, 'the restart took the dead gateway\'s lock over')
  t.equal(await seen(second.url), `Bearer ${idp.issued[0]}`, 'after the restart the stored access token serves, no new refresh')
  t.equal(idp.calls.length, 1)
  const forced = await request(`${second.url}/admin/token/refresh`, { method: 'POST', headers: { 'x-admin-key': ADMIN_KEY } })
  t.equal(forced.statusCode, 200)
  t.equal((await forced.body.json() as { refreshCount: number }).refreshCount, 1)
  t.equal(idp.calls.length, 2)
  t.equal(idp.calls[1].refreshToken, rotated, 'the refresh after the restart presented the rotated refresh token')
  t.equal(idp.calls[1].status, 200, 'and the identity provider accepted it')
  t.equal(await seen(second.url), `Bearer ${idp.issued[1]}`)
  const stored = JSON.parse(readFileSync(path, 'utf8')) as { refreshToken: string, version: number }
  t.equal(stored.refreshToken, idp.validRefreshToken, 'the file holds the newest refresh token')
  t.equal(stored.version, 3, 'seeded (1), refreshed (2), refreshed again (3)')
})

t.test('new tokens in the environment win over the stored ones', async (t) => {
  const idp = await identityProvider(t)
  const upstream = await echoUpstream(t)
  const path = join(emptyWorkdir(), 'tokens.json')
  const base = { UPSTREAM_URL: upstream.url, TOKEN_REFRESH_URL: idp.refreshUrl, TOKEN_STORE: 'file', TOKEN_STORE_PATH: path }
  const first = await startGatewayProcess(t, { ...base, AUTH_TOKEN: idp.mint(-30), REFRESH_TOKEN: idp.validRefreshToken })
  t.equal(await seen(first.url), `Bearer ${idp.issued[0]}`)
  first.child.kill('SIGTERM')
  await first.exited

  const operatorToken = idp.mint(3600, { sid: 'operator-supplied' })
  const second = await startGatewayProcess(t, { ...base, AUTH_TOKEN: operatorToken, REFRESH_TOKEN: idp.validRefreshToken })
  t.match(second.output(), /differ from the ones the store was seeded from/)
  t.equal(await seen(second.url), `Bearer ${operatorToken}`, 'the operator-supplied token serves')
  t.equal(JSON.parse(readFileSync(path, 'utf8')).accessToken, operatorToken, 'and replaced the stored one')
})

t.test('a corrupt token file', async (t) => {
  await t.test('with environment tokens: moved aside with a warning naming both paths', async (t) => {
    const idp = await identityProvider(t)
    const upstream = await echoUpstream(t)
    const folder = emptyWorkdir()
    chmodSync(folder, 0o700)
    const path = join(folder, 'tokens.json')
    writeFileSync(path, '{"accessToken": "half-writt', { mode: 0o600 })
    const token = idp.mint(3600)
    const gw = await startGatewayProcess(t, { UPSTREAM_URL: upstream.url, AUTH_TOKEN: token, TOKEN_STORE: 'file', TOKEN_STORE_PATH: path })
    const aside = readdirSync(folder).find((name) => name.startsWith('tokens.json.corrupt-'))
    t.ok(aside, 'the corrupt file was moved aside')
    t.equal(readFileSync(join(folder, aside!), 'utf8'), '{"accessToken": "half-writt', 'and kept as it was')
    const warning = gw.output().split('\n').find((line) => line.includes('cannot be used'))
    t.ok(warning, 'a warning was logged')
    t.match(warning, path)
    t.match(warning, join(folder, aside!))
    t.match(warning, /"level":40/)
    t.equal(await seen(gw.url), `Bearer ${token}`)
    t.equal(JSON.parse(readFileSync(path, 'utf8')).accessToken, token, 'a fresh file was written')
  })

  await t.test('without environment tokens: start-up fails naming the path', async (t) => {
    const folder = emptyWorkdir()
    const path = join(folder, 'tokens.json')
    writeFileSync(path, 'not json at all', { mode: 0o600 })
    const gw = spawnGateway({ UPSTREAM_URL: 'http://127.0.0.1:9', TOKEN_STORE: 'file', TOKEN_STORE_PATH: path, PORT: '0' })
    const { code } = await gw.exited
    t.equal(code, 1)
    t.match(gw.output(), new RegExp(`^tokengate: configuration error: TOKEN_STORE_PATH ${path.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')} cannot be used`, 'm'))
    t.equal(readFileSync(path, 'utf8'), 'not json at all', 'the file was not touched')
  })
})

t.test('an unwritable folder: the error is logged and shown in health, serving goes on from memory', {
  skip: canLockFolders() ? false : 'chattr is not available to make a folder unwritable for root'
}, async (t) => {
  const idp = await identityProvider(t)
  const upstream = await echoUpstream(t)
  const folder = join(emptyWorkdir(), 'locked')
  mkdirSync(folder, { mode: 0o700 })
  lockFolder(t, folder)
  const path = join(folder, 'tokens.json')
  const gw = await startGatewayProcess(t, fileStoreEnv(idp, upstream, path))
  t.equal(await seen(gw.url), `Bearer ${idp.issued[0]}`, 'the refreshed token serves although it could not be saved')
  await gw.waitForOutput(/Could not persist the new tokens; serving them from memory/)
  const line = gw.output().split('\n').find((l) => l.includes('Could not persist'))!
  t.match(line, /"level":50/, 'logged as an error')
  const body = await health(gw.url)
  t.equal(body.status, 'ok')
  t.match(body.storeError, /cannot write the token file/)
  t.notOk(existsSync(path))
  t.equal(await seen(gw.url), `Bearer ${idp.issued[0]}`, 'still serving')
})

t.test('an existing folder readable by others gets a warning', async (t) => {
  const upstream = await echoUpstream(t)
  const folder = join(emptyWorkdir(), 'open')
  mkdirSync(folder)
  chmodSync(folder, 0o755)
  const gw = await startGatewayProcess(t, { UPSTREAM_URL: upstream.url, AUTH_TOKEN: 'opaque', TOKEN_STORE: 'file', TOKEN_STORE_PATH: join(folder, 'tokens.json') })
  await waitFor(() => /readable by other users/.test(gw.output()), 5000, 'the warning')
  t.match(gw.output(), folder)
})
