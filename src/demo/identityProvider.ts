// A local identity provider that behaves like the seed's refresh endpoint (WorkOS-style):
// POST {"refreshToken"} → {"accessToken", "refreshToken"}, each refresh token accepted once.
// The demo runs it; the tests use it too, with faults injected on demand.
import { randomBytes } from 'node:crypto'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { type Clock, systemClock } from '../utils/clock.js'
import { signJwt } from './jwt.js'

export const REFRESH_PATH = '/auth/v2/refresh-session'

/**
 * How the next answers misbehave: `http_500`, `http_429`, `http_503`, `garbage` (200, not JSON),
 * `no_access_token` (200, JSON without accessToken), `invalid_grant` (400), `hang` (never
 * answers), `huge` (a 10 MB body), `trickle` (sends a byte now and then, never finishes),
 * `expired_token` (200, a token that expired five minutes ago), `oversized_token` (200, a 60 KB
 * token). The 200s without a usable token rotate the refresh token all the same.
 */
export type Fault = 'http_500' | 'http_429' | 'http_503' | 'garbage' | 'no_access_token' | 'invalid_grant' | 'hang' | 'huge' | 'trickle' |
'expired_token' | 'oversized_token'

export interface IdentityProviderOptions {
  host?: string
  port?: number
  tokenTtlSeconds?: number
  /** Wait this long before answering a refresh (a slow provider). */
  delayMs?: number
  /** Include expiresIn in answers (otherwise the JWT's exp is the only expiry). */
  sendExpiresIn?: boolean
  /** Rotate refresh tokens (single use); when false the answer carries no refresh token. */
  rotate?: boolean
  now?: Clock
  log?: (line: string) => void
}

export interface RefreshCall {
  refreshToken: unknown
  status: number
  at: number
  /** The W3C trace context the caller sent, if any (a traced gateway continues its trace here). */
  traceparent: string | undefined
}

export class IdentityProvider {
  readonly issuer: string
  readonly subject = 'user_01DEMO00000000000000000000'
  readonly email = 'demo.user@example.com'
  readonly organization = 'org_01DEMO00000000000000000000'
  /** Every refresh request received, in order. */
  readonly calls: RefreshCall[] = []
  /** Access tokens issued by refreshes, in order. */
  readonly issued: string[] = []
  /** The one refresh token the provider accepts next. */
  validRefreshToken: string
  delayMs: number
  private readonly faults: Fault[] = []
  private readonly server: Server
  private readonly secret = randomBytes(32).toString('hex')
  private readonly ttlSeconds: number
  private readonly now: Clock
  private readonly options: IdentityProviderOptions
  private sequence = 0
  private readonly open = new Set<ServerResponse>()
  url = ''

  constructor (options: IdentityProviderOptions = {}) {
    this.options = options
    this.ttlSeconds = options.tokenTtlSeconds ?? 60
    this.delayMs = options.delayMs ?? 0
    this.now = options.now ?? systemClock
    this.issuer = 'https://idp.tokengate.test/demo'
    this.validRefreshToken = this.newRefreshToken()
    this.server = createServer((req, res) => { this.handle(req, res) })
  }

  get refreshUrl (): string {
    return `${this.url}${REFRESH_PATH}`
  }

