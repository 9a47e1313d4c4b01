// Credentials never reach a log line: the redaction formatters on their own, then through the
// gateway's real logger (child bindings, errors, headers), and the cost of a line without any.
import t from 'tap'
import { buildApp } from '../../src/app.js'
import { CENSOR, REDACTED_FIELDS, REDACTED_HEADERS, redactLogObject } from '../../src/utils/logRedaction.js'

t.test('top-level token and secret fields are censored; the object given is left alone', async (t) => {
  for (const field of REDACTED_FIELDS) {
    const given = { [field]: 'secret-value', trigger: 'request' }
    t.same(redactLogObject(given), { [field]: CENSOR, trigger: 'request' }, field)
    t.equal(given[field], 'secret-value', `${field}: the caller's object is not changed`)
  }
})

t.test('one level down: any key holding an object with a token field', async (t) => {
  const given = { tokens: { accessToken: 'a', refreshToken: 'r', expiresIn: 60 }, answer: { access_token: 'x', refresh_token: 'y', client_secret: 'z' } }
  t.same(redactLogObject(given), {
    tokens: { accessToken: CENSOR, refreshToken: CENSOR, expiresIn: 60 },
    answer: { access_token: CENSOR, refresh_token: CENSOR, client_secret: CENSOR }
  })
  t.equal(given.tokens.accessToken, 'a', 'the nested object is copied, not changed')
})

t.test('an error keeps its class, message and stack when a field of it is censored', async (t) => {
  const err = Object.assign(new TypeError('refresh failed'), { accessToken: 'leaked', code: 'E_X' })
  const clean = redactLogObject({ err }).err
  t.ok(clean instanceof TypeError)
  t.equal(clean.message, 'refresh failed')
  t.equal(clean.stack, err.stack)
  t.equal(clean.accessToken, CENSOR)
  t.equal(clean.code, 'E_X')
  t.equal(err.accessToken, 'leaked', 'the error itself is not changed')
  t.notOk(Object.keys(clean).includes('message'), 'non-enumerable properties stay non-enumerable')
})

t.test('credential headers of headers and req.headers are censored', async (t) => {
  const headers = { authorization: 'Bearer a', 'x-api-key': 'k', 'x-admin-key': 'ak', cookie: 'c', accept: '*/*' }
  const censored = { authorization: CENSOR, 'x-api-key': CENSOR, 'x-admin-key': CENSOR, cookie: CENSOR, accept: '*/*' }
  t.same(redactLogObject({ headers }), { headers: censored })
  t.same(redactLogObject({ req: { method: 'GET', headers } }), { req: { method: 'GET', headers: censored } })
  t.equal(headers.authorization, 'Bearer a', 'the headers are not changed')
  t.equal(REDACTED_HEADERS.length, 4)
})

t.test('what holds no credential is passed through as it is, the same object', async (t) => {
  const plain = { trigger: 'periodic', attempt: 2, list: [{ accessToken: 'in an array: not a field of the line' }], nothing: null }
  t.equal(redactLogObject(plain), plain)
  const req = { method: 'GET', headers: { accept: '*/*' } }
  t.equal(redactLogObject({ req }).req, req, 'req whose headers hold no credential')
  const odd = { req: { headers: 'not an object' }, other: { headers: { authorization: 'only under headers or req.headers' } } }
  t.equal(redactLogObject(odd), odd)
  const notOwn = { err: Object.create({ accessToken: 'inherited, not logged by pino' }) as object }
  t.equal(redactLogObject(notOwn), notOwn)
})

t.test('through the gateway logger: fields, child bindings, errors and headers never show', async (t) => {
  const lines: string[] = []
  const app = await buildApp({ env: { UPSTREAM_URL: 'http://127.0.0.1:9', AUTH_TOKEN: 'opaque-token', TOKEN_STORE: 'memory' }, logStream: { write: (line: string) => { lines.push(line) } } })
  t.teardown(() => app.close())
  lines.length = 0
  app.log.info({ accessToken: 'tok-1', tokens: { refreshToken: 'tok-2' } }, 'fields')
  app.log.child({ refresh_token: 'tok-3' }).child({ tokens: { accessToken: 'tok-7' }, step: 2 }).info('child bindings')
  app.log.error({ err: Object.assign(new Error('boom'), { client_secret: 'tok-4' }) }, 'an error')
  app.log.info({ req: { headers: { authorization: 'Bearer tok-5' } }, headers: { cookie: 'tok-6' } }, 'headers')
  const text = lines.join('')
  for (const secret of ['tok-1', 'tok-2', 'tok-3', 'tok-4', 'tok-5', 'tok-6', 'tok-7']) t.notMatch(text, secret, secret)
  const error = JSON.parse(lines[2]) as { err: { type: string, message: string, stack: string, client_secret: string } }
  t.match(error.err, { type: 'Error', message: 'boom', client_secret: CENSOR }, 'the error is serialised as before, censored')
  t.match(error.err.stack, /Error: boom/)
  t.match(JSON.parse(lines[1]), { refresh_token: CENSOR, tokens: { accessToken: CENSOR }, step: 2 }, 'grandchild bindings too')
})
