// Start-up precedence: the store's (rotated) tokens win while the environment is the one they were
// seeded from; new environment tokens win over them; with nothing anywhere there is nothing.
import { createHash } from 'node:crypto'
import t from 'tap'
import { chooseStartupTokens, seedFingerprint } from '../../src/stores/seedFingerprint.js'
import type { TokenRecord } from '../../src/stores/tokenStore.js'

const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex')

function stored (overrides: Partial<TokenRecord> = {}): TokenRecord {
  return {
    accessToken: 'at_rotated',
    refreshToken: 'rt_rotated',
    expiresAtMs: 1_700_000_900_000,
    version: 7,
    seedFingerprint: seedFingerprint('at_env', 'rt_env'),
    updatedAt: '2023-11-14T22:28:20.000Z',
    ...overrides
  }
}

t.test('seedFingerprint: SHA-256 of both tokens; null when neither is given', async (t) => {
  t.equal(seedFingerprint(null, null), null)
  t.equal(seedFingerprint('at', 'rt'), sha256('at\nrt'))
  t.match(seedFingerprint('at', 'rt'), /^[0-9a-f]{64}$/)
  t.equal(seedFingerprint('at', null), sha256('at\n'), 'only an access token')
  t.equal(seedFingerprint(null, 'rt'), sha256('\nrt'), 'only a refresh token')
  t.equal(seedFingerprint('at', 'rt'), seedFingerprint('at', 'rt'), 'stable')
})

t.test('seedFingerprint changes when either token changes, and tells the two apart', async (t) => {
  const base = seedFingerprint('at', 'rt')
  t.not(seedFingerprint('at2', 'rt'), base, 'access token changed')
  t.not(seedFingerprint('at', 'rt2'), base, 'refresh token changed')
  t.not(seedFingerprint('rt', 'at'), base, 'tokens swapped')
  t.not(seedFingerprint('at', null), seedFingerprint(null, 'at'), 'the same text as access or as refresh token')
})

t.test('same environment as the store was seeded from: the store wins', async (t) => {
  const record = stored()
  t.same(chooseStartupTokens(record, 'at_env', 'rt_env'), {
    source: 'store',
    accessToken: 'at_rotated',
    refreshToken: 'rt_rotated',
    expiresAtMs: 1_700_000_900_000,
    version: 7,
    fingerprint: record.seedFingerprint
  })
  const onlyRefresh = stored({ seedFingerprint: seedFingerprint(null, 'rt_env'), refreshToken: null, expiresAtMs: null })
  t.same(chooseStartupTokens(onlyRefresh, null, 'rt_env'), {
    source: 'store',
    accessToken: 'at_rotated',
    refreshToken: null,
    expiresAtMs: null,
    version: 7,
    fingerprint: seedFingerprint(null, 'rt_env')
  }, 'a store seeded from a refresh token alone, the same one given again')
})

t.test('different environment: the environment wins and the stored version is carried on', async (t) => {
  const fresh = seedFingerprint('at_new', 'rt_new')
  t.same(chooseStartupTokens(stored(), 'at_new', 'rt_new'), {
    source: 'environment',
    accessToken: 'at_new',
    refreshToken: 'rt_new',
    expiresAtMs: null,
    version: 7,
    fingerprint: fresh
  }, 'both tokens changed')
  t.match(chooseStartupTokens(stored(), 'at_env', 'rt_new'), { source: 'environment', accessToken: 'at_env', refreshToken: 'rt_new', version: 7 },
    'only the refresh token changed')
  t.match(chooseStartupTokens(stored(), 'at_new', 'rt_env'), { source: 'environment', accessToken: 'at_new', refreshToken: 'rt_env', version: 7 },
    'only the access token changed')
  t.match(chooseStartupTokens(stored(), 'at_env', null), { source: 'environment', accessToken: 'at_env', refreshToken: null, fingerprint: seedFingerprint('at_env', null) },
    'the refresh token was dropped from the environment')
  t.match(chooseStartupTokens(stored({ seedFingerprint: null }), 'at_env', 'rt_env'), { source: 'environment', accessToken: 'at_env', version: 7 },
    'a store that remembers no seed yields to environment tokens')
})

t.test('no environment tokens: the store wins', async (t) => {
  const record = stored({ seedFingerprint: 'a'.repeat(64) })
  t.same(chooseStartupTokens(record, null, null), {
    source: 'store',
    accessToken: 'at_rotated',
    refreshToken: 'rt_rotated',
    expiresAtMs: 1_700_000_900_000,
    version: 7,
    fingerprint: 'a'.repeat(64)
  }, 'the store keeps its own fingerprint')
  t.match(chooseStartupTokens(stored({ seedFingerprint: null }), null, null), { source: 'store', fingerprint: null })
})

t.test('an empty store: the environment when given, otherwise nothing', async (t) => {
  t.same(chooseStartupTokens(null, 'at_env', 'rt_env'), {
    source: 'environment',
    accessToken: 'at_env',
    refreshToken: 'rt_env',
    expiresAtMs: null,
    version: 0,
    fingerprint: seedFingerprint('at_env', 'rt_env')
  }, 'version starts at 0')
  t.same(chooseStartupTokens(null, null, null), {
    source: 'none',
    accessToken: null,
    refreshToken: null,
    expiresAtMs: null,
    version: 0,
    fingerprint: null
  })
})
