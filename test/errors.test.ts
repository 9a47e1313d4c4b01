// Typed errors of the core: codes, HTTP statuses and messages that never need an answer's text.
import t from 'tap'
import {
  ConfigError, RefreshError, StoreError, StoreLockedError, TokenDecodeError, TokenUnavailableError, formatConfigProblem
} from '../src/errors.js'

t.test('TokenDecodeError', async (t) => {
  const err = new TokenDecodeError('payload is not a JSON object')
  t.equal(err.code, 'TOKENGATE_TOKEN_MALFORMED')
  t.equal(err.statusCode, 400)
  t.equal(err.message, 'Malformed JWT: payload is not a JSON object')
  t.ok(err instanceof Error)
})

t.test('RefreshError carries the failure and a safe detail', async (t) => {
  const err = new RefreshError({ reason: 'http_503', retryable: true, rejected: false, retryAfterMs: 2000 }, 'identity provider answered HTTP 503')
  t.equal(err.code, 'TOKENGATE_REFRESH_FAILED')
  t.equal(err.statusCode, 502)
  t.equal(err.message, 'http_503: identity provider answered HTTP 503')
  t.equal(err.detail, 'identity provider answered HTTP 503')
  t.equal(err.reason, 'http_503')
  t.equal(err.retryable, true)
  t.equal(err.rejected, false)
  t.equal(err.retryAfterMs, 2000)
  t.equal(err.cause, undefined, 'no cause unless given')
  t.ok(err instanceof RefreshError)
  t.notOk(new TokenDecodeError('x') instanceof RefreshError, 'errors of other codes are not RefreshErrors')
})

t.test('RefreshError keeps its cause', async (t) => {
  const cause = new Error('ECONNREFUSED')
  const err = new RefreshError({ reason: 'network', retryable: true, rejected: false }, 'unreachable', { cause })
  t.equal(err.cause, cause)
  t.equal(err.retryAfterMs, undefined)
  const rejected = new RefreshError({ reason: 'invalid_grant', retryable: false, rejected: true }, 'refused', {})
  t.equal(rejected.rejected, true)
  t.equal(rejected.cause, undefined)
})

t.test('TokenUnavailableError rounds Retry-After up to whole seconds, at least 1', async (t) => {
  const err = new TokenUnavailableError('no token', 2.1)
  t.equal(err.code, 'TOKENGATE_TOKEN_UNAVAILABLE')
  t.equal(err.statusCode, 503)
  t.equal(err.message, 'no token')
  t.equal(err.retryAfterSeconds, 3)
  t.equal(new TokenUnavailableError('x', 0).retryAfterSeconds, 1)
  t.equal(new TokenUnavailableError('x', -5).retryAfterSeconds, 1)
  t.equal(new TokenUnavailableError('x', 60).retryAfterSeconds, 60)
})

t.test('ConfigError names every variable', async (t) => {
  const problems = [
    { variable: 'UPSTREAM_URL', message: 'is required' },
    { variable: 'PORT', message: 'must be <= 65535' }
  ]
  const err = new ConfigError(problems)
  t.equal(err.code, 'TOKENGATE_CONFIG_INVALID')
  t.equal(err.statusCode, 500)
  t.equal(err.message, 'Invalid configuration: UPSTREAM_URL is required; PORT must be <= 65535')
  t.same(err.problems, problems)
  t.equal(formatConfigProblem(problems[1]), 'PORT must be <= 65535')
})

t.test('a problem inside the configuration file reads as its place, a colon and the message', async (t) => {
  const problems = [
    { variable: 'TOKENGATE_CONFIG', place: 'routes[1].credential', message: 'unknown credential "grpah"' },
    { variable: 'TOKENGATE_CONFIG', place: 'credentials.chat.tokenUrl', message: 'must be an https or http URL' },
    { variable: 'UPSTREAM_URL', message: 'must not be set together with TOKENGATE_CONFIG' }
  ]
  t.same(problems.map(formatConfigProblem), [
    'routes[1].credential: unknown credential "grpah"',
    'credentials.chat.tokenUrl: must be an https or http URL',
    'UPSTREAM_URL must not be set together with TOKENGATE_CONFIG'
  ])
  t.equal(new ConfigError(problems).message,
    'Invalid configuration: routes[1].credential: unknown credential "grpah"; credentials.chat.tokenUrl: must be an https or http URL; UPSTREAM_URL must not be set together with TOKENGATE_CONFIG')
})

t.test('StoreError', async (t) => {
  const err = new StoreError('redis unreachable')
  t.equal(err.code, 'TOKENGATE_STORE_FAILED')
  t.equal(err.statusCode, 500)
  t.equal(err.message, 'redis unreachable')
})

t.test('StoreLockedError names the lock file and its holder', async (t) => {
  const err = new StoreLockedError('/data/tokens.json.lock', 'pid 7 on host gw-a, since 2026-11-30T12:00:00.000Z')
  t.equal(err.code, 'TOKENGATE_STORE_LOCKED')
  t.equal(err.statusCode, 500)
  t.equal(err.message, '/data/tokens.json.lock is held by another process (pid 7 on host gw-a, since 2026-11-30T12:00:00.000Z)')
  t.equal(err.lockPath, '/data/tokens.json.lock')
  t.equal(err.holder, 'pid 7 on host gw-a, since 2026-11-30T12:00:00.000Z')
  t.notOk(new StoreError('x') instanceof StoreLockedError, 'a StoreError is not a StoreLockedError')
  t.notOk(err instanceof StoreError, 'nor the other way round: callers tell them apart')
})
