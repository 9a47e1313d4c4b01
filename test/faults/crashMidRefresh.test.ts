// SIGKILL in the middle of a refresh, the gateway as a child process with the file store: killed
// as the identity provider's answer leaves, and at many delays after (while the answer is read,
// validated and written). Every time the token file holds the old pair or the new one, whole;
// a request that carried the new token implies the file holds the new pair (saved before use);
// a kill between the temp file's fsync and its rename leaves the new pair whole in the temp file,
// which the restart adopts.
import { createServer, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { randomBytes } from 'node:crypto'
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { request } from 'undici'
import { signJwt } from '../../src/demo/jwt.js'
import { emptyWorkdir, startGatewayProcess, type GatewayProcess } from '../helpers/process.js'
import { echoUpstream, nowSeconds, waitFor } from '../helpers/servers.js'

interface Pair { accessToken: string, refreshToken: string }

/**
 * An identity provider with single-use refresh tokens that holds each answer until the test
 * releases it, and tells the test the moment the answer has been handed to the network.
 */
async function heldIdentityProvider (t: Test): Promise<{
  url: string
  valid: Set<string>
  held: Array<{ presented: string, answer: (onSent: (pair: Pair) => void) => Pair }>
  refused: number
}> {
  const state = { valid: new Set<string>(), held: [] as Array<{ presented: string, answer: (onSent: (pair: Pair) => void) => Pair }>, refused: 0, url: '' }
  const server = createServer((req, res: ServerResponse) => {
    const chunks: Buffer[] = []
    req.on('data', (chunk: Buffer) => chunks.push(chunk))
    req.on('end', () => {
      const presented = String((JSON.parse(Buffer.concat(chunks).toString('utf8')) as { refreshToken?: unknown }).refreshToken)
      if (!state.valid.delete(presented)) {
        state.refused++
        res.writeHead(400, { 'content-type': 'application/json' }).end('{"error":"invalid_grant"}')
        return
      }
      state.held.push({
        presented,
        answer: (onSent) => {
          const pair = { accessToken: mint(3600), refreshToken: `rt_${randomBytes(12).toString('hex')}` }
          state.valid.add(pair.refreshToken)
          res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(pair))
          onSent(pair)
          return pair
        }
      })
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  state.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/refresh`
  t.teardown(() => {
    server.closeAllConnections()
    return new Promise<void>((resolve) => server.close(() => resolve()))
  })
  return state
}

let sequence = 0
function mint (ttlSeconds: number): string {
  const iat = nowSeconds()
  return signJwt({ sub: 'user_crash', iss: 'https://idp.test', sid: ++sequence, iat, exp: iat + ttlSeconds }, 'crash-test-secret')
}

interface StoredRecord { accessToken: string, refreshToken: string | null, version: number, seedFingerprint: string | null, expiresAtMs: number | null }

function readStore (folder: string): StoredRecord {
  return JSON.parse(readFileSync(join(folder, 'tokens.json'), 'utf8')) as StoredRecord
}

const TEMP_FILE = /^\.tokens\.json\.\d+\.[0-9a-f]+\.tmp$/

// Delays in ms between the answer leaving the provider and SIGKILL; 'sync' kills in the same
// tick as the answer is written, 'served' once a request has been served with the new token.
// Most delays fall where, on a quiet machine, the temp file is written, synced and renamed.
const KILL_POINTS: Array<number | 'sync' | 'served'> = ['sync', 0, 2, 4, 6, 8, 9, 10, 11, 12, 13, 14, 15, 16, 18, 20, 22, 25, 30, 'served']

t.test('SIGKILL between the answer and the store write, and during the write: the old pair or the new one, whole', async (t) => {
  const idp = await heldIdentityProvider(t)
  const upstream = await echoUpstream(t)
  const outcomes = { old: 0, new: 0, tempFilesLeft: 0, wholeTempFiles: 0 }
  const timeline: string[] = []
  let oldRun: { folder: string, env: Record<string, string> } | null = null
  let adoptRun: { folder: string, env: Record<string, string>, pair: Pair } | null = null
  let newRun: { folder: string, env: Record<string, string>, pair: Pair } | null = null

  for (const [run, killPoint] of KILL_POINTS.entries()) {
    const folder = join(emptyWorkdir(), 'state')
    mkdirSync(folder, { mode: 0o700 })
    const initial = { accessToken: mint(-60), refreshToken: `rt_seed_${run}_${randomBytes(6).toString('hex')}` }
    idp.valid.add(initial.refreshToken)
    const env = {
      UPSTREAM_URL: upstream.url,
      AUTH_TOKEN: initial.accessToken,
      REFRESH_TOKEN: initial.refreshToken,
      TOKEN_REFRESH_URL: idp.url,
      TOKEN_STORE: 'file',
      TOKEN_STORE_PATH: join(folder, 'tokens.json')
    }
    const gw: GatewayProcess = await startGatewayProcess(t, env)
    // The start-up refresh of the expired token is held at the provider; requests queue behind it.
    await waitFor(() => idp.held.length === 1, 10_000, 'the start-up refresh to reach the provider')
    const calls = Array.from({ length: 4 }, (_, i) =>
      request(`${gw.url}/run/${run}/${i}`).then((res) => res.body.dump(), () => {}))

    const held = idp.held.shift()!
    t.equal(held.presented, initial.refreshToken, `run ${run}: the seed refresh token was presented`)
    let issued: Pair | null = null
    if (killPoint === 'sync') {
      issued = held.answer(() => { gw.child.kill('SIGKILL') })
    } else if (killPoint === 'served') {
      issued = held.answer(() => {})
      const pair = issued
      await waitFor(() => upstream.received.some((r) => r.headers.authorization === `Bearer ${pair.accessToken}`), 10_000, 'a request served with the new token')
      gw.child.kill('SIGKILL')
    } else {
      issued = held.answer(() => { setTimeout(() => gw.child.kill('SIGKILL'), killPoint) })
    }
    const { signal } = await gw.exited
    await Promise.all(calls)
    t.equal(signal, 'SIGKILL', `run ${run}: killed`)

    const names = readdirSync(folder)
    t.ok(names.includes('tokens.json.lock'), `run ${run}: the killed gateway's lock stays`)
    const temps = names.filter((name) => name !== 'tokens.json' && name !== 'tokens.json.lock')
    t.same(temps.filter((name) => !TEMP_FILE.test(name)), [], `run ${run}: nothing in the folder but the store, its lock and temp files`)
    outcomes.tempFilesLeft += temps.length
    // Written and synced, not yet renamed: the new pair, whole.
    const wholeTemp = temps.some((name) => {
      try {
        const record = JSON.parse(readFileSync(join(folder, name), 'utf8')) as StoredRecord
        return record.version === 2 && record.refreshToken === issued!.refreshToken
      } catch {
        return false
      }
    })
    if (wholeTemp) outcomes.wholeTempFiles++
    const stored = readStore(folder)
    t.equal(statSync(join(folder, 'tokens.json')).mode & 0o777, 0o600)
    const isOld = stored.accessToken === initial.accessToken && stored.refreshToken === initial.refreshToken && stored.version === 1
    const isNew = stored.accessToken === issued.accessToken && stored.refreshToken === issued.refreshToken && stored.version === 2
    t.ok(isOld || isNew, `run ${run} (kill at ${killPoint}): the file holds the old pair or the new one, whole`)

    const servedNew = upstream.received.some((r) => r.url.startsWith(`/run/${run}/`) && r.headers.authorization === `Bearer ${issued!.accessToken}`)
    if (servedNew) t.ok(isNew, `run ${run}: a request carried the new token, so the file holds the new pair`)
    t.notOk(upstream.received.some((r) => r.url.startsWith(`/run/${run}/`) && r.headers.authorization === `Bearer ${initial.accessToken}`),
      `run ${run}: no request went out with the expired token`)
    timeline.push(`${killPoint}:${isOld ? 'old' : 'new'}${wholeTemp ? '+whole-tmp' : temps.length > 0 ? '+tmp' : ''}`)
    if (isOld) {
      outcomes.old++
      if (wholeTemp) adoptRun ??= { folder, env, pair: issued }
      else oldRun ??= { folder, env }
    } else {
      outcomes.new++
      newRun = { folder, env, pair: issued }
    }
  }
  t.comment(`kill outcomes over ${KILL_POINTS.length} runs: ${outcomes.old} old pair, ${outcomes.new} new pair, ${outcomes.tempFilesLeft} temp file(s) left behind, ${outcomes.wholeTempFiles} of them whole`)
  t.comment(`kill point (ms after the answer left): outcome — ${timeline.join(' ')}`)
  t.ok(outcomes.new > 0, 'killing after a request was served always leaves the new pair')

  await t.test('restart on the new pair: the store serves; an older or torn temp file is never taken for it', async (t) => {
    const { folder, env, pair } = newRun!
    // Temp files a crash mid-write leaves: whole records no newer than the store's, and a torn one.
    const stored = readStore(folder)
    writeFileSync(join(folder, '.tokens.json.99999.deadbeef.tmp'), JSON.stringify({ ...stored, accessToken: mint(3600), refreshToken: 'rt_decoy', version: 1 }), { mode: 0o600 })
    writeFileSync(join(folder, '.tokens.json.99997.0badf00d.tmp'), JSON.stringify({ ...stored, accessToken: mint(3600), refreshToken: 'rt_decoy_2' }), { mode: 0o600 })
    writeFileSync(join(folder, '.tokens.json.99998.cafebabe.tmp'), '{"accessToken":"eyJ', { mode: 0o600 })
    const refusedBefore = idp.refused
    const gw = await startGatewayProcess(t, env)
    t.match(gw.output(), /Using the tokens from the token store/)
    const res = await request(`${gw.url}/after-restart`)
    t.equal((await res.body.json() as { authorization: string }).authorization, `Bearer ${pair.accessToken}`, 'the stored new token serves, without a refresh')
    t.equal(idp.held.length, 0, 'no refresh was needed')
    t.equal(idp.refused, refusedBefore)
    t.equal(readStore(folder).version, 2, 'the store is untouched')
    t.notMatch(gw.output(), /Adopted /)
    t.match(gw.output(), /Removed \d+ temp file\(s\) an interrupted write left beside the token file/)
    t.same(readdirSync(folder).sort(), ['tokens.json', 'tokens.json.lock'], 'the leftovers were removed at start-up')
  })

  await t.test('restart on the old pair beside a whole temp file of the new one: adopted, the rotated pair serves', {
    skip: adoptRun === null ? 'no kill landed between the temp file\'s fsync and its rename on this machine' : false
  }, async (t) => {
    const { folder, env, pair } = adoptRun!
    const refusedBefore = idp.refused
    const gw = await startGatewayProcess(t, env)
    t.match(gw.output(), /Adopted .*\.tokens\.json\.\d+\.[0-9a-f]{8}\.tmp as the token file/)
    const res = await request(`${gw.url}/after-adoption`)
    t.equal((await res.body.json() as { authorization: string }).authorization, `Bearer ${pair.accessToken}`, 'the new token serves, without a refresh')
    t.equal(idp.held.length, 0, 'no refresh was needed')
    t.equal(idp.refused, refusedBefore, 'the spent refresh token was never presented')
    t.equal(readStore(folder).refreshToken, pair.refreshToken, 'the token file holds the rotated refresh token')
  })

  await t.test('restart on the old pair without a whole temp file: the rotated refresh token died with the process that never saved it', {
    skip: oldRun === null ? 'no kill landed before the write on this machine' : false
  }, async (t) => {
    const { folder, env } = oldRun!
    const refusedBefore = idp.refused
    const gw = await startGatewayProcess(t, env)
    t.match(gw.output(), /Using the tokens from the token store/)
    // The stored refresh token was spent at the provider before the crash: it is refused, and
    // health says new tokens are needed. No request was ever served with the lost pair.
    await waitFor(() => idp.refused > refusedBefore, 10_000, 'the spent refresh token to be refused')
    const health = await request(`${gw.url}/health/token`)
    const body = await health.body.json() as { refreshTokenRejected: boolean, status: string }
    t.equal(body.refreshTokenRejected, true)
    t.equal(body.status, 'expired')
    t.equal(readStore(folder).version, 1, 'the old pair stays as it was')
  })
})
