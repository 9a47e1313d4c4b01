// GET /__seen on a bench upstream answers with the Authorization header it was sent, so the bench
// can check, before measuring, that a target sends the bearer it should.
import type { IncomingMessage, ServerResponse } from 'node:http'
import { request } from 'undici'

/** Answers /__seen and returns true; false for any other request. */
export function answerSeenAuthorization (req: IncomingMessage, res: ServerResponse): boolean {
  if (req.url !== '/__seen') return false
  const seen = Buffer.from(JSON.stringify({ authorization: req.headers.authorization ?? null }))
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(seen.length) }).end(seen)
  return true
}

/** The Authorization header the upstream saw through `baseUrl` (a target, or a route of one), sent a client's own. */
export async function seenAuthorization (baseUrl: string): Promise<string | null> {
  const { statusCode, body } = await request(`${baseUrl}/__seen`, { headers: { authorization: 'Bearer client-credential' } })
  const answer = await body.json() as { authorization: string | null }
  if (statusCode !== 200) throw new Error(`${baseUrl}/__seen answered ${statusCode}`)
  return answer.authorization
}