  async listen (): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(this.options.port ?? 0, this.options.host ?? '127.0.0.1', resolve))
    const { port } = this.server.address() as AddressInfo
    this.url = `http://127.0.0.1:${port}`
    return this
  }

  async close (): Promise<void> {
    for (const res of this.open) res.destroy()
    this.server.closeAllConnections()
    await new Promise<void>((resolve) => this.server.close(() => resolve()))
  }

  /** The next `times` refreshes misbehave as `fault` (faults queue up in order). */
  failNext (fault: Fault, times = 1): void {
    for (let i = 0; i < times; i++) this.faults.push(fault)
  }

  /** An access token like the ones refreshes issue, living `ttlSeconds` from now. */
  mint (ttlSeconds = this.ttlSeconds, extra: Record<string, unknown> = {}): string {
    const iat = Math.floor(this.now() / 1000)
    return signJwt({
      sub: this.subject,
      email: this.email,
      iss: this.issuer,
      org_id: this.organization,
      sid: `session_${++this.sequence}`,
      iat,
      exp: iat + ttlSeconds,
      ...extra
    }, this.secret)
  }

  private newRefreshToken (): string {
    return `rt_${randomBytes(18).toString('base64url')}`
  }

  private handle (req: IncomingMessage, res: ServerResponse): void {
    if (req.method !== 'POST' || req.url !== REFRESH_PATH) {
      res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":"not_found"}')
      return
    }
    this.open.add(res)
    res.on('close', () => this.open.delete(res))
    const chunks: Buffer[] = []
    req.on('data', (chunk: Buffer) => chunks.push(chunk))
    req.on('end', () => {
      let refreshToken: unknown
      try {
        refreshToken = (JSON.parse(Buffer.concat(chunks).toString('utf8')) as { refreshToken?: unknown }).refreshToken
      } catch {
        refreshToken = undefined
      }
      const traceparent = req.headers.traceparent as string | undefined
      const answer = (): void => this.answer(refreshToken, traceparent, res)
      if (this.delayMs > 0) setTimeout(answer, this.delayMs)
      else answer()
    })
  }

  private answer (refreshToken: unknown, traceparent: string | undefined, res: ServerResponse): void {
    const fault = this.faults.shift()
    const record = (status: number): void => { this.calls.push({ refreshToken, status, at: this.now(), traceparent }) }
    const json = (status: number, body: unknown, headers: Record<string, string> = {}): void => {
      record(status)
      // The provider's own clock, as a real one's Date header would show it (tests move it).
      res.writeHead(status, { 'content-type': 'application/json', date: new Date(this.now()).toUTCString(), ...headers }).end(JSON.stringify(body))
    }
    switch (fault) {
      case 'http_500': return json(500, { error: 'server_error' })
      case 'http_503': return json(503, { error: 'temporarily_unavailable' })
      case 'http_429': return json(429, { error: 'slow_down' }, { 'retry-after': '1' })
      case 'invalid_grant': return json(400, { error: 'invalid_grant', error_description: 'refresh token revoked' })
      case 'no_access_token':
        // The refresh token is rotated all the same: the one presented is now spent.
        this.validRefreshToken = this.newRefreshToken()
        return json(200, { refreshToken: this.validRefreshToken, note: 'no access token here' })
      case 'expired_token': {
        this.validRefreshToken = this.newRefreshToken()
        const iat = Math.floor(this.now() / 1000) - 600
        const accessToken = this.mint(300, { iat, exp: iat + 300 })
        this.issued.push(accessToken)
        return json(200, { accessToken, refreshToken: this.validRefreshToken })
      }
      case 'oversized_token': {
        this.validRefreshToken = this.newRefreshToken()
        // About 60 KB once base64url-encoded, so the whole answer stays within the gateway's 64 KiB limit.
        const accessToken = this.mint(this.ttlSeconds, { padding: 'x'.repeat(45 * 1024) })
        this.issued.push(accessToken)
        return json(200, { accessToken, refreshToken: this.validRefreshToken })
      }
      case 'garbage':
        record(200)
        res.writeHead(200, { 'content-type': 'text/html' }).end('<html>Service temporarily unavailable</html>')
        return
      case 'huge':
        record(200)
        res.writeHead(200, { 'content-type': 'application/json' }).end(`{"accessToken":"${'x'.repeat(10 * 1024 * 1024)}"}`)
        return
      case 'hang':
        record(0)
        return
      case 'trickle': {
        record(200)
        res.writeHead(200, { 'content-type': 'application/json' })
        const timer = setInterval(() => res.write(' '), 100)
        res.on('close', () => clearInterval(timer))
        return
      }
    }
    if (typeof refreshToken !== 'string' || refreshToken !== this.validRefreshToken) {
      this.options.log?.('[identity provider] refused a refresh token that is not the current one (invalid_grant)')
      return json(400, { error: 'invalid_grant', error_description: 'refresh token invalid or already used' })
    }
    const accessToken = this.mint()
    this.issued.push(accessToken)
    const body: Record<string, unknown> = { accessToken }
    if (this.options.rotate !== false) {
      this.validRefreshToken = this.newRefreshToken()
      body.refreshToken = this.validRefreshToken
    }
    if (this.options.sendExpiresIn) body.expiresIn = this.ttlSeconds
    this.options.log?.(`[identity provider] refresh #${this.issued.length}: issued a ${this.ttlSeconds}-second access token` +
      (this.options.rotate !== false ? ' and rotated the refresh token (the old one is now dead)' : ''))
    json(200, body)
  }
}

export async function startIdentityProvider (options: IdentityProviderOptions = {}): Promise<IdentityProvider> {
  return new IdentityProvider(options).listen()
}
