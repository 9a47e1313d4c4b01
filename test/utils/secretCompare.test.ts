// Constant-time key comparison: equal keys match, anything else (or no key at all) does not.
import t from 'tap'
import { secretEquals } from '../../src/utils/secretCompare.js'

t.test('the same key matches', async (t) => {
  t.equal(secretEquals('s3cret-key', 's3cret-key'), true)
  t.equal(secretEquals('', ''), true, 'two empty strings are equal')
  t.equal(secretEquals('ключ-✓', 'ключ-✓'), true, 'non-ASCII keys compare by content')
})

t.test('a different key does not match', async (t) => {
  t.equal(secretEquals('s3cret-kez', 's3cret-key'), false, 'same length, one character off')
  t.equal(secretEquals('s3cret-key ', 's3cret-key'), false, 'trailing space')
  t.equal(secretEquals('s3cret', 's3cret-key'), false, 'a prefix of the key')
  t.equal(secretEquals('s3cret-key-and-more', 's3cret-key'), false, 'the key with more after it')
  t.equal(secretEquals('S3CRET-KEY', 's3cret-key'), false, 'case matters')
  t.equal(secretEquals('', 's3cret-key'), false, 'empty given key')
  t.equal(secretEquals('s3cret-key', ''), false, 'empty expected key')
})

t.test('no key given never matches', async (t) => {
  t.equal(secretEquals(undefined, 's3cret-key'), false)
  t.equal(secretEquals(undefined, ''), false, 'not even an empty expected key')
  t.equal(secretEquals(['s3cret-key'] as unknown as string, 's3cret-key'), false, 'a repeated header (array) is not a key')
})
