// Applying configurations to the set of credentials: what is kept, replaced, added and removed,
// in which order, and that a configuration that cannot be opened changes nothing.
import t from 'tap'
import type { CredentialConfig } from '../../src/config/gatewayDefinition.js'
import type { Credential } from '../../src/credentials/credential.js'
import { CredentialSet } from '../../src/credentials/credentialSet.js'
import { ConfigError } from '../../src/errors.js'

const config = (name: string, refreshUrl = `https://idp.example/${name}`): CredentialConfig => ({
  name,
  tokenGrant: 'refresh_token',
  refreshStyle: 'json',
  refreshUrl,
  accessToken: `at_${name}`,
  refreshToken: null,
  oauthClient: null,
  expiryBufferMs: 300_000,
  refreshIntervalMs: 1_800_000,
  files: {}
})

interface Opened { log: string[], open: (c: CredentialConfig) => Promise<Credential>, failFor: Set<string> }

function opener (): Opened {
  const log: string[] = []
  const failFor = new Set<string>()
  let serial = 0
  return {
    log,
    failFor,
    open: async (c) => {
      if (failFor.has(c.name)) {
        log.push(`fail ${c.name}`)
        throw new ConfigError([{ variable: `credentials.${c.name}.accessToken`, message: 'is required' }])
      }
      const id = ++serial
      log.push(`open ${c.name}#${id}`)
      return { name: c.name, config: c, id, close: async () => { log.push(`close ${c.name}#${id}`) } } as unknown as Credential
    }
  }
}

const ids = (set: CredentialSet): string[] => [...set].map((c) => `${c.name}#${(c as unknown as { id: number }).id}`)

t.test('the first apply opens every credential and tells listeners', async (t) => {
  const o = opener()
  const set = new CredentialSet(o.open)
  const changes = await set.apply([config('chat'), config('graph')])
  t.same(changes, { added: ['chat', 'graph'], changed: [], removed: [], kept: [] })
  t.same(ids(set), ['chat#1', 'graph#2'])
  t.equal(set.size, 2)
  const seen: string[] = []
  set.listen({ opened: (c) => seen.push(`opened ${c.name}`), retired: (c) => seen.push(`retired ${c.name}`) })
  t.same(seen, ['opened chat', 'opened graph'], 'a late listener hears of those already open')
})

t.test('a reload keeps the unchanged, replaces the changed (closing the old first), adds and removes', async (t) => {
  const o = opener()
  const set = new CredentialSet(o.open)
  await set.apply([config('chat'), config('graph'), config('old')])
  const seen: string[] = []
  set.listen({ opened: (c) => seen.push(`opened ${c.name}`), retired: (c) => seen.push(`retired ${c.name}`) })
  seen.length = 0
  o.log.length = 0
  const changes = await set.apply([config('chat'), config('graph', 'https://other.example/token'), config('new')])
  t.same(changes, { added: ['new'], changed: ['graph'], removed: ['old'], kept: ['chat'] })
  t.same(o.log, ['close graph#2', 'open graph#4', 'open new#5', 'close old#3'],
    'the changed one is closed before its successor reads the store; the removed one after the swap')
  t.same(ids(set), ['chat#1', 'graph#4', 'new#5'])
  t.same(seen, ['retired graph', 'opened graph', 'opened new', 'retired old'])
  t.equal(set.get('chat'), [...set][0], 'the unchanged credential is the same object: tokens and timers kept')
})

t.test('a credential that cannot be opened: nothing changes, the replaced ones serve again', async (t) => {
  const o = opener()
  const set = new CredentialSet(o.open)
  await set.apply([config('chat'), config('graph')])
  o.failFor.add('broken')
  o.log.length = 0
  await t.rejects(set.apply([config('chat', 'https://changed.example/'), config('new'), config('broken')]), { code: 'TOKENGATE_CONFIG_INVALID' })
  t.same(o.log, ['close chat#1', 'open chat#3', 'open new#4', 'fail broken', 'close chat#3', 'close new#4', 'open chat#5'])
  t.same([...set].map((c) => [c.name, c.config.refreshUrl]), [['chat', 'https://idp.example/chat'], ['graph', 'https://idp.example/graph']],
    'the running configuration stays')
})

t.test('close closes every credential once', async (t) => {
  const o = opener()
  const set = new CredentialSet(o.open)
  await set.apply([config('a'), config('b')])
  await set.close()
  t.same(o.log.filter((line) => line.startsWith('close')), ['close a#1', 'close b#2'])
  t.equal(set.size, 0)
  t.equal(set.get('a'), undefined)
})

t.test('after a reload the credentials are in the configuration\'s order', async (t) => {
  const o = opener()
  const set = new CredentialSet(o.open)
  await set.apply([config('a'), config('b')])
  await set.apply([config('a', 'https://changed.example/'), config('b')])
  t.same([...set].map((c) => c.name), ['a', 'b'], 'the replaced a stays first')
})
