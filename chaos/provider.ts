// The chaos run's identity provider: short JWTs, single-use rotating refresh tokens grouped in
// families, and reuse detection the way Auth0, Okta and WorkOS do it: a spent refresh token
// presented again revokes its whole family. A rotation is committed only when the answer is about
// to be written and the caller is still connected, so a caller killed before that spends nothing
// (the provider behaves as a transaction that commits with its answer).
import { randomBytes } from 'node:crypto'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { signJwt } from '../src/demo/jwt.js'

export interface ProviderCall {
  id: number
  replica: string
  presented: string
  returned: string | null
  status: number
  /** ok, reuse (family revoked), unknown, revoked, 5xx, hang, abandoned (caller gone before the commit) */
  outcome: string
  startedAt: number
  endedAt: number
}

interface Family { id: number, revoked: boolean }
interface RefreshTokenState { family: Family, spent: boolean }

export class ChaosProvider {
  readonly calls: ProviderCall[] = []
  readonly issued = new Set<string>()
  readonly secret = randomBytes(32).toString('hex')
  delayMs = 0
  /** Answers of the next calls: a 503 burst or hangs (never answered, nothing committed). */
  readonly faults: Array<'5xx' | 'hang'> = []
  /** Told when a call arrives, so the fault scheduler can find the lock holder at work. */
  onArrival: (replica: string) => void = () => {}
  /** Told once a rotation is committed, before the answer leaves. */
  onCommit: (call: ProviderCall) => void = () => {}
  url = ''
  private readonly tokens = new Map<string, RefreshTokenState>()
  private readonly server: Server
  private readonly hung = new Set<ServerResponse>()
  private families = 0
  private sequence = 0

  constructor (readonly tokenTtlSeconds: number) {
    this.server = createServer((req, res) => { this.handle(req, res) })
  }

  async listen (): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve))
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`
  }

  async close (): Promise<void> {
    for (const res of this.hung) res.destroy()
    this.server.closeAllConnections()
    await new Promise<void>((resolve) => this.server.close(() => resolve()))
  }

  /** A new family: its first access token and refresh token. */
  seed (): { accessToken: string, refreshToken: string } {
    const family: Family = { id: ++this.families, revoked: false }
    return { accessToken: this.mint(), refreshToken: this.newRefreshToken(family) }
  }

  get revokedFamilies (): number {
    let n = 0
    const seen = new Set<Family>()
    for (const { family } of this.tokens.values()) if (!seen.has(family)) { seen.add(family); if (family.revoked) n++ }
    return n
  }

  mint (): string {
    const iat = Math.floor(Date.now() / 1000)
    const token = signJwt({ sub: 'chaos', sid: `s${++this.sequence}`, iat, exp: iat + this.tokenTtlSeconds }, this.secret)
    this.issued.add(token)
    return token
  }

  private newRefreshToken (family: Family): string {
    const token = `rt_${randomBytes(12).toString('base64url')}`
    this.tokens.set(token, { family, spent: false })
    return token
  }

  private handle (req: IncomingMessage, res: ServerResponse): void {
    // /r/<replica>/refresh: each gateway is given its own path, so a call names its caller.
    const replica = /^\/r\/([^/]+)\/refresh$/.exec(req.url ?? '')?.[1] ?? '?'
    const chunks: Buffer[] = []
    req.on('data', (chunk: Buffer) => chunks.push(chunk))
    req.on('end', () => {
      let presented = ''
      try { presented = String((JSON.parse(Buffer.concat(chunks).toString('utf8')) as { refreshToken?: unknown }).refreshToken ?? '') } catch {}
      const call: ProviderCall = { id: this.calls.length + 1, replica, presented, returned: null, status: 0, outcome: 'pending', startedAt: Date.now(), endedAt: 0 }
      this.calls.push(call)
      this.onArrival(replica)
      const fault = this.faults.shift()
      if (fault === 'hang') {
        call.outcome = 'hang'
        this.hung.add(res)
        res.on('close', () => { this.hung.delete(res); call.endedAt = Date.now() })
        return
      }
      const answer = (): void => { this.answer(call, fault, res) }
      if (this.delayMs > 0) setTimeout(answer, this.delayMs)
      else answer()
    })
  }

  private answer (call: ProviderCall, fault: '5xx' | undefined, res: ServerResponse): void {
    call.endedAt = Date.now()
    const json = (status: number, body: unknown): void => {
      call.status = status
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body))
    }
    // A caller killed mid-call has closed its end (FIN), which leaves this socket writable: its
    // readable side having ended, not its state, tells that nobody is left to read the answer.
    const socket = res.socket
    if (res.destroyed || socket === null || socket.destroyed || socket.readableEnded) { call.outcome = 'abandoned'; return }
    if (fault === '5xx') { call.outcome = '5xx'; json(503, { error: 'unavailable' }); return }
    const state = this.tokens.get(call.presented)
    if (state === undefined) { call.outcome = 'unknown'; json(400, { error: 'invalid_grant' }); return }
    if (state.family.revoked) { call.outcome = 'revoked'; json(400, { error: 'invalid_grant' }); return }
    if (state.spent) {
      state.family.revoked = true
      call.outcome = 'reuse'
      json(400, { error: 'invalid_grant', error_description: 'refresh token reused; family revoked' })
      return
    }
    state.spent = true
    call.returned = this.newRefreshToken(state.family)
    call.outcome = 'ok'
    const accessToken = this.mint()
    this.onCommit(call)
    json(200, { accessToken, refreshToken: call.returned })
  }
}
