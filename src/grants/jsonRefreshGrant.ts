// The seed's refresh style: POST {"refreshToken"} as JSON, answered by
// {"accessToken", "refreshToken"?, "expiresIn"?, "expiresAt"?}.
import { type Clock, systemClock } from '../utils/clock.js'
import {
  badResponse, expiryFromInstant, expiryFromLifetime, failureFromStatus, postForJson, type ExchangeLimits
} from './httpExchange.js'
import type { RefreshGrant, TokenSet } from './refreshGrant.js'

export interface JsonRefreshGrantOptions extends ExchangeLimits {
  url: string
  now?: Clock
}

export function createJsonRefreshGrant (options: JsonRefreshGrantOptions): RefreshGrant {
  const now = options.now ?? systemClock
  return {
    style: 'json',
    needsRefreshToken: true,
    async exchange (refreshToken) {
      const answer = await postForJson(options.url, { 'content-type': 'application/json' },
        JSON.stringify({ refreshToken }), options)
      if (answer.status < 200 || answer.status > 299) throw failureFromStatus(answer)
      return parseJsonRefreshAnswer(answer.json, now())
    }
  }
}

// Visible ASCII only: the token goes into an Authorization header as it is.
export const HEADER_SAFE_TOKEN = /^[\x21-\x7E]+$/

/** Validates a 2xx answer; never returns a set without a non-empty access token. */
export function parseJsonRefreshAnswer (json: unknown, nowMs: number): TokenSet {
  if (json === null || typeof json !== 'object' || Array.isArray(json)) {
    throw badResponse('answer is not a JSON object')
  }
  const answer = json as Record<string, unknown>
  const accessToken = answer.accessToken
  if (typeof accessToken !== 'string' || accessToken.trim() === '') {
    throw badResponse('answer has no accessToken string')
  }
  if (!HEADER_SAFE_TOKEN.test(accessToken)) {
    throw badResponse('accessToken has characters that cannot travel in a header')
  }
  return {
    accessToken,
    refreshToken: optionalToken(answer.refreshToken, 'refreshToken'),
    expiresAtMs: expiryFromLifetime(answer.expiresIn, nowMs) ?? expiryFromInstant(answer.expiresAt)
  }
}

/** An absent, null or empty refresh token means "not rotated"; any other non-string is a bad answer. */
export function optionalToken (value: unknown, field: string): string | null {
  if (value === undefined || value === null || value === '') return null
  if (typeof value !== 'string' || value.trim() === '') throw badResponse(`answer has a ${field} that is not a string`)
  return value
}
