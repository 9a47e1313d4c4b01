// The token file on a disk that fills up and then turns read-only, the gateway as a child
// process: each failed write is a clear error in the log and in health, requests go on being
// served with the new tokens from memory, the file keeps the last pair it had, whole, and the
// next refresh after the disk recovers saves again.
import { readdirSync, readFileSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { request } from 'undici'
import { fill, smallDisk, type SmallDisk } from '../helpers/disk.js'
import { startGatewayProcess } from '../helpers/process.js'
import { echoUpstream, identityProvider } from '../helpers/servers.js'

const ADMIN_KEY = 'admin-key-for-the-full-disk'

const disk = smallDisk()

t.test('a full disk, then a read-only one: a clear error, serving goes on from memory, health shows it', {
  skip: typeof disk === 'string' ? disk : false
}, async (t) => {
  const { folder, remount, unmount } = disk as SmallDisk
  t.teardown(unmount)
  const idp = await identityProvider(t, { tokenTtlSeconds: 3600 })
  const upstream = await echoUpstream(t)
  const path = join(folder, 'tokens.json')
  const filler = fill(folder)

  const gw = await startGatewayProcess(t, {
    UPSTREAM_URL: upstream.url,
    AUTH_TOKEN: idp.mint(-60),
    REFRESH_TOKEN: idp.validRefreshToken,
    TOKEN_REFRESH_URL: idp.refreshUrl,
    TOKEN_STORE: 'file',
    TOKEN_STORE_PATH: path,
    GATEWAY_ADMIN_KEY: ADMIN_KEY
  })
  const seen = async (): Promise<string> => {
    const res = await request(`${gw.url}/x`)
    t.equal(res.statusCode, 200)
    return (await res.body.json() as { authorization: string }).authorization
  }
  const health = async (): Promise<{ status: string, storeError: string | null }> =>
    await (await request(`${gw.url}/health/token`)).body.json() as { status: string, storeError: string | null }
  const forceRefresh = async (): Promise<void> => {
    const res = await request(`${gw.url}/admin/token/refresh`, { method: 'POST', headers: { 'x-admin-key': ADMIN_KEY } })
    t.equal(res.statusCode, 200, 'the refresh itself succeeds')
    await res.body.dump()
  }
  const errorLines = (code: string): string[] => gw.output().split('\n')
    .filter((line) => line.includes('"level":50') && line.includes('serving them from memory') && line.includes(code))
  const stored = (): { refreshToken: string } => JSON.parse(readFileSync(path, 'utf8')) as { refreshToken: string }

  await t.test('full: the seed and the start-up refresh cannot be saved', async (t) => {
    t.equal(await seen(), `Bearer ${idp.issued[0]}`, 'the refreshed token serves although it could not be saved')
    await gw.waitForOutput(/Could not persist the new tokens; serving them from memory/)
    t.ok(errorLines('ENOSPC').length >= 2, 'the failed seed write and the failed refresh write are logged as errors naming ENOSPC')
    const body = await health()
    t.equal(body.status, 'ok')
    t.match(body.storeError, /^cannot write the token file .*tokens\.json \(ENOSPC\)$/)
    t.same(readdirSync(folder), ['filler'], 'no token file, no temp file, and no empty lock file left behind')
    t.match(gw.output(), /cannot lock the token file .*tokens\.json \(ENOSPC\): starting without the lock/)
  })

  await t.test('space again: the next refresh is saved and the error clears', async (t) => {
    rmSync(filler)
    await forceRefresh()
    t.equal(await seen(), `Bearer ${idp.issued[1]}`)
    t.equal((await health()).storeError, null)
    t.equal(stored().refreshToken, idp.validRefreshToken, 'the file holds the newest refresh token')
    t.equal(JSON.parse(readFileSync(`${path}.lock`, 'utf8')).pid, gw.child.pid, 'the save took the lock it could not take at start-up')
  })

  await t.test('read-only: the refresh is served from memory, the file keeps the last pair, whole', async (t) => {
    const before = readFileSync(path, 'utf8')
    remount('ro')
    await forceRefresh()
    t.equal(await seen(), `Bearer ${idp.issued[2]}`, 'the new token serves')
    const body = await health()
    t.match(body.storeError, /^cannot write the token file .*tokens\.json \(EROFS\)$/)
    t.ok(errorLines('EROFS').length >= 1, 'logged as an error naming EROFS')
    t.equal(readFileSync(path, 'utf8'), before, 'the file is the one written before, untouched')
  })

  await t.test('writable again: saved at the next refresh', async (t) => {
    remount('rw')
    await forceRefresh()
    t.equal(await seen(), `Bearer ${idp.issued[3]}`)
    t.equal((await health()).storeError, null)
    t.equal(stored().refreshToken, idp.validRefreshToken)
    t.same(readdirSync(folder).sort(), ['tokens.json', 'tokens.json.lock'])
  })
  t.same(idp.calls.map((c) => c.status), [200, 200, 200, 200], 'every refresh presented the refresh token the previous one returned')
})
