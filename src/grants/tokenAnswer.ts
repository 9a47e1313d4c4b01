// What every style's token answer must satisfy before its tokens are used: a JSON object, an
// access token that can travel in an Authorization header, and a refresh token that is either
// a string or absent.
import { badResponse } from './httpExchange.js'

// Visible ASCII only: the token goes into an Authorization header as it is.
export const HEADER_SAFE_TOKEN = /^[\x21-\x7E]+$/

export function answerObject (json: unknown): Record<string, unknown> {
  if (json === null || typeof json !== 'object' || Array.isArray(json)) {
    throw badResponse('answer is not a JSON object')
  }
  return json as Record<string, unknown>
}

/** The access token under `field`; never an empty or header-unsafe one. */
export function requiredAccessToken (answer: Record<string, unknown>, field: string): string {
  const accessToken = answer[field]
  if (typeof accessToken !== 'string' || accessToken.trim() === '') {
    throw badResponse(`answer has no ${field} string`)
  }
  if (!HEADER_SAFE_TOKEN.test(accessToken)) {
    throw badResponse(`${field} has characters that cannot travel in a header`)
  }
  return accessToken
}

/** An absent, null or empty refresh token means "not rotated"; any other non-string is a bad answer. */
export function optionalToken (value: unknown, field: string): string | null {
  if (value === undefined || value === null || value === '') return null
  if (typeof value !== 'string' || value.trim() === '') throw badResponse(`answer has a ${field} that is not a string`)
  return value
}
